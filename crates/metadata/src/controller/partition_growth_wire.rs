//! CreatePartitions between a broker and the active controller, in Kafka's encoding:
//! the broker sends the topics a client may grow (after authorization and its own
//! checks) and reads back each topic's outcome, in the order asked.

use super::partition_growth::{PartitionGrowth, PartitionGrowthOutcome};
use super::ControllerError;
use moldau_protocol::kafka::messages::create_partitions_request::CreatePartitionsTopic;
use moldau_protocol::kafka::messages::create_partitions_response::CreatePartitionsTopicResult;
use moldau_protocol::kafka::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;

/// The CreatePartitions version brokers forward in and the controller answers in.
pub const CREATE_PARTITIONS_VERSION: i16 = 3;

/// The request a broker forwards for `growths`.
pub fn create_partitions_request_to_wire(
    growths: &[PartitionGrowth],
    validate_only: bool,
) -> CreatePartitionsRequest {
    let topics = growths
        .iter()
        .map(|g| {
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_string(g.name.clone())))
                .with_count(g.count)
        })
        .collect();
    CreatePartitionsRequest::default()
        .with_topics(topics)
        .with_validate_only(validate_only)
}

/// The growths a forwarded request asks for, and its validate_only.
pub fn create_partitions_request(
    request: &CreatePartitionsRequest,
) -> (Vec<PartitionGrowth>, bool) {
    let growths = request
        .topics
        .iter()
        .map(|t| PartitionGrowth {
            name: t.name.0.to_string(),
            count: t.count,
        })
        .collect();
    (growths, request.validate_only)
}

/// The controller's response for `outcomes`.
pub fn create_partitions_response(outcomes: &[PartitionGrowthOutcome]) -> CreatePartitionsResponse {
    let results = outcomes
        .iter()
        .map(|o| {
            let r = CreatePartitionsTopicResult::default()
                .with_name(TopicName(StrBytes::from_string(o.name.clone())));
            match &o.result {
                Ok(()) => r.with_error_code(0),
                Err(refused) => r
                    .with_error_code(refused.error.code())
                    .with_error_message(Some(StrBytes::from_string(refused.message.clone()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// Each topic's outcome in a controller's response.
pub fn partition_growth_outcomes(
    response: &CreatePartitionsResponse,
) -> Vec<PartitionGrowthOutcome> {
    response
        .results
        .iter()
        .map(|r| {
            let result = if r.error_code == 0 {
                Ok(())
            } else {
                let message = r.error_message.as_ref().map(|m| m.to_string());
                let error = ResponseError::try_from_code(r.error_code)
                    .unwrap_or(ResponseError::UnknownServerError);
                Err(ControllerError::new(
                    error,
                    message.unwrap_or_else(|| error.to_string()),
                ))
            };
            PartitionGrowthOutcome {
                name: r.name.0.to_string(),
                result,
            }
        })
        .collect()
}
