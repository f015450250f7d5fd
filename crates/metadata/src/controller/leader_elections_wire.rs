//! ElectLeaders between a broker and the active controller, in Kafka's encoding: the
//! broker forwards what a client asked (one version, the newest) and reads back every
//! partition's outcome.

use super::leader_elections::{ElectionKind, ElectionOutcome, ElectionTargets};
use super::per_partition_results::{error_fields, group_by_topic};
use super::ControllerError;
use moldau_protocol::kafka::messages::elect_leaders_request::TopicPartitions;
use moldau_protocol::kafka::messages::elect_leaders_response::{
    PartitionResult, ReplicaElectionResult,
};
use moldau_protocol::kafka::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;

/// The ElectLeaders version brokers forward in and the controller answers in.
pub const ELECT_LEADERS_VERSION: i16 = 2;

/// What a client's request asks for: v0 knows only preferred elections. An election
/// type Kafka does not define is INVALID_REQUEST.
pub fn election_request(
    request: &ElectLeadersRequest,
    version: i16,
) -> Result<(ElectionKind, ElectionTargets), ControllerError> {
    let kind = if version == 0 {
        ElectionKind::Preferred
    } else {
        ElectionKind::from_wire(request.election_type).ok_or_else(|| {
            ControllerError::new(
                ResponseError::InvalidRequest,
                format!("Unknown election type {}.", request.election_type),
            )
        })?
    };
    let targets = request.topic_partitions.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect()
    });
    Ok((kind, targets))
}

/// The request a broker forwards for `kind` over `targets`.
pub fn election_request_to_wire(
    kind: ElectionKind,
    targets: &ElectionTargets,
    timeout_ms: i32,
) -> ElectLeadersRequest {
    let election_type = match kind {
        ElectionKind::Preferred => 0,
        ElectionKind::Unclean => 1,
    };
    let topic_partitions = targets.as_ref().map(|targets| {
        targets
            .iter()
            .map(|(topic, partitions)| {
                TopicPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(partitions.clone())
            })
            .collect()
    });
    ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(topic_partitions)
        .with_timeout_ms(timeout_ms)
}

/// The response for `outcomes`, grouped by topic in the order first seen.
pub fn elect_leaders_response(outcomes: &[ElectionOutcome]) -> ElectLeadersResponse {
    let results = group_by_topic(
        outcomes,
        |o| o.topic.as_str(),
        |o| {
            let (code, message) = error_fields(&o.error);
            PartitionResult::default()
                .with_partition_id(o.partition)
                .with_error_code(code)
                .with_error_message(message)
        },
    )
    .into_iter()
    .map(|(topic, partitions)| {
        ReplicaElectionResult::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_result(partitions)
    })
    .collect();
    ElectLeadersResponse::default()
        .with_error_code(0)
        .with_replica_election_results(results)
}

/// Every partition's outcome in a controller's response.
pub fn election_outcomes(response: &ElectLeadersResponse) -> Vec<ElectionOutcome> {
    let mut outcomes = Vec::new();
    for topic in &response.replica_election_results {
        for p in &topic.partition_result {
            let error = (p.error_code != 0).then(|| {
                let error = ResponseError::try_from_code(p.error_code)
                    .unwrap_or(ResponseError::UnknownServerError);
                let message = p
                    .error_message
                    .as_ref()
                    .map_or_else(|| error.to_string(), |m| m.to_string());
                ControllerError::new(error, message)
            });
            outcomes.push(ElectionOutcome {
                topic: topic.topic.0.to_string(),
                partition: p.partition_id,
                error,
            });
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{decode_body, encode_body};

    #[test]
    fn requests_and_outcomes_round_trip_through_kafkas_encoding() {
        let targets = Some(vec![("t".to_string(), vec![0, 2])]);
        let wire = election_request_to_wire(ElectionKind::Unclean, &targets, 1000);
        let bytes = encode_body(&wire, ELECT_LEADERS_VERSION).unwrap();
        let back: ElectLeadersRequest = decode_body(&bytes, ELECT_LEADERS_VERSION).unwrap();
        assert_eq!(
            election_request(&back, ELECT_LEADERS_VERSION).unwrap(),
            (ElectionKind::Unclean, targets)
        );
        // v0 has no election type: preferred.
        assert_eq!(
            election_request(&back, 0).unwrap().0,
            ElectionKind::Preferred
        );
        let bad = back.clone().with_election_type(7);
        let refused = election_request(&bad, 1).unwrap_err();
        assert_eq!(refused.error, ResponseError::InvalidRequest);

        let outcomes = vec![
            ElectionOutcome {
                topic: "t".into(),
                partition: 0,
                error: None,
            },
            ElectionOutcome {
                topic: "u".into(),
                partition: 1,
                error: Some(ControllerError::new(
                    ResponseError::ElectionNotNeeded,
                    "not needed",
                )),
            },
            ElectionOutcome {
                topic: "t".into(),
                partition: 2,
                error: None,
            },
        ];
        let response = elect_leaders_response(&outcomes);
        let bytes = encode_body(&response, ELECT_LEADERS_VERSION).unwrap();
        let back: ElectLeadersResponse = decode_body(&bytes, ELECT_LEADERS_VERSION).unwrap();
        let read = election_outcomes(&back);
        assert_eq!(read.len(), 3);
        assert_eq!((read[0].topic.as_str(), read[0].partition), ("t", 0));
        assert_eq!((read[1].topic.as_str(), read[1].partition), ("t", 2));
        assert_eq!(read[2].error, outcomes[1].error);
    }
}
