//! DeleteTopics, by name (all versions) or by topic id (v6+). Needs DELETE on the
//! topic (TOPIC_AUTHORIZATION_FAILED); a topic id the principal may not DESCRIBE is
//! answered as unknown, as Kafka does. Authorized here, then decided by the active
//! controller on its image (a topic another broker just created is found by name
//! though this broker's image lags; an id is resolved here, for authorization). Limited by the controller mutation quota
//! (strict from v5, KIP-599).

use super::mutation_quota;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::TopicDeletion;
use moldau_metadata::TopicId;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::delete_topics_response::DeletableTopicResult;
use moldau_protocol::kafka::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use moldau_protocol::ResponseError;

/// The first DeleteTopics version refused THROTTLING_QUOTA_EXCEEDED (KIP-599).
const STRICT_QUOTA_VERSION_MIN: i16 = 5;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DeleteTopicsRequest = super::decode(&ctx, body)?;
    // (name if given, id if given)
    let wanted: Vec<(Option<String>, uuid::Uuid)> = if ctx.version >= 6 {
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let access = ctx.access();
    let mut responses = Vec::new();
    for (name, id) in wanted {
        let image = ctx.metadata().image();
        let resolved = match &name {
            Some(n) => Some(n.clone()),
            None => image
                .topic_by_id(&TopicId(*id.as_bytes()))
                .filter(|t| access.topic(AclOperation::Describe, &t.name))
                .map(|t| t.name.clone()),
        };
        let mut result = DeletableTopicResult::default();
        if ctx.version >= 6 {
            result = result.with_topic_id(id);
        }
        let result = match resolved {
            // The name of a topic id nobody knows is null, as in Kafka.
            None => result
                .with_name(None)
                .with_error_code(ResponseError::UnknownTopicId.code()),
            Some(n) if !access.topic(AclOperation::Delete, &n) => result
                .with_name(Some(TopicName(super::str_bytes(&n))))
                .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            Some(n) if !mutation_quota::admits(&ctx, STRICT_QUOTA_VERSION_MIN, false) => result
                .with_name(Some(TopicName(super::str_bytes(&n))))
                .with_error_code(ResponseError::ThrottlingQuotaExceeded.code())
                .with_error_message(Some(super::str_bytes(mutation_quota::THROTTLED_MESSAGE))),
            Some(n) => {
                let r = result.with_name(Some(TopicName(super::str_bytes(&n))));
                let partitions = image
                    .topic(&n)
                    .map_or(0, |topic| topic.partitions.len() as i64);
                // Asked by id: the controller checks the id is still this name's.
                let deletion = TopicDeletion {
                    name: Some(n.clone()),
                    id: (name.is_none() && !id.is_nil()).then(|| TopicId(*id.as_bytes())),
                };
                let deleted = ctx.controller().delete_topic_as(deletion).await;
                if deleted.is_ok() {
                    mutation_quota::record(&ctx, partitions, false);
                }
                match deleted {
                    Ok((_, id)) if ctx.version >= 6 => {
                        r.with_error_code(0).with_topic_id(id.as_uuid())
                    }
                    Ok(_) => r.with_error_code(0),
                    Err(e) => {
                        let r = r.with_error_code(e.code());
                        if ctx.version >= 5 {
                            r.with_error_message(Some(super::str_bytes(&e.to_string())))
                        } else {
                            r
                        }
                    }
                }
            }
        };
        responses.push(result);
    }
    let throttle_ms = mutation_quota::throttle_ms(&ctx);
    let response = DeleteTopicsResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(mutation_quota::field(throttle_ms));
    ctx.ready_throttled(&response, throttle_ms)
}
