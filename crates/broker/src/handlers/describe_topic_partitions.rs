//! DescribeTopicPartitions (KIP-966): topics and their partitions, paged. Topics go
//! in name order from the cursor's; at most `response_partition_limit` partitions
//! (capped by the broker) are answered, and the next cursor says where to go on.
//! Topics the principal may not DESCRIBE are left out of an all-topics answer and
//! answered with TOPIC_AUTHORIZATION_FAILED when named.

use crate::internal_topics::is_hidden;
use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::request_access::TOPIC_OPERATIONS;
use bytes::Bytes;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use moldau_protocol::kafka::messages::metadata_response::MetadataResponsePartition;
use moldau_protocol::kafka::messages::{
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use moldau_protocol::ResponseError;
use moldau_security::AclResource;
use std::collections::BTreeSet;

/// Most partitions one response carries, whatever the client asks for (Kafka's
/// `max.request.partition.size.limit` default).
pub const RESPONSE_PARTITIONS_MAX: i32 = 2000;

fn partition(p: MetadataResponsePartition) -> DescribeTopicPartitionsResponsePartition {
    DescribeTopicPartitionsResponsePartition::default()
        .with_error_code(p.error_code)
        .with_partition_index(p.partition_index)
        .with_leader_id(p.leader_id)
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(p.replica_nodes)
        .with_isr_nodes(p.isr_nodes)
        // No eligible leader replicas (KIP-966 ELR is not enabled): empty, as Kafka.
        .with_eligible_leader_replicas(Some(Vec::new()))
        .with_last_known_elr(Some(Vec::new()))
        .with_offline_replicas(p.offline_replicas)
}

fn topic_error(name: &str, error: ResponseError) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error.code())
        .with_name(Some(TopicName(super::str_bytes(name))))
}

fn cursor(topic: &str, partition: i32) -> Option<Cursor> {
    Some(
        Cursor::default()
            .with_topic_name(TopicName(super::str_bytes(topic)))
            .with_partition_index(partition),
    )
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeTopicPartitionsRequest = super::decode(&ctx, body)?;
    let image = ctx.metadata().image();
    let access = ctx.access();
    let all = request.topics.is_empty();
    let (cursor_topic, cursor_partition) =
        request.cursor.as_ref().map_or((String::new(), 0), |c| {
            (c.topic_name.to_string(), c.partition_index)
        });
    let names: BTreeSet<String> = if all {
        image
            .topics()
            .map(|t| t.name.clone())
            .filter(|n| !is_hidden(n))
            .filter(|n| access.topic(AclOperation::Describe, n))
            .collect()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    let names: Vec<String> = names.into_iter().filter(|n| *n >= cursor_topic).collect();
    let invalid = if request.cursor.is_some() && !all && !names.contains(&cursor_topic) {
        Some(format!(
            "the topic list should contain the cursor topic {cursor_topic}"
        ))
    } else if cursor_partition < 0 {
        Some(format!(
            "the cursor partition {cursor_partition} is invalid"
        ))
    } else {
        None
    };
    if let Some(why) = invalid {
        tracing::debug!("DescribeTopicPartitions refused: {why}");
        let topics = request
            .topics
            .iter()
            .map(|t| topic_error(t.name.as_str(), ResponseError::InvalidRequest))
            .collect();
        return ctx.ready(&DescribeTopicPartitionsResponse::default().with_topics(topics));
    }

    let mut remaining = request
        .response_partition_limit
        .clamp(1, RESPONSE_PARTITIONS_MAX);
    let mut response = DescribeTopicPartitionsResponse::default().with_next_cursor(None);
    for name in &names {
        if remaining == 0 {
            response.next_cursor = cursor(name, 0);
            break;
        }
        if !access.topic(AclOperation::Describe, name) {
            response
                .topics
                .push(topic_error(name, ResponseError::TopicAuthorizationFailed));
            continue;
        }
        let topic = image.topic(name).filter(|_| !is_hidden(name));
        let Some(topic) = topic else {
            if !all {
                let error = if crate::controller::validate_topic_name(name).is_ok() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::InvalidTopicException
                };
                response.topics.push(topic_error(name, error));
            }
            continue;
        };
        let start = if *name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        let described = super::metadata::topic_response(&image, topic, &ctx);
        let mut rest = described
            .partitions
            .into_iter()
            .filter(|p| p.partition_index >= start)
            .peekable();
        let mut partitions = Vec::new();
        while remaining > 0 {
            let Some(p) = rest.next() else { break };
            partitions.push(partition(p));
            remaining -= 1;
        }
        let next = rest.peek().map(|p| p.partition_index);
        response.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(0)
                .with_name(Some(TopicName(super::str_bytes(name))))
                .with_topic_id(described.topic_id)
                .with_is_internal(described.is_internal)
                .with_partitions(partitions)
                .with_topic_authorized_operations(
                    access.operations(&AclResource::topic(name), TOPIC_OPERATIONS),
                ),
        );
        if let Some(next) = next {
            response.next_cursor = cursor(name, next);
            break;
        }
    }
    ctx.ready(&response)
}
