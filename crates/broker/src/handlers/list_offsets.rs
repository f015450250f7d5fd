//! ListOffsets: earliest, latest, by timestamp and max timestamp per partition;
//! with read_committed, nothing at or past the last stable offset.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use moldau_protocol::kafka::messages::{ListOffsetsRequest, ListOffsetsResponse};
use moldau_protocol::ResponseError;

/// Special timestamps of ListOffsets.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
/// The newest offset in tiered storage (v9, KIP-1005). Moldau has no tiered
/// storage, so it is answered as Kafka answers it without: offset and epoch -1.
const LATEST_TIERED: i64 = -5;
/// ListOffsets' isolation_level asking for committed data only (v2+).
const READ_COMMITTED: i8 = 1;

fn error(index: i32, e: ResponseError) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(e.code())
        .with_timestamp(-1)
        .with_offset(-1)
        .with_leader_epoch(-1)
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ListOffsetsRequest = super::decode(&ctx, body)?;
    let image = ctx.metadata().image();
    let read_committed = request.isolation_level == READ_COMMITTED;
    let access = ctx.access();
    let mut topics = Vec::new();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let describable = access.topic(moldau_protocol::acl::AclOperation::Describe, &name);
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let index = p.partition_index;
            if !describable {
                partitions.push(error(index, ResponseError::TopicAuthorizationFailed));
                continue;
            }
            // Only the leader answers, at the image's leader epoch.
            let leadership = crate::leadership::check_leader(
                &image,
                ctx.metadata().node_id(),
                &name,
                index,
                p.current_leader_epoch,
            );
            let epoch = match leadership {
                Ok(epoch) => epoch,
                Err(not_served) => {
                    partitions.push(error(index, not_served.error));
                    continue;
                }
            };
            let Some(partition) = ctx.partitions().get_by_name(&name, index) else {
                let offline = ctx
                    .partitions()
                    .logs()
                    .offline_reason(&moldau_log::TopicPartition::new(&name, index))
                    .is_some();
                // Led here but not hosted yet: the publisher is on its way.
                let code = if offline {
                    ResponseError::KafkaStorageError
                } else {
                    ResponseError::NotLeaderOrFollower
                };
                partitions.push(error(index, code));
                continue;
            };
            if p.timestamp == LATEST_TIERED {
                partitions.push(error(index, ResponseError::UnknownServerError).with_error_code(0));
                continue;
            }
            // v10's timeout bounds waiting on remote storage, which is never waited on.
            let log = partition.log.read();
            // What a consumer of this isolation level may see ends here.
            let hw = if read_committed {
                log.last_stable_offset()
            } else {
                log.high_watermark()
            };
            let found: Result<(i64, i64), ResponseError> = match p.timestamp {
                LATEST => Ok((-1, hw)),
                EARLIEST | EARLIEST_LOCAL => Ok((-1, log.log_start_offset())),
                MAX_TIMESTAMP => Ok(log
                    .max_timestamp()
                    .filter(|(_, offset)| *offset < hw)
                    .unwrap_or((-1, -1))),
                ts if ts >= 0 => match log.offset_for_timestamp(ts) {
                    Ok(Some((offset, t))) if offset < hw => Ok((t, offset)),
                    Ok(_) => Ok((-1, -1)),
                    Err(e) => {
                        tracing::error!(topic = %name, partition = index, "offset lookup failed: {e}");
                        Err(ResponseError::KafkaStorageError)
                    }
                },
                _ => Err(ResponseError::InvalidRequest),
            };
            partitions.push(match found {
                Ok((timestamp, offset)) => ListOffsetsPartitionResponse::default()
                    .with_partition_index(index)
                    .with_error_code(0)
                    .with_timestamp(timestamp)
                    .with_offset(offset)
                    .with_leader_epoch(if ctx.version >= 4 { epoch } else { -1 }),
                Err(e) => error(index, e),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ctx.ready(&ListOffsetsResponse::default().with_topics(topics))
}
