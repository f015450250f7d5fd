//! CreateTopics between a broker and the active controller, in Kafka's encoding (as
//! Kafka brokers forward it): the broker sends the topics a client asked for, after
//! its own checks (authorization, names, duplicates), and reads back each topic's
//! outcome, in the order asked.

use super::topic_creation::{TopicCreated, TopicCreation, TopicCreationOutcome};
use super::ControllerError;
use crate::TopicId;
use moldau_protocol::kafka::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use moldau_protocol::kafka::messages::create_topics_response::CreatableTopicResult;
use moldau_protocol::kafka::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

/// The CreateTopics version brokers forward in and the controller answers in.
pub const CREATE_TOPICS_VERSION: i16 = 7;

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The request a broker forwards for `topics`.
pub fn create_topics_request_to_wire(
    topics: &[TopicCreation],
    validate_only: bool,
) -> CreateTopicsRequest {
    let topics = topics
        .iter()
        .map(|t| {
            CreatableTopic::default()
                .with_name(TopicName(str_bytes(&t.name)))
                .with_num_partitions(t.num_partitions)
                .with_replication_factor(t.replication_factor)
                .with_assignments(
                    t.assignments
                        .iter()
                        .map(|(partition, replicas)| {
                            CreatableReplicaAssignment::default()
                                .with_partition_index(*partition)
                                .with_broker_ids(replicas.iter().map(|b| BrokerId(*b)).collect())
                        })
                        .collect(),
                )
                .with_configs(
                    t.configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                        })
                        .collect(),
                )
        })
        .collect();
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_validate_only(validate_only)
}

/// The topics a forwarded request asks for, and its validate_only. A config without
/// a value is left out, as the broker leaves it out.
pub fn create_topics_request(request: &CreateTopicsRequest) -> (Vec<TopicCreation>, bool) {
    let topics = request
        .topics
        .iter()
        .map(|t| TopicCreation {
            name: t.name.0.to_string(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            configs: t
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect::<BTreeMap<_, _>>(),
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
        })
        .collect();
    (topics, request.validate_only)
}

/// The controller's response for `outcomes` (the configs are the broker's to
/// describe: it answers with its own view of the defaults, as Kafka's does).
pub fn create_topics_response(outcomes: &[TopicCreationOutcome]) -> CreateTopicsResponse {
    let topics = outcomes
        .iter()
        .map(|o| {
            let result = CreatableTopicResult::default().with_name(TopicName(str_bytes(&o.name)));
            match &o.result {
                Ok(created) => result
                    .with_topic_id(created.id.as_uuid())
                    .with_error_code(0)
                    .with_num_partitions(created.partitions)
                    .with_replication_factor(created.replication_factor),
                Err(refused) => result
                    .with_error_code(refused.error.code())
                    .with_error_message(Some(str_bytes(&refused.message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// Each topic's outcome in a controller's response.
pub fn topic_creation_outcomes(response: &CreateTopicsResponse) -> Vec<TopicCreationOutcome> {
    response
        .topics
        .iter()
        .map(|t| {
            let result = if t.error_code == 0 {
                Ok(TopicCreated {
                    id: TopicId(*t.topic_id.as_bytes()),
                    partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                })
            } else {
                let error = ResponseError::try_from_code(t.error_code)
                    .unwrap_or(ResponseError::UnknownServerError);
                let message = t
                    .error_message
                    .as_ref()
                    .map_or_else(|| error.to_string(), |m| m.to_string());
                Err(ControllerError::new(error, message))
            };
            TopicCreationOutcome {
                name: t.name.0.to_string(),
                result,
            }
        })
        .collect()
}
