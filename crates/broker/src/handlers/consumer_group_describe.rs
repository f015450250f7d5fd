//! ConsumerGroupDescribe (KIP-848): answered by the group coordinator state machine;
//! the broker adds what the caller may do with each group, as for DescribeGroups.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_protocol::kafka::messages::ConsumerGroupDescribeRequest;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ConsumerGroupDescribeRequest = super::decode(&ctx, body)?;
    let asked = request.include_authorized_operations;
    super::group::forward(
        ctx,
        GroupRequest::ConsumerGroupDescribe(request),
        move |r| match r {
            GroupResponse::ConsumerGroupDescribe(mut response) => {
                if asked {
                    for g in response.groups.iter_mut().filter(|g| g.error_code == 0) {
                        g.authorized_operations = super::describe_groups::GROUP_OPERATIONS_ALL;
                    }
                }
                Some(response)
            }
            _ => None,
        },
    )
    .await
}
