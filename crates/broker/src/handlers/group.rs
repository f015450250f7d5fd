//! Shared path of the group APIs: forward the decoded request to the coordinator task
//! (in request order) and encode whatever it answers, whenever it answers.

use crate::request::{CloseConnection, Deferred, RequestContext};
use moldau_coordinator::{GroupRequest, GroupResponse, RequestContext as GroupContext};
use moldau_protocol::kafka::protocol::Encodable;

pub async fn forward<R, F>(
    ctx: RequestContext,
    request: GroupRequest,
    pick: F,
) -> Result<Deferred, CloseConnection>
where
    R: Encodable + Send + 'static,
    F: FnOnce(GroupResponse) -> Option<R> + Send + 'static,
{
    let Some(service) = ctx.broker.groups.get().cloned() else {
        return Err(CloseConnection("group coordinator not running".into()));
    };
    let group_ctx = GroupContext {
        client_id: ctx.client_id(),
        client_host: format!("/{}", ctx.client_host),
        api_version: ctx.version,
    };
    let pending = service.submit(group_ctx, request).await?;
    Ok(Box::pin(async move {
        let response = pending
            .await
            .map_err(|_| CloseConnection("group coordinator stopped".into()))?;
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
