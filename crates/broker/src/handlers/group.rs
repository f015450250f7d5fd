//! Shared path of the group APIs: check the principal's ACLs (group_access.rs),
//! forward the decoded request to the coordinator task (in request order) and encode
//! whatever it answers, whenever it answers.

use super::group_access;
use crate::request::{CloseConnection, Deferred, RequestContext};
use moldau_coordinator::{GroupRequest, GroupResponse, RequestContext as GroupContext};
use moldau_protocol::kafka::protocol::Encodable;

/// First DescribeGroups version carrying `authorized_operations`.
const DESCRIBE_GROUPS_OPERATIONS_VERSION: i16 = 3;

pub async fn forward<R, F>(
    ctx: RequestContext,
    mut request: GroupRequest,
    pick: F,
) -> Result<Deferred, CloseConnection>
where
    R: Encodable + Send + 'static,
    F: FnOnce(GroupResponse) -> Option<R> + Send + 'static,
{
    let access = ctx.access();
    let picked = |response: Option<R>| {
        response.ok_or_else(|| CloseConnection("coordinator answered with another API".into()))
    };
    if let Some(refused) = group_access::refusal(&access, &request, ctx.version) {
        return ctx.ready(&picked(pick(refused))?);
    }
    let operations_asked = match &request {
        GroupRequest::DescribeGroups(r) => {
            ctx.version >= DESCRIBE_GROUPS_OPERATIONS_VERSION && r.include_authorized_operations
        }
        GroupRequest::ConsumerGroupDescribe(r) => r.include_authorized_operations,
        _ => false,
    };
    let narrowed = group_access::narrow(&access, &mut request);
    if group_access::nothing_left(&request, &narrowed) {
        if let Some(mut response) = group_access::empty_response(&request) {
            group_access::complete(&mut response, &narrowed, operations_asked);
            return ctx.ready(&picked(pick(response))?);
        }
    }
    let Some(service) = ctx.groups().service() else {
        return Err(CloseConnection("group coordinator not running".into()));
    };
    let topic_describe = match &request {
        GroupRequest::ConsumerGroupHeartbeat(_) => access.topic_describe_check(),
        _ => None,
    };
    let group_ctx = GroupContext {
        client_id: ctx.client_id(),
        client_host: format!("/{}", ctx.client_host),
        api_version: ctx.version,
        topic_describe,
    };
    let pending = service.submit(group_ctx, request).await?;
    Ok(Box::pin(async move {
        let mut response = pending
            .await
            .map_err(|_| CloseConnection("group coordinator stopped".into()))?;
        group_access::complete(&mut response, &narrowed, operations_asked);
        let Some(response) = pick(response) else {
            return Err(CloseConnection(
                "coordinator answered with another API".into(),
            ));
        };
        ctx.encode(&response).map(Some)
    }))
}

/// Declares a handler module body for a group API whose request and response
/// variants share the API's name.
macro_rules! group_handler {
    ($request:ident, $variant:ident) => {
        pub async fn handle(
            ctx: crate::request::RequestContext,
            body: bytes::Bytes,
        ) -> Result<crate::request::Deferred, crate::request::CloseConnection> {
            let request: moldau_protocol::kafka::messages::$request = super::decode(&ctx, body)?;
            super::group::forward(
                ctx,
                moldau_coordinator::GroupRequest::$variant(request),
                |r| match r {
                    moldau_coordinator::GroupResponse::$variant(x) => Some(x),
                    _ => None,
                },
            )
            .await
        }
    };
}
pub(crate) use group_handler;
