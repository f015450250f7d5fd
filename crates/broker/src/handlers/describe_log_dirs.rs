//! DescribeLogDirs: every log directory of this broker with its path (absolute, as
//! Kafka reports it), error (KAFKA_STORAGE_ERROR when offline), the filesystem's
//! total and usable bytes, and per replica its size, offset lag (0 for the current
//! log, how far a `-future` copy is behind it) and whether it is a future copy.
//! `topics` null asks for every partition, else exactly the ones listed. Needs
//! DESCRIBE on the cluster: without it the answer is CLUSTER_AUTHORIZATION_FAILED
//! (v3+) and no directories, as from Kafka.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_log::{LogDirDescription, TopicPartition};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use moldau_protocol::kafka::messages::{
    DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, HashSet};

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeLogDirsRequest = super::decode(&ctx, body)?;
    if !ctx.access().cluster(AclOperation::Describe) {
        return ctx.ready(
            &DescribeLogDirsResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    let wanted: Option<HashSet<TopicPartition>> = request.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(t.topic.0.as_str(), *p))
            })
            .collect()
    });
    let described = ctx
        .partitions()
        .logs()
        .describe(|tp| wanted.as_ref().is_none_or(|w| w.contains(tp)));
    let results = described.into_iter().map(dir_result).collect();
    ctx.ready(
        &DescribeLogDirsResponse::default()
            .with_error_code(0)
            .with_results(results),
    )
}

fn dir_result(dir: LogDirDescription) -> DescribeLogDirsResult {
    let path = std::path::absolute(&dir.path).unwrap_or(dir.path);
    let result = DescribeLogDirsResult::default()
        .with_log_dir(super::str_bytes(&path.display().to_string()))
        .with_total_bytes(dir.space.map_or(-1, |s| clamp(s.total_bytes)))
        .with_usable_bytes(dir.space.map_or(-1, |s| clamp(s.usable_bytes)));
    if dir.offline.is_some() {
        return result.with_error_code(ResponseError::KafkaStorageError.code());
    }
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for replica in dir.partitions {
        by_topic.entry(replica.tp.topic).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(replica.tp.partition)
                .with_partition_size(clamp(replica.size_bytes))
                .with_offset_lag(replica.offset_lag)
                .with_is_future_key(replica.is_future),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| (p.partition_index, p.is_future_key));
            DescribeLogDirsTopic::default()
                .with_name(TopicName(super::str_bytes(&name)))
                .with_partitions(partitions)
        })
        .collect();
    result.with_error_code(0).with_topics(topics)
}

fn clamp(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}
