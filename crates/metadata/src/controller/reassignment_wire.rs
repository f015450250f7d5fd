//! AlterPartitionReassignments (45) and ListPartitionReassignments (46) in Kafka's
//! encoding, as a client sends them, a broker forwards them to the active controller
//! (one version each, the newest) and the answers come back.

use super::per_partition_results::{error_fields, group_by_topic};
use super::reassignment::{OngoingReassignment, ReassignmentOutcome, ReassignmentTarget};
use super::ControllerError;
use moldau_protocol::kafka::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use moldau_protocol::kafka::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use moldau_protocol::kafka::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use moldau_protocol::kafka::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use moldau_protocol::kafka::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

/// The AlterPartitionReassignments version brokers forward in (v1 carries
/// `allow_replication_factor_change`).
pub const ALTER_REASSIGNMENTS_VERSION: i16 = 1;
/// The ListPartitionReassignments version brokers forward in.
pub const LIST_REASSIGNMENTS_VERSION: i16 = 0;

/// What a client's request asks: every partition's target, and whether the
/// replication factor may change (always before v1).
pub fn reassignment_request(
    request: &AlterPartitionReassignmentsRequest,
    version: i16,
) -> (Vec<ReassignmentTarget>, bool) {
    let targets = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| ReassignmentTarget {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                replicas: p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()),
            })
        })
        .collect();
    let allow = version < 1 || request.allow_replication_factor_change;
    (targets, allow)
}

/// The request a broker forwards for `targets`.
pub fn alter_reassignments_request_to_wire(
    targets: &[ReassignmentTarget],
    allow_rf_change: bool,
) -> AlterPartitionReassignmentsRequest {
    let mut order: Vec<&str> = Vec::new();
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for t in targets {
        if !by_topic.contains_key(t.topic.as_str()) {
            order.push(&t.topic);
        }
        by_topic.entry(&t.topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(t.partition)
                .with_replicas(
                    t.replicas
                        .as_ref()
                        .map(|r| r.iter().map(|b| BrokerId(*b)).collect()),
                ),
        );
    }
    let topics = order
        .into_iter()
        .map(|topic| {
            ReassignableTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(by_topic.remove(topic).unwrap_or_default())
        })
        .collect();
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(0)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(topics)
}

/// The response for `outcomes`, grouped by topic in the order first seen.
pub fn alter_reassignments_response(
    outcomes: &[ReassignmentOutcome],
    allow_rf_change: bool,
) -> AlterPartitionReassignmentsResponse {
    let responses = group_by_topic(
        outcomes,
        |o| o.topic.as_str(),
        |o| {
            let (code, message) = error_fields(&o.error);
            ReassignablePartitionResponse::default()
                .with_partition_index(o.partition)
                .with_error_code(code)
                .with_error_message(message)
        },
    )
    .into_iter()
    .map(|(topic, partitions)| {
        ReassignableTopicResponse::default()
            .with_name(topic_name(topic))
            .with_partitions(partitions)
    })
    .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses)
}

/// Every partition's outcome in a controller's response.
pub fn reassignment_outcomes(
    response: &AlterPartitionReassignmentsResponse,
) -> Vec<ReassignmentOutcome> {
    let mut outcomes = Vec::new();
    for topic in &response.responses {
        for p in &topic.partitions {
            let error = (p.error_code != 0).then(|| {
                let error = ResponseError::try_from_code(p.error_code)
                    .unwrap_or(ResponseError::UnknownServerError);
                let message = p
                    .error_message
                    .as_ref()
                    .map_or_else(|| error.to_string(), |m| m.to_string());
                ControllerError::new(error, message)
            });
            outcomes.push(ReassignmentOutcome {
                topic: topic.name.0.to_string(),
                partition: p.partition_index,
                error,
            });
        }
    }
    outcomes
}

/// The partitions a ListPartitionReassignments names (`None`: all).
pub fn reassignment_list_request(
    request: &ListPartitionReassignmentsRequest,
) -> Option<Vec<(String, Vec<i32>)>> {
    request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    })
}

/// The list request a broker forwards.
pub fn list_reassignments_request_to_wire(
    targets: &Option<Vec<(String, Vec<i32>)>>,
) -> ListPartitionReassignmentsRequest {
    let topics = targets.as_ref().map(|targets| {
        targets
            .iter()
            .map(|(topic, partitions)| {
                ListPartitionReassignmentsTopics::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(partitions.clone())
            })
            .collect()
    });
    ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(0)
        .with_topics(topics)
}

