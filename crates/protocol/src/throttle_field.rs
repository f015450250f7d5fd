//! Where an encoded response carries `throttle_time_ms`, so that a throttle decided
//! after the response was encoded (the request quota, KIP-124, is known only once the
//! handler's time is) can still be written into it. For most APIs it is the body's
//! first field; OffsetDelete puts it after the error code. Produce, Fetch and
//! ApiVersions set it themselves; responses without one at a fixed place (SASL,
//! DescribeQuorum, WriteTxnMarkers) are throttled by muting alone, as in Kafka.

use kafka_protocol::messages::ApiKey;

/// Bytes of the throttle field.
pub const THROTTLE_FIELD_BYTES: usize = 4;

/// The first version of `key` whose response body has `throttle_time_ms` at a fixed
/// place, and that place (bytes from the start of the body); None when no version has.
pub fn throttle_field_from(key: ApiKey) -> Option<(i16, usize)> {
    let first = match key {
        ApiKey::Fetch
        | ApiKey::FindCoordinator
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::SyncGroup
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups
        | ApiKey::DeleteTopics => 1,
        ApiKey::ListOffsets
        | ApiKey::JoinGroup
        | ApiKey::CreateTopics
        | ApiKey::OffsetForLeaderEpoch => 2,
        ApiKey::Metadata | ApiKey::OffsetCommit | ApiKey::OffsetFetch => 3,
        ApiKey::DeleteRecords
        | ApiKey::InitProducerId
        | ApiKey::AddPartitionsToTxn
        | ApiKey::AddOffsetsToTxn
        | ApiKey::EndTxn
        | ApiKey::TxnOffsetCommit
        | ApiKey::DescribeAcls
        | ApiKey::CreateAcls
        | ApiKey::DeleteAcls
        | ApiKey::DescribeConfigs
        | ApiKey::AlterConfigs
        | ApiKey::AlterReplicaLogDirs
        | ApiKey::DescribeLogDirs
        | ApiKey::CreatePartitions
        | ApiKey::DeleteGroups
        | ApiKey::IncrementalAlterConfigs
        | ApiKey::DescribeClientQuotas
        | ApiKey::AlterClientQuotas
        | ApiKey::DescribeUserScramCredentials
        | ApiKey::AlterUserScramCredentials
        | ApiKey::UpdateFeatures
        | ApiKey::DescribeCluster
        | ApiKey::DescribeProducers
        | ApiKey::DescribeTransactions
        | ApiKey::ListTransactions
        | ApiKey::ConsumerGroupHeartbeat
        | ApiKey::ConsumerGroupDescribe
        | ApiKey::GetTelemetrySubscriptions
        | ApiKey::PushTelemetry
        | ApiKey::DescribeTopicPartitions
        | ApiKey::ElectLeaders
        | ApiKey::AlterPartitionReassignments
        | ApiKey::ListPartitionReassignments => 0,
        // After the error code.
        ApiKey::OffsetDelete => return Some((0, 2)),
        _ => return None,
    };
    Some((first, 0))
}

/// Where `version` of `key`'s response body has `throttle_time_ms`, if at a fixed place.
pub fn throttle_field_offset(key: ApiKey, version: i16) -> Option<usize> {
    throttle_field_from(key)
        .filter(|(first, _)| version >= *first)
        .map(|(_, offset)| offset)
}

