//! OffsetDelete: handled by the group coordinator state machine. Needs DELETE on the
//! group (group_access.rs) and, as Kafka's API layer checks, READ on each topic: the
//! partitions of a topic the principal may not read answer TOPIC_AUTHORIZATION_FAILED
//! and only the rest reaches the coordinator.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use moldau_protocol::kafka::messages::OffsetDeleteRequest;
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let mut request: OffsetDeleteRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let mut denied = Vec::new();
    // A group the principal may not delete from is refused as a whole first.
    if access.group(AclOperation::Delete, request.group_id.as_str()) {
        let (readable, unreadable) = std::mem::take(&mut request.topics)
            .into_iter()
            .partition(|t| access.topic(AclOperation::Read, t.name.as_str()));
        request.topics = readable;
        denied = unreadable
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect::<Vec<_>>();
    }
    super::group::forward(ctx, GroupRequest::OffsetDelete(request), move |r| match r {
        GroupResponse::OffsetDelete(mut response) => {
            if response.error_code == 0 {
                response.topics.extend(denied);
            }
            Some(response)
        }
        _ => None,
    })
    .await
}