/// The list response for `ongoing` (sorted by topic and partition).
pub fn list_reassignments_response(
    ongoing: &[OngoingReassignment],
) -> ListPartitionReassignmentsResponse {
    let mut topics: Vec<OngoingTopicReassignment> = Vec::new();
    for o in ongoing {
        let partition = OngoingPartitionReassignment::default()
            .with_partition_index(o.partition)
            .with_replicas(brokers(&o.replicas))
            .with_adding_replicas(brokers(&o.adding))
            .with_removing_replicas(brokers(&o.removing));
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == o.topic => t.partitions.push(partition),
            _ => topics.push(
                OngoingTopicReassignment::default()
                    .with_name(topic_name(&o.topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// The reassignments in a controller's list response.
pub fn ongoing_from_wire(
    response: &ListPartitionReassignmentsResponse,
) -> Vec<OngoingReassignment> {
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect();
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OngoingReassignment {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                replicas: ids(&p.replicas),
                adding: ids(&p.adding_replicas),
                removing: ids(&p.removing_replicas),
            })
        })
        .collect()
}

fn brokers(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().map(|b| BrokerId(*b)).collect()
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{decode_body, encode_body};

    #[test]
    fn alter_requests_and_outcomes_round_trip_through_kafkas_encoding() {
        let targets = vec![
            ReassignmentTarget {
                topic: "t".into(),
                partition: 0,
                replicas: Some(vec![2, 3]),
            },
            ReassignmentTarget {
                topic: "u".into(),
                partition: 1,
                replicas: None,
            },
            ReassignmentTarget {
                topic: "t".into(),
                partition: 2,
                replicas: Some(vec![1]),
            },
        ];
        let wire = alter_reassignments_request_to_wire(&targets, false);
        let bytes = encode_body(&wire, ALTER_REASSIGNMENTS_VERSION).unwrap();
        let back: AlterPartitionReassignmentsRequest =
            decode_body(&bytes, ALTER_REASSIGNMENTS_VERSION).unwrap();
        let (read, allow) = reassignment_request(&back, ALTER_REASSIGNMENTS_VERSION);
        assert!(!allow);
        assert_eq!(read.len(), 3);
        assert_eq!(read[0], targets[0]);
        assert_eq!(read[1], targets[2], "grouped by topic");
        assert_eq!(read[2], targets[1], "null replicas: a cancel");
        assert!(
            reassignment_request(&back, 0).1,
            "v0 always allows an RF change"
        );

        let outcomes = vec![
            ReassignmentOutcome {
                topic: "t".into(),
                partition: 0,
                error: None,
            },
            ReassignmentOutcome {
                topic: "u".into(),
                partition: 1,
                error: Some(ControllerError::new(
                    ResponseError::NoReassignmentInProgress,
                    "none",
                )),
            },
        ];
        let response = alter_reassignments_response(&outcomes, true);
        let bytes = encode_body(&response, ALTER_REASSIGNMENTS_VERSION).unwrap();
        let back: AlterPartitionReassignmentsResponse =
            decode_body(&bytes, ALTER_REASSIGNMENTS_VERSION).unwrap();
        assert!(back.allow_replication_factor_change);
        assert_eq!(reassignment_outcomes(&back), outcomes);
    }

    #[test]
    fn list_requests_and_answers_round_trip_through_kafkas_encoding() {
        let targets = Some(vec![("t".to_string(), vec![0, 1])]);
        let wire = list_reassignments_request_to_wire(&targets);
        let bytes = encode_body(&wire, LIST_REASSIGNMENTS_VERSION).unwrap();
        let back: ListPartitionReassignmentsRequest =
            decode_body(&bytes, LIST_REASSIGNMENTS_VERSION).unwrap();
        assert_eq!(reassignment_list_request(&back), targets);
        let all = list_reassignments_request_to_wire(&None);
        assert_eq!(reassignment_list_request(&all), None);

        let ongoing = vec![
            OngoingReassignment {
                topic: "t".into(),
                partition: 0,
                replicas: vec![1, 2, 4, 3],
                adding: vec![4],
                removing: vec![3],
            },
            OngoingReassignment {
                topic: "t".into(),
                partition: 3,
                replicas: vec![2, 1],
                adding: vec![2],
                removing: vec![1],
            },
            OngoingReassignment {
                topic: "u".into(),
                partition: 0,
                replicas: vec![1, 2],
                adding: vec![],
                removing: vec![2],
            },
        ];
        let response = list_reassignments_response(&ongoing);
        assert_eq!(response.topics.len(), 2);
        let bytes = encode_body(&response, LIST_REASSIGNMENTS_VERSION).unwrap();
        let back: ListPartitionReassignmentsResponse =
            decode_body(&bytes, LIST_REASSIGNMENTS_VERSION).unwrap();
        assert_eq!(ongoing_from_wire(&back), ongoing);
    }
}
