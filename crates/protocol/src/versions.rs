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

/// Every API the broker serves. Ranges are bounded below by what the
/// `kafka-protocol` crate can decode and above by what the handlers implement.
pub const BROKER_APIS: &[SupportedApi] = &[
    api(ApiKey::Produce, 3, 11),
    api(ApiKey::Fetch, 4, 16),
    api(ApiKey::ListOffsets, 1, 8),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::OffsetCommit, 2, 8),
    api(ApiKey::OffsetFetch, 1, 8),
    api(ApiKey::ListGroups, 0, 4),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
];

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
    fn lookups() {
        assert!(is_supported(ApiKey::ApiVersions, 3));
        assert!(!is_supported(ApiKey::ApiVersions, 9));
        assert!(!is_supported(ApiKey::SaslHandshake, 0));
    }
}