/// Raises the `throttle_time_ms` at `offset` of `body` to `throttle_ms` (a longer one
/// already there, a byte-rate quota's, stays). False when the body is too short.
pub fn raise_throttle(body: &mut [u8], offset: usize, throttle_ms: i32) -> bool {
    let Some(field) = body.get_mut(offset..offset + THROTTLE_FIELD_BYTES) else {
        return false;
    };
    let mut current = [0u8; THROTTLE_FIELD_BYTES];
    current.copy_from_slice(field);
    let raised = i32::from_be_bytes(current).max(throttle_ms);
    field.copy_from_slice(&raised.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Encodable;

    const SENTINEL: i32 = 0x0A0B_0C0D;

    /// Encodes a default response with the sentinel throttle at every version the
    /// table names and checks the sentinel is where the table says.
    fn check<R: Encodable + Default>(key: ApiKey, set: fn(R, i32) -> R) {
        let (first, offset) = throttle_field_from(key).expect("listed");
        let valid = key.valid_versions();
        for version in first.max(valid.min)..=valid.max {
            let mut buf = BytesMut::new();
            set(R::default(), SENTINEL)
                .encode(&mut buf, version)
                .expect("encodes");
            assert_eq!(
                &buf[offset..offset + THROTTLE_FIELD_BYTES],
                &SENTINEL.to_be_bytes(),
                "{key:?} v{version} has no throttle_time_ms at {offset}"
            );
        }
        if first > valid.min {
            let mut buf = BytesMut::new();
            set(R::default(), SENTINEL)
                .encode(&mut buf, first - 1)
                .expect("encodes");
            assert!(
                buf.len() < offset + THROTTLE_FIELD_BYTES
                    || buf[offset..offset + THROTTLE_FIELD_BYTES] != SENTINEL.to_be_bytes(),
                "{key:?} v{} has it too",
                first - 1
            );
        }
    }

    macro_rules! verify {
        ($($key:ident => $response:ty),* $(,)?) => {{
            let mut listed = Vec::new();
            $(
                check::<$response>(ApiKey::$key, |r, t| r.with_throttle_time_ms(t));
                listed.push(ApiKey::$key);
            )*
            listed
        }};
    }

    #[test]
    fn every_listed_response_has_throttle_time_ms_where_the_table_says() {
        let listed = verify!(
            Fetch => FetchResponse,
            FindCoordinator => FindCoordinatorResponse,
            Heartbeat => HeartbeatResponse,
            LeaveGroup => LeaveGroupResponse,
            SyncGroup => SyncGroupResponse,
            DescribeGroups => DescribeGroupsResponse,
            ListGroups => ListGroupsResponse,
            DeleteTopics => DeleteTopicsResponse,
            ListOffsets => ListOffsetsResponse,
            JoinGroup => JoinGroupResponse,
            CreateTopics => CreateTopicsResponse,
            Metadata => MetadataResponse,
            OffsetCommit => OffsetCommitResponse,
            OffsetFetch => OffsetFetchResponse,
            DeleteRecords => DeleteRecordsResponse,
            InitProducerId => InitProducerIdResponse,
            AddPartitionsToTxn => AddPartitionsToTxnResponse,
            AddOffsetsToTxn => AddOffsetsToTxnResponse,
            EndTxn => EndTxnResponse,
            TxnOffsetCommit => TxnOffsetCommitResponse,
            DescribeAcls => DescribeAclsResponse,
            CreateAcls => CreateAclsResponse,
            DeleteAcls => DeleteAclsResponse,
            DescribeConfigs => DescribeConfigsResponse,
            AlterConfigs => AlterConfigsResponse,
            AlterReplicaLogDirs => AlterReplicaLogDirsResponse,
            DescribeLogDirs => DescribeLogDirsResponse,
            CreatePartitions => CreatePartitionsResponse,
            DeleteGroups => DeleteGroupsResponse,
            IncrementalAlterConfigs => IncrementalAlterConfigsResponse,
            DescribeClientQuotas => DescribeClientQuotasResponse,
            AlterClientQuotas => AlterClientQuotasResponse,
            DescribeUserScramCredentials => DescribeUserScramCredentialsResponse,
            AlterUserScramCredentials => AlterUserScramCredentialsResponse,
            UpdateFeatures => UpdateFeaturesResponse,
            DescribeCluster => DescribeClusterResponse,
            DescribeProducers => DescribeProducersResponse,
            DescribeTransactions => DescribeTransactionsResponse,
            ListTransactions => ListTransactionsResponse,
            ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse,
            ConsumerGroupDescribe => ConsumerGroupDescribeResponse,
            GetTelemetrySubscriptions => GetTelemetrySubscriptionsResponse,
            PushTelemetry => PushTelemetryResponse,
            DescribeTopicPartitions => DescribeTopicPartitionsResponse,
            OffsetDelete => OffsetDeleteResponse,
            OffsetForLeaderEpoch => OffsetForLeaderEpochResponse,
            ElectLeaders => ElectLeadersResponse,
            AlterPartitionReassignments => AlterPartitionReassignmentsResponse,
            ListPartitionReassignments => ListPartitionReassignmentsResponse,
        );
        // Every served API is either verified here or known to carry no throttle
        // field at a fixed place (its handler sets it, or muting alone applies).
        let elsewhere = [
            ApiKey::Produce,
            ApiKey::ApiVersions,
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate,
            ApiKey::DescribeQuorum,
            ApiKey::WriteTxnMarkers,
        ];
        for a in crate::versions::BROKER_APIS {
            assert!(
                listed.contains(&a.key) || elsewhere.contains(&a.key),
                "{:?}: where is its throttle_time_ms?",
                a.key
            );
        }
        for key in elsewhere {
            assert!(throttle_field_from(key).is_none(), "{key:?}");
        }
    }

    #[test]
    fn a_throttle_is_raised_never_lowered() {
        let mut body = [0u8, 0, 0, 0, 0, 0, 0x01, 0xF4, 9];
        assert!(raise_throttle(&mut body, 4, 300));
        assert_eq!(&body[4..8], &500i32.to_be_bytes(), "a longer one stays");
        assert!(raise_throttle(&mut body, 0, 300));
        assert_eq!(&body[0..4], &300i32.to_be_bytes());
        assert!(!raise_throttle(&mut body, 6, 1), "past the end");
        assert_eq!(throttle_field_offset(ApiKey::Metadata, 2), None);
        assert_eq!(throttle_field_offset(ApiKey::Metadata, 3), Some(0));
        assert_eq!(throttle_field_offset(ApiKey::OffsetDelete, 0), Some(2));
    }
}
