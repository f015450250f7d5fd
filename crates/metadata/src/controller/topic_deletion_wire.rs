//! DeleteTopics between a broker and the active controller, in Kafka's encoding
//! (the v6 shape: each topic by name, id or both): the broker sends the topics a
//! client may delete, after authorization, and reads back each topic's outcome with
//! the name and id the controller found, in the order asked.

use super::topic_deletion::{TopicDeletion, TopicDeletionOutcome};
use super::ControllerError;
use crate::TopicId;
use moldau_protocol::kafka::messages::delete_topics_request::DeleteTopicState;
use moldau_protocol::kafka::messages::delete_topics_response::DeletableTopicResult;
use moldau_protocol::kafka::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;

/// The DeleteTopics version brokers forward in and the controller answers in.
pub const DELETE_TOPICS_VERSION: i16 = 6;

fn wire_id(id: Option<TopicId>) -> uuid::Uuid {
    id.map_or(uuid::Uuid::nil(), |id| id.as_uuid())
}

/// The nil id stands for none, as in Kafka's request.
fn id_of(id: &uuid::Uuid) -> Option<TopicId> {
    (!id.is_nil()).then(|| TopicId(*id.as_bytes()))
}

fn wire_name(name: &Option<String>) -> Option<TopicName> {
    name.as_ref()
        .map(|n| TopicName(StrBytes::from_string(n.clone())))
}

/// The request a broker forwards for `deletions`.
pub fn delete_topics_request_to_wire(deletions: &[TopicDeletion]) -> DeleteTopicsRequest {
    let topics = deletions
        .iter()
        .map(|d| {
            DeleteTopicState::default()
                .with_name(wire_name(&d.name))
                .with_topic_id(wire_id(d.id))
        })
        .collect();
    DeleteTopicsRequest::default().with_topics(topics)
}

/// The deletions a forwarded request asks for.
pub fn delete_topics_request(request: &DeleteTopicsRequest) -> Vec<TopicDeletion> {
    request
        .topics
        .iter()
        .map(|t| TopicDeletion {
            name: t.name.as_ref().map(|n| n.0.to_string()),
            id: id_of(&t.topic_id),
        })
        .collect()
}

/// The controller's response for `outcomes`.
pub fn delete_topics_response(outcomes: &[TopicDeletionOutcome]) -> DeleteTopicsResponse {
    let responses = outcomes
        .iter()
        .map(|o| {
            let r = DeletableTopicResult::default()
                .with_name(wire_name(&o.name))
                .with_topic_id(wire_id(o.id));
            match &o.result {
                Ok(()) => r.with_error_code(0),
                Err(refused) => r
                    .with_error_code(refused.error.code())
                    .with_error_message(Some(StrBytes::from_string(refused.message.clone()))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// Each topic's outcome in a controller's response.
pub fn topic_deletion_outcomes(response: &DeleteTopicsResponse) -> Vec<TopicDeletionOutcome> {
    response
        .responses
        .iter()
        .map(|r| TopicDeletionOutcome {
            name: r.name.as_ref().map(|n| n.0.to_string()),
            id: id_of(&r.topic_id),
            result: refusal_of(r.error_code, r.error_message.as_deref()),
        })
        .collect()
}

/// A response's error code and message as a decision's result.
pub(super) fn refusal_of(code: i16, message: Option<&str>) -> Result<(), ControllerError> {
    if code == 0 {
        return Ok(());
    }
    let error = ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
    Err(ControllerError::new(
        error,
        message.map_or_else(|| error.to_string(), str::to_string),
    ))
}
