//! One module per Kafka API. `dispatch` checks the version against the advertised
//! table, then hands the body to the API's handler.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_replica_log_dirs;
mod alter_user_scram_credentials;
mod api_versions;
mod config_access;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_topic_partitions;
mod describe_transactions;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_txn;
mod fetch;
mod find_coordinator;
mod get_telemetry_subscriptions;
mod group;
mod group_access;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
pub(crate) mod metadata;
mod metadata_partition;
mod mutation_quota;
mod node_endpoints;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod push_telemetry;
mod sasl_authenticate;
mod sasl_handshake;
mod sync_group;
mod telemetry_subscription;
mod txn;
mod txn_offset_commit;
mod update_features;
mod write_txn_markers;

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::frame::decode_body;
use moldau_protocol::kafka::messages::ApiKey;
use moldau_protocol::kafka::protocol::Decodable;
use moldau_protocol::versions::is_supported;

/// Runs the in-order part of a request and returns the part that may wait.
pub async fn dispatch(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    if !is_supported(ctx.api_key, ctx.version) {
        if ctx.api_key == ApiKey::ApiVersions {
            return api_versions::unsupported_version(&ctx);
        }
        return Err(CloseConnection(format!(
            "unsupported version {} of {:?}",
            ctx.version, ctx.api_key
        )));
    }
    match ctx.api_key {
        ApiKey::ApiVersions => api_versions::handle(ctx, body),
        ApiKey::Metadata => metadata::handle(ctx, body).await,
        ApiKey::Produce => produce::handle(ctx, body),
        ApiKey::Fetch => fetch::handle(ctx, body),
        ApiKey::ListOffsets => list_offsets::handle(ctx, body),
        ApiKey::OffsetForLeaderEpoch => offset_for_leader_epoch::handle(ctx, body),
        ApiKey::CreateTopics => create_topics::handle(ctx, body).await,
        ApiKey::DeleteTopics => delete_topics::handle(ctx, body).await,
        ApiKey::CreatePartitions => create_partitions::handle(ctx, body).await,
        ApiKey::DescribeConfigs => describe_configs::handle(ctx, body),
        ApiKey::AlterConfigs => alter_configs::handle(ctx, body).await,
        ApiKey::IncrementalAlterConfigs => incremental_alter_configs::handle(ctx, body).await,
        ApiKey::DescribeCluster => describe_cluster::handle(ctx, body),
        ApiKey::DescribeQuorum => describe_quorum::handle(ctx, body),
        ApiKey::DeleteRecords => on_blocking_pool(ctx, body, delete_records::handle).await,
        ApiKey::InitProducerId => init_producer_id::handle(ctx, body).await,
        ApiKey::FindCoordinator => find_coordinator::handle(ctx, body).await,
        ApiKey::JoinGroup => join_group::handle(ctx, body).await,
        ApiKey::SyncGroup => sync_group::handle(ctx, body).await,
        ApiKey::Heartbeat => heartbeat::handle(ctx, body).await,
        ApiKey::LeaveGroup => leave_group::handle(ctx, body).await,
        ApiKey::OffsetCommit => offset_commit::handle(ctx, body).await,
        ApiKey::OffsetFetch => offset_fetch::handle(ctx, body).await,
        ApiKey::ListGroups => list_groups::handle(ctx, body).await,
        ApiKey::DescribeGroups => describe_groups::handle(ctx, body).await,
        ApiKey::DeleteGroups => delete_groups::handle(ctx, body).await,
        ApiKey::OffsetDelete => offset_delete::handle(ctx, body).await,
        ApiKey::ConsumerGroupHeartbeat => consumer_group_heartbeat::handle(ctx, body).await,
        ApiKey::ConsumerGroupDescribe => consumer_group_describe::handle(ctx, body).await,
        ApiKey::DescribeTopicPartitions => describe_topic_partitions::handle(ctx, body),
        ApiKey::GetTelemetrySubscriptions => get_telemetry_subscriptions::handle(ctx, body),
        ApiKey::PushTelemetry => push_telemetry::handle(ctx, body),
        ApiKey::DescribeClientQuotas => describe_client_quotas::handle(ctx, body),
        ApiKey::AlterClientQuotas => alter_client_quotas::handle(ctx, body).await,
        ApiKey::UpdateFeatures => update_features::handle(ctx, body).await,
        ApiKey::WriteTxnMarkers => on_blocking_pool(ctx, body, write_txn_markers::handle).await,
        ApiKey::AddPartitionsToTxn => add_partitions_to_txn::handle(ctx, body).await,
        ApiKey::EndTxn => end_txn::handle(ctx, body).await,
        ApiKey::AddOffsetsToTxn => add_offsets_to_txn::handle(ctx, body).await,
        ApiKey::TxnOffsetCommit => txn_offset_commit::handle(ctx, body).await,
        ApiKey::SaslHandshake => sasl_handshake::handle(ctx, body),
        ApiKey::DescribeUserScramCredentials => describe_user_scram_credentials::handle(ctx, body),
        ApiKey::AlterUserScramCredentials => alter_user_scram_credentials::handle(ctx, body).await,
        ApiKey::SaslAuthenticate => sasl_authenticate::handle(ctx, body),
        ApiKey::CreateAcls => create_acls::handle(ctx, body).await,
        ApiKey::DescribeAcls => describe_acls::handle(ctx, body),
        ApiKey::DeleteAcls => delete_acls::handle(ctx, body).await,
        ApiKey::DescribeTransactions => describe_transactions::handle(ctx, body).await,
        ApiKey::ListTransactions => list_transactions::handle(ctx, body).await,
        ApiKey::DescribeProducers => describe_producers::handle(ctx, body),
        // Both read the disk (sizes, statvfs) or take a partition's lock.
        ApiKey::DescribeLogDirs => on_blocking_pool(ctx, body, describe_log_dirs::handle).await,
        ApiKey::AlterReplicaLogDirs => {
            on_blocking_pool(ctx, body, alter_replica_log_dirs::handle).await
        }
        ApiKey::ElectLeaders => elect_leaders::handle(ctx, body).await,
        ApiKey::AlterPartitionReassignments => {
            alter_partition_reassignments::handle(ctx, body).await
        }
        ApiKey::ListPartitionReassignments => list_partition_reassignments::handle(ctx, body).await,
        other => Err(CloseConnection(format!("no handler for {other:?}"))),
    }
}

