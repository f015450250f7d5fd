//! Which request versions promise to honour `throttle_time_ms` themselves (KIP-219,
//! Kafka 2.0): for those the broker answers at once and then mutes the connection for
//! the throttle time; for older versions it holds the answer back that long instead.
//! The versions are the ones each API bumped for KIP-219; APIs added after Kafka 2.0
//! honour it from their first version.

use kafka_protocol::messages::ApiKey;

/// The first version of `key` whose client backs off by itself, or None when the
/// API's responses carry no throttle time (SASL, which runs before quotas apply).
pub fn throttle_honoured_from(key: ApiKey) -> Option<i16> {
    let first = match key {
        ApiKey::Produce => 6,
        ApiKey::Fetch => 8,
        ApiKey::ListOffsets => 3,
        ApiKey::Metadata => 6,
        ApiKey::OffsetCommit => 4,
        ApiKey::OffsetFetch => 4,
        ApiKey::FindCoordinator => 2,
        ApiKey::JoinGroup => 3,
        ApiKey::Heartbeat => 2,
        ApiKey::LeaveGroup => 2,
        ApiKey::SyncGroup => 2,
        ApiKey::DescribeGroups => 2,
        ApiKey::ListGroups => 2,
        ApiKey::ApiVersions => 2,
        ApiKey::CreateTopics => 3,
        ApiKey::DeleteTopics => 2,
        ApiKey::DeleteRecords => 1,
        ApiKey::InitProducerId => 1,
        ApiKey::OffsetForLeaderEpoch => 2,
        ApiKey::AddPartitionsToTxn => 1,
        ApiKey::AddOffsetsToTxn => 1,
        ApiKey::EndTxn => 1,
        ApiKey::TxnOffsetCommit => 1,
        ApiKey::DescribeAcls => 1,
        ApiKey::CreateAcls => 1,
        ApiKey::DeleteAcls => 1,
        ApiKey::DescribeConfigs => 2,
        ApiKey::AlterConfigs => 1,
        ApiKey::AlterReplicaLogDirs => 1,
        ApiKey::DescribeLogDirs => 1,
        ApiKey::CreatePartitions => 1,
        ApiKey::CreateDelegationToken => 1,
        ApiKey::RenewDelegationToken => 1,
        ApiKey::ExpireDelegationToken => 1,
        ApiKey::DescribeDelegationToken => 1,
        ApiKey::DeleteGroups => 1,
        ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => return None,
        _ => 0,
    };
    Some(first)
}

/// True when a client sending `version` of `key` backs off by itself after a
/// throttled response (KIP-219).
pub fn client_honours_throttle(key: ApiKey, version: i16) -> bool {
    throttle_honoured_from(key).is_some_and(|first| version >= first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kip_219_versions_for_produce_and_fetch() {
        assert!(!client_honours_throttle(ApiKey::Produce, 5));
        assert!(client_honours_throttle(ApiKey::Produce, 6));
        assert!(!client_honours_throttle(ApiKey::Fetch, 7));
        assert!(client_honours_throttle(ApiKey::Fetch, 8));
        assert!(client_honours_throttle(ApiKey::DescribeClientQuotas, 0));
        assert!(!client_honours_throttle(ApiKey::SaslAuthenticate, 2));
    }
}
