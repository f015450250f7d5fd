//! DeleteAcls: needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise),
//! checked here; the request is then forwarded whole to the active controller,
//! which removes every ACL each filter selects on its own image (so one another
//! broker created a moment ago is found though this broker's image lags), one
//! RemoveAccessControlEntryRecord per ACL in one metadata entry, each reported
//! under the first filter that selected it (`crate::acl_changes`).

use crate::acl_changes::filter_refused;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::ControllerError;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{DeleteAclsRequest, DeleteAclsResponse};
use moldau_protocol::ResponseError;

/// Every filter answered with `refused`.
fn all_refused(request: &DeleteAclsRequest, refused: ControllerError) -> DeleteAclsResponse {
    let results = request
        .filters
        .iter()
        .map(|_| filter_refused(&refused))
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DeleteAclsRequest = super::decode(&ctx, body)?;
    if !ctx.access().cluster(AclOperation::Alter) {
        let denied = ResponseError::ClusterAuthorizationFailed;
        let response = all_refused(&request, ControllerError::new(denied, denied.to_string()));
        return ctx.ready(&response);
    }
    let response = match ctx.controller().delete_acls(&request).await {
        Ok(Ok(response)) => {
            tracing::info!(principal = %ctx.principal, asked = request.filters.len(), "DeleteAcls decided");
            response
        }
        Ok(Err(refused)) => all_refused(&request, refused),
        Err(e) => {
            tracing::warn!("DeleteAcls not committed: {e}");
            all_refused(
                &request,
                ControllerError::new(e.response_error(), e.to_string()),
            )
        }
    };
    ctx.ready(&response)
}