/// A handler whose in-order part writes and fsyncs a log (DeleteRecords, transaction
/// markers) or reads the disk (log dir sizes, a replica move): run on the blocking
/// pool and awaited, so the connection's next request still comes after it but the
/// worker thread serves other connections meanwhile (`block_in_place` would stall
/// the tasks queued on it and panics on a current-thread runtime). Metadata changes
/// never need it: they are awaited from the quorum's writer.
async fn on_blocking_pool(
    ctx: RequestContext,
    body: Bytes,
    handler: fn(RequestContext, Bytes) -> Result<Deferred, CloseConnection>,
) -> Result<Deferred, CloseConnection> {
    let api_key = ctx.api_key;
    tokio::task::spawn_blocking(move || handler(ctx, body))
        .await
        .map_err(|e| CloseConnection(format!("{api_key:?} handler failed: {e}")))?
}

/// Decodes a request body, closing the connection when it does not decode.
pub fn decode<T: Decodable>(ctx: &RequestContext, body: Bytes) -> Result<T, CloseConnection> {
    decode_body(ctx.api_key, ctx.version, body).map_err(|e| CloseConnection(e.to_string()))
}

/// A Kafka string from a Rust string.
pub fn str_bytes(s: &str) -> moldau_protocol::kafka::protocol::StrBytes {
    moldau_protocol::kafka::protocol::StrBytes::from_string(s.to_string())
}
