//! The API versions Moldau's broker answers. ApiVersions advertises exactly this table,
//! so an API appears here only once its handler is complete.

use kafka_protocol::messages::ApiKey;

/// One supported API and its version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedApi {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> SupportedApi {
    SupportedApi { key, min, max }
}

/// Every API the broker serves: for each, the newest version Kafka 4.1 serves that
/// the `kafka-protocol` crate knows, and Kafka 4.0's oldest (KIP-896). The README's
/// table is generated from this one (`markdown_table`; a test keeps them equal).
pub const BROKER_APIS: &[SupportedApi] = &[
    api(ApiKey::Produce, 3, 13),
    api(ApiKey::Fetch, 4, 18),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::ApiVersions, 0, 4),
    // v0 (raw SASL tokens without SaslAuthenticate) is not served; see
    // SASL_HANDSHAKE_ADVERTISED_VERSION_MIN.
    api(ApiKey::SaslHandshake, 1, 1),
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeClientQuotas, 0, 1),
    api(ApiKey::AlterClientQuotas, 0, 1),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::DescribeQuorum, 0, 2),
    api(ApiKey::UpdateFeatures, 0, 2),
    api(ApiKey::GetTelemetrySubscriptions, 0, 0),
    api(ApiKey::PushTelemetry, 0, 0),
    api(ApiKey::DescribeTopicPartitions, 0, 0),
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
    api(ApiKey::AlterUserScramCredentials, 0, 0),
    // Kafka 4 serves v1-v3 of the ACL APIs (KIP-896 removed v0).
    api(ApiKey::DescribeAcls, 1, 3),
    api(ApiKey::CreateAcls, 1, 3),
    api(ApiKey::DeleteAcls, 1, 3),
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    api(ApiKey::ConsumerGroupDescribe, 0, 1),
    api(ApiKey::AddPartitionsToTxn, 0, 5),
    api(ApiKey::EndTxn, 0, 5),
    api(ApiKey::DescribeProducers, 0, 0),
    api(ApiKey::AddOffsetsToTxn, 0, 4),
    api(ApiKey::TxnOffsetCommit, 0, 5),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 2),
    api(ApiKey::AlterReplicaLogDirs, 1, 2),
    api(ApiKey::DescribeLogDirs, 1, 4),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::AlterPartitionReassignments, 0, 1),
    api(ApiKey::ListPartitionReassignments, 0, 0),
];

/// Kafka 4.0 removed Produce v0-v2 but still advertises them from v0, because
/// librdkafka turns features off when Produce v0 is missing (KAFKA-18659); the
/// requests themselves are refused.
pub const PRODUCE_ADVERTISED_VERSION_MIN: i16 = 0;

/// SaslHandshake is advertised from v0 because librdkafka before 2.x's Kafka 4
/// support (Debian's kcat among them) takes a range without v0 to mean the broker
/// has no SASL at all; it then sends v1 and SaslAuthenticate, which are served. A v0
/// request closes the connection.
pub const SASL_HANDSHAKE_ADVERTISED_VERSION_MIN: i16 = 0;

/// The range ApiVersions advertises for `a`: the served range, except Produce and
/// SaslHandshake.
pub fn advertised(a: SupportedApi) -> (i16, i16) {
    match a.key {
        ApiKey::Produce => (PRODUCE_ADVERTISED_VERSION_MIN, a.max),
        ApiKey::SaslHandshake => (SASL_HANDSHAKE_ADVERTISED_VERSION_MIN, a.max),
        _ => (a.min, a.max),
    }
}

/// The advertised table as Markdown, ordered by api key, for the README.
pub fn markdown_table() -> String {
    let mut apis = BROKER_APIS.to_vec();
    apis.sort_by_key(|a| a.key as i16);
    let mut out = String::from("| API | key | versions |\n|---|---:|---|\n");
    for a in apis {
        let (min, max) = advertised(a);
        let range = if min == max {
            format!("{min}")
        } else {
            format!("{min}–{max}")
        };
        out.push_str(&format!("| {:?} | {} | {range} |\n", a.key, a.key as i16));
    }
    out
}

/// The supported range for a key, if the broker serves it at all.
pub fn supported(key: ApiKey) -> Option<SupportedApi> {
    BROKER_APIS.iter().copied().find(|a| a.key == key)
}

/// True when `version` of `key` is served.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported(key).is_some_and(|a| version >= a.min && version <= a.max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    #[test]
    fn every_advertised_range_is_decodable_by_the_message_crate() {
        for a in BROKER_APIS {
            let valid = a.key.valid_versions();
            assert!(
                a.min >= valid.min && a.max <= valid.max,
                "{:?} {}..{} outside {}",
                a.key,
                a.min,
                a.max,
                valid
            );
        }
        let _ = kafka_protocol::messages::ProduceRequest::VERSIONS;
    }

    #[test]
    fn produce_advertises_v0_but_serves_from_v3() {
        let produce = supported(ApiKey::Produce).map(advertised);
        assert_eq!(produce.map(|r| r.0), Some(0));
        assert!(!is_supported(ApiKey::Produce, 2));
        assert!(is_supported(ApiKey::Produce, 3));
    }

    #[test]
    fn readme_table_is_the_advertised_table() {
        let readme = include_str!("../../../README.md");
        let begin = "<!-- api-versions:begin -->\n";
        let end = "<!-- api-versions:end -->";
        let start = readme.find(begin).map(|i| i + begin.len());
        let stop = readme.find(end);
        let section = match (start, stop) {
            (Some(a), Some(b)) if a <= b => &readme[a..b],
            _ => panic!("README.md lacks the {begin:?} … {end:?} section"),
        };
        assert_eq!(
            section,
            markdown_table(),
            "README.md's API table differs from BROKER_APIS; replace the section with:\n{}",
            markdown_table()
        );
    }

    #[test]
    fn lookups() {
        assert!(is_supported(ApiKey::ApiVersions, 3));
        assert!(!is_supported(ApiKey::ApiVersions, 9));
        assert!(!is_supported(ApiKey::SaslHandshake, 0));
        assert!(is_supported(ApiKey::SaslHandshake, 1));
        assert!(is_supported(ApiKey::SaslAuthenticate, 2));
    }
}
