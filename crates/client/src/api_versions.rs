//! Which version of each API the client speaks, and the negotiation with a broker's
//! ApiVersions answer: the highest version both sides support wins.

use std::collections::HashMap;

use moldau_protocol::kafka::messages::{ApiKey, ApiVersionsResponse};

use crate::error::{Error, Result};

/// The version range the client implements for each API it uses. Upper bounds stop
/// before versions whose semantics the client does not implement (topic ids in
/// Produce 13 / Fetch 13, the KIP-848 member fields of OffsetFetch 9). OffsetCommit 9
/// is the first a consumer-protocol member may commit with (its field carries the
/// member epoch, as it carried the generation before).
/// Produce 12, EndTxn 5 and TxnOffsetCommit 5 are transaction version 2's and used
/// only when the broker finalized it (see [`TRANSACTION_VERSION_2_APIS`]).
pub const CLIENT_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    // `group.protocol=consumer`; from v1 the member names itself (KIP-1082).
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    // `moldau user`.
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Transactions: the producer's (v4+ of AddPartitionsToTxn is broker-to-broker)
    // and the operator's (`moldau transactions`).
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    // `moldau acl`.
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    // `moldau log-dirs`.
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::AlterReplicaLogDirs, 1, 2),
    // `moldau leader-election`.
    (ApiKey::ElectLeaders, 0, 2),
    // `moldau reassign-partitions`.
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
];

/// The first version of each API that belongs to transaction version 2 (KIP-890
/// part 2): used only against a broker that finalized `transaction.version` 2, as
/// Java's client does.
pub const TRANSACTION_VERSION_2_APIS: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 12),
    (ApiKey::EndTxn, 5),
    (ApiKey::TxnOffsetCommit, 5),
];

/// The feature whose finalized level 2 enables transaction version 2.
const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// The range the client implements for `key`, if it uses the API at all.
pub fn client_range(key: ApiKey) -> Option<(i16, i16)> {
    CLIENT_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

/// The versions one broker announced, intersected with the client's own ranges.
#[derive(Debug, Clone, Default)]
pub struct ApiVersionTable {
    broker: HashMap<i16, (i16, i16)>,
    /// The broker's finalized `transaction.version` (0 when not finalized).
    transaction_version: i16,
}

impl ApiVersionTable {
    /// Builds the table from a broker's ApiVersions response.
    pub fn from_response(resp: &ApiVersionsResponse) -> ApiVersionTable {
        let broker = resp
            .api_keys
            .iter()
            .map(|a| (a.api_key, (a.min_version, a.max_version)))
            .collect();
        let transaction_version = resp
            .finalized_features
            .iter()
            .find(|f| f.name.as_str() == TRANSACTION_VERSION_FEATURE)
            .map_or(0, |f| f.max_version_level);
        ApiVersionTable {
            broker,
            transaction_version,
        }
    }

    /// True when the broker finalized transaction version 2 (KIP-890 part 2) and
    /// serves its EndTxn.
    pub fn transaction_version_2(&self) -> bool {
        self.transaction_version >= 2
            && self
                .broker
                .get(&(ApiKey::EndTxn as i16))
                .is_some_and(|&(_, max)| max >= 5)
    }

    /// A table that assumes the broker supports every version the client does; used
    /// only before negotiation and in tests.
    pub fn assume_client_ranges() -> ApiVersionTable {
        let broker = CLIENT_APIS
            .iter()
            .map(|&(k, min, max)| (k as i16, (min, max)))
            .collect();
        ApiVersionTable {
            broker,
            transaction_version: 0,
        }
    }

    /// The highest version of `key` both sides support.
    pub fn version_for(&self, key: ApiKey) -> Result<i16> {
        let (cmin, cmax) =
            client_range(key).ok_or_else(|| Error::UnsupportedApi(format!("{key:?}")))?;
        let &(bmin, bmax) = self
            .broker
            .get(&(key as i16))
            .ok_or_else(|| Error::UnsupportedApi(format!("{key:?}")))?;
        let mut high = cmax.min(bmax);
        if self.transaction_version < 2 {
            if let Some(&(_, first)) = TRANSACTION_VERSION_2_APIS.iter().find(|(k, _)| *k == key) {
                high = high.min(first - 1);
            }
        }
        if high < cmin.max(bmin) {
            return Err(Error::UnsupportedApi(format!(
                "{key:?} (client {cmin}..{cmax}, broker {bmin}..{bmax})"
            )));
        }
        Ok(high)
    }

    /// True when the broker announced `key` at all.
    pub fn has(&self, key: ApiKey) -> bool {
        self.broker.contains_key(&(key as i16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_protocol::kafka::messages::api_versions_response::ApiVersion;

    fn response(entries: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(
            entries
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
    }

    fn table(entries: &[(ApiKey, i16, i16)]) -> ApiVersionTable {
        ApiVersionTable::from_response(&response(entries))
    }

    #[test]
    fn picks_highest_common_version() {
        let t = table(&[(ApiKey::Fetch, 0, 16), (ApiKey::Produce, 3, 7)]);
        assert_eq!(t.version_for(ApiKey::Fetch).unwrap(), 12);
        assert_eq!(t.version_for(ApiKey::Produce).unwrap(), 7);
    }

    #[test]
    fn transaction_version_2_versions_need_the_finalized_feature() {
        use moldau_protocol::kafka::messages::api_versions_response::FinalizedFeatureKey;
        let apis = [
            (ApiKey::Produce, 3, 13),
            (ApiKey::EndTxn, 0, 5),
            (ApiKey::TxnOffsetCommit, 0, 5),
        ];
        let t = table(&apis);
        assert!(!t.transaction_version_2());
        assert_eq!(t.version_for(ApiKey::Produce).unwrap(), 11);
        assert_eq!(t.version_for(ApiKey::EndTxn).unwrap(), 4);
        assert_eq!(t.version_for(ApiKey::TxnOffsetCommit).unwrap(), 4);
        let mut resp = response(&apis);
        resp.finalized_features = vec![FinalizedFeatureKey::default()
            .with_name(moldau_protocol::kafka::protocol::StrBytes::from_static_str(
                "transaction.version",
            ))
            .with_max_version_level(2)
            .with_min_version_level(2)];
        let t = ApiVersionTable::from_response(&resp);
        assert!(t.transaction_version_2());
        assert_eq!(t.version_for(ApiKey::Produce).unwrap(), 12);
        assert_eq!(t.version_for(ApiKey::EndTxn).unwrap(), 5);
        assert_eq!(t.version_for(ApiKey::TxnOffsetCommit).unwrap(), 5);
    }

    #[test]
    fn missing_or_disjoint_ranges_are_unsupported() {
        let t = table(&[(ApiKey::Produce, 12, 13)]);
        assert!(matches!(
            t.version_for(ApiKey::Produce),
            Err(Error::UnsupportedApi(_))
        ));
        assert!(matches!(
            t.version_for(ApiKey::Fetch),
            Err(Error::UnsupportedApi(_))
        ));
    }

    #[test]
    fn client_ranges_are_decodable_by_the_message_crate() {
        for &(key, min, max) in CLIENT_APIS {
            let valid = key.valid_versions();
            assert!(min >= valid.min && max <= valid.max, "{key:?}");
        }
    }
}
