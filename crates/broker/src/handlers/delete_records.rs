//! DeleteRecords: move a partition's log start forward; needs DELETE on the topic.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use moldau_protocol::kafka::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use moldau_protocol::ResponseError;

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DeleteRecordsRequest = super::decode(&ctx, body)?;
    let image = ctx.metadata().image();
    let node_id = ctx.metadata().node_id();
    let access = ctx.access();
    let mut topics = Vec::new();
    for t in request.topics {
        let name = t.name.0.to_string();
        let deletable = access.topic(moldau_protocol::acl::AclOperation::Delete, &name);
        let mut partitions = Vec::new();
        for p in t.partitions {
            let r = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            if !deletable {
                partitions.push(
                    r.with_low_watermark(-1)
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
                );
                continue;
            }
            if let Err(error) = crate::internal_topics::check_client_delete_records(&name) {
                partitions.push(r.with_low_watermark(-1).with_error_code(error.code()));
                continue;
            }
            // Only the leader moves the log start.
            let leadership =
                crate::leadership::check_leader(&image, node_id, &name, p.partition_index, -1);
            if let Err(not_served) = leadership {
                partitions.push(
                    r.with_low_watermark(-1)
                        .with_error_code(not_served.error.code()),
                );
                continue;
            }
            let Some(partition) = ctx.partitions().get_by_name(&name, p.partition_index) else {
                // Led here but not hosted (yet, or its log is offline).
                let offline = ctx
                    .partitions()
                    .logs()
                    .offline_reason(&moldau_log::TopicPartition::new(&name, p.partition_index))
                    .is_some();
                let error = if offline {
                    ResponseError::KafkaStorageError
                } else {
                    ResponseError::NotLeaderOrFollower
                };
                partitions.push(r.with_low_watermark(-1).with_error_code(error.code()));
                continue;
            };
            let mut log = partition.log.write();
            let hw = log.high_watermark();
            // -1 means "up to the high watermark".
            let target = if p.offset == -1 { hw } else { p.offset };
            if target < 0 || target > hw {
                partitions.push(
                    r.with_low_watermark(-1)
                        .with_error_code(ResponseError::OffsetOutOfRange.code()),
                );
                continue;
            }
            partitions.push(match log.delete_records_before(target) {
                Ok(start) => r.with_low_watermark(start).with_error_code(0),
                Err(e) => {
                    tracing::error!(topic = %name, "delete records failed: {e}");
                    r.with_low_watermark(-1)
                        .with_error_code(ResponseError::KafkaStorageError.code())
                }
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ctx.ready(&DeleteRecordsResponse::default().with_topics(topics))
}
