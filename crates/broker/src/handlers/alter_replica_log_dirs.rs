//! AlterReplicaLogDirs: move partitions of this broker to another of its log
//! directories, online (see `moldau_log::future_replica`). Per partition, Kafka's
//! errors: LOG_DIR_NOT_FOUND for a path that is not one of `log.dirs`,
//! KAFKA_STORAGE_ERROR for an offline directory or partition, REPLICA_NOT_AVAILABLE
//! for a partition not hosted here (it is created in that directory when it comes).
//! Needs ALTER on the cluster: without it every partition answers
//! CLUSTER_AUTHORIZATION_FAILED and nothing moves.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_log::{MoveError, TopicPartition};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use moldau_protocol::kafka::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

fn error_of(e: &MoveError) -> ResponseError {
    match e {
        MoveError::DirNotFound(_) => ResponseError::LogDirNotFound,
        MoveError::NotHosted(_) => ResponseError::ReplicaNotAvailable,
        MoveError::DirOffline(_) | MoveError::PartitionOffline(..) | MoveError::Storage(_) => {
            ResponseError::KafkaStorageError
        }
    }
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AlterReplicaLogDirsRequest = super::decode(&ctx, body)?;
    let hosted = ctx.partitions();
    let logs = hosted.logs();
    let alterable = ctx.access().cluster(AclOperation::Alter);
    let mut results: BTreeMap<String, Vec<AlterReplicaLogDirPartitionResult>> = BTreeMap::new();
    for dir in &request.dirs {
        for topic in &dir.topics {
            for partition in &topic.partitions {
                let tp = TopicPartition::new(topic.name.0.as_str(), *partition);
                let code = if !alterable {
                    ResponseError::ClusterAuthorizationFailed.code()
                } else {
                    match logs.alter_dir(&tp, dir.path.as_str()) {
                        Ok(()) => {
                            tracing::info!(partition = %tp, dir = %dir.path.as_str(), "moving partition to another log directory");
                            0
                        }
                        Err(e) => {
                            tracing::warn!(partition = %tp, error = %e, "AlterReplicaLogDirs refused");
                            error_of(&e).code()
                        }
                    }
                };
                results.entry(tp.topic).or_default().push(
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(*partition)
                        .with_error_code(code),
                );
            }
        }
    }
    let results = results
        .into_iter()
        .map(|(name, partitions)| {
            AlterReplicaLogDirTopicResult::default()
                .with_topic_name(moldau_protocol::kafka::messages::TopicName(
                    super::str_bytes(&name),
                ))
                .with_partitions(partitions)
        })
        .collect();
    ctx.ready(&AlterReplicaLogDirsResponse::default().with_results(results))
}
