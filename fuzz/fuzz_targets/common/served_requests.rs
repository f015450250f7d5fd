//! Decodes a request body exactly as the broker's dispatcher does: only versions it
//! serves, through `moldau_protocol::frame::decode_body`, the function every handler
//! calls, with the message type the handler of that API decodes.

use bytes::Bytes;
use moldau_protocol::frame::decode_body;
use moldau_protocol::kafka::messages::*;
use moldau_protocol::versions::is_supported;

/// Decodes `body` as the request `api_key` v`version` if the broker serves it.
pub fn decode_served_request(api_key: ApiKey, version: i16, body: Bytes) {
    if !is_supported(api_key, version) {
        return;
    }
    macro_rules! decode {
        ($t:ty) => {{
            let _ = decode_body::<$t>(api_key, version, body);
        }};
    }
    match api_key {
        ApiKey::ApiVersions => decode!(ApiVersionsRequest),
        ApiKey::Metadata => decode!(MetadataRequest),
        ApiKey::Produce => decode!(ProduceRequest),
        ApiKey::Fetch => decode!(FetchRequest),
        ApiKey::ListOffsets => decode!(ListOffsetsRequest),
        ApiKey::CreateTopics => decode!(CreateTopicsRequest),
        ApiKey::DeleteTopics => decode!(DeleteTopicsRequest),
        ApiKey::CreatePartitions => decode!(CreatePartitionsRequest),
        ApiKey::DescribeConfigs => decode!(DescribeConfigsRequest),
        ApiKey::AlterConfigs => decode!(AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => decode!(IncrementalAlterConfigsRequest),
        ApiKey::DescribeCluster => decode!(DescribeClusterRequest),
        ApiKey::DeleteRecords => decode!(DeleteRecordsRequest),
        ApiKey::InitProducerId => decode!(InitProducerIdRequest),
        ApiKey::FindCoordinator => decode!(FindCoordinatorRequest),
        ApiKey::JoinGroup => decode!(JoinGroupRequest),
        ApiKey::SyncGroup => decode!(SyncGroupRequest),
        ApiKey::Heartbeat => decode!(HeartbeatRequest),
        ApiKey::LeaveGroup => decode!(LeaveGroupRequest),
        ApiKey::OffsetCommit => decode!(OffsetCommitRequest),
        ApiKey::OffsetFetch => decode!(OffsetFetchRequest),
        ApiKey::ListGroups => decode!(ListGroupsRequest),
        ApiKey::DescribeGroups => decode!(DescribeGroupsRequest),
        ApiKey::DeleteGroups => decode!(DeleteGroupsRequest),
        ApiKey::OffsetDelete => decode!(OffsetDeleteRequest),
        // Served versions of an API without a decode here would be a gap in this
        // target: fail loudly so it gets added.
        other => panic!("{other:?} is served but not decoded by the fuzz target"),
    }
}
