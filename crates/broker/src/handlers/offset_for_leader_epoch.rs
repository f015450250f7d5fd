//! OffsetForLeaderEpoch (api 23): where a leader epoch ends in the leader's log, from
//! its leader-epoch cache. A consumer (replica id -1) asks after a leader change to
//! learn whether the log it read was truncated (KIP-320); a follower may ask before
//! fetching (Moldau's followers use Fetch's diverging epoch instead).
//!
//! As Kafka: only the leader answers; `current_leader_epoch` older than the leader's
//! is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH; the answer is the largest
//! epoch at most the one asked for and the offset where it ends (the next epoch's
//! start, or the log end for the latest), or -1/-1 when the asked epoch is newer
//! than any known. Needs CLUSTER_ACTION on the cluster or DESCRIBE on the topic.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use moldau_protocol::kafka::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use moldau_protocol::ResponseError;

/// Most partitions one request may ask about.
const ASKED_PARTITIONS_MAX: usize = 100_000;

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const UNDEFINED: i32 = -1;
const UNDEFINED_OFFSET: i64 = -1;

fn answer(partition: i32, error: ResponseError) -> EpochEndOffset {
    EpochEndOffset::default()
        .with_partition(partition)
        .with_error_code(error.code())
        .with_leader_epoch(UNDEFINED)
        .with_end_offset(UNDEFINED_OFFSET)
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: OffsetForLeaderEpochRequest = super::decode(&ctx, body)?;
    let asked: usize = request.topics.iter().map(|t| t.partitions.len()).sum();
    if asked > ASKED_PARTITIONS_MAX {
        return Err(CloseConnection(format!(
            "OffsetForLeaderEpoch for {asked} partitions (at most {ASKED_PARTITIONS_MAX})"
        )));
    }
    let access = ctx.access();
    let cluster_action = access.cluster(AclOperation::ClusterAction);
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.topic.0.to_string();
        let allowed = cluster_action || access.topic(AclOperation::Describe, &name);
        let partitions = topic
            .partitions
            .iter()
            .map(|p| match allowed {
                true => end_offset(
                    &ctx,
                    &name,
                    p.partition,
                    p.current_leader_epoch,
                    p.leader_epoch,
                ),
                false => answer(p.partition, ResponseError::TopicAuthorizationFailed),
            })
            .collect();
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions),
        );
    }
    ctx.ready(&OffsetForLeaderEpochResponse::default().with_topics(topics))
}

/// One partition's answer.
fn end_offset(
    ctx: &RequestContext,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> EpochEndOffset {
    let image = ctx.metadata().image();
    let leadership = crate::leadership::check_leader(
        &image,
        ctx.metadata().node_id(),
        topic,
        index,
        current_leader_epoch,
    );
    if let Err(not_served) = leadership {
        return answer(index, not_served.error);
    }
    let Some(partition) = ctx.partitions().get_by_name(topic, index) else {
        let offline = ctx
            .partitions()
            .logs()
            .offline_reason(&moldau_log::TopicPartition::new(topic, index))
            .is_some();
        // Led here but not hosted yet: the publisher is on its way.
        let error = match offline {
            true => ResponseError::KafkaStorageError,
            false => ResponseError::NotLeaderOrFollower,
        };
        return answer(index, error);
    };
    if partition.is_offline() {
        return answer(index, ResponseError::KafkaStorageError);
    }
    let found = partition.log.read().end_offset_for_epoch(leader_epoch);
    let (epoch, offset) = found.unwrap_or((UNDEFINED, UNDEFINED_OFFSET));
    EpochEndOffset::default()
        .with_partition(index)
        .with_error_code(0)
        .with_leader_epoch(epoch)
        .with_end_offset(offset)
}
