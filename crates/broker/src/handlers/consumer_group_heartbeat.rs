//! ConsumerGroupHeartbeat (KIP-848): handled by the group coordinator state machine.
//! Needs READ on the group (group_access.rs) and, as Kafka's API layer checks, DESCRIBE
//! on every subscribed topic name: a member may not learn of (nor be assigned) a topic
//! it could not see in Metadata, so one undescribable name refuses the heartbeat with
//! TOPIC_AUTHORIZATION_FAILED. A regex subscription resolves, per member, to the
//! topics its principal may DESCRIBE only: the coordinator gets the principal's
//! check with the request (handlers/group.rs) and filters the matched topics.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ConsumerGroupHeartbeatRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    // The group check comes first (in group::forward) as in Kafka.
    if access.group(AclOperation::Read, request.group_id.as_str()) {
        let hidden: Vec<&str> = request
            .subscribed_topic_names
            .iter()
            .flatten()
            .map(|t| t.as_str())
            .filter(|t| !access.topic(AclOperation::Describe, t))
            .collect();
        if !hidden.is_empty() {
            let message = format!(
                "The client is not authorized to describe topics: {}",
                hidden.join(", ")
            );
            return ctx.ready(
                &ConsumerGroupHeartbeatResponse::default()
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(super::str_bytes(&message))),
            );
        }
    }
    super::group::forward(
        ctx,
        GroupRequest::ConsumerGroupHeartbeat(request),
        |r| match r {
            GroupResponse::ConsumerGroupHeartbeat(x) => Some(x),
            _ => None,
        },
    )
    .await
}
