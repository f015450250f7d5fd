//! CreateAcls: needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise),
//! checked here; the request is then forwarded whole to the active controller,
//! which checks each creation as Kafka checks a new ACL, gives it a random id and
//! commits the new bindings (one that exists already is not added twice) as one
//! metadata entry, deciding on its own image (`crate::acl_changes`).

use crate::acl_changes::creation_result;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::ControllerError;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{CreateAclsRequest, CreateAclsResponse};
use moldau_protocol::ResponseError;

/// Every creation answered with `refused`.
fn all_refused(request: &CreateAclsRequest, refused: ControllerError) -> CreateAclsResponse {
    let refused = Err(refused);
    let results = request
        .creations
        .iter()
        .map(|_| creation_result(&refused))
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: CreateAclsRequest = super::decode(&ctx, body)?;
    if !ctx.access().cluster(AclOperation::Alter) {
        let denied = ResponseError::ClusterAuthorizationFailed;
        let response = all_refused(&request, ControllerError::new(denied, denied.to_string()));
        return ctx.ready(&response);
    }
    let response = match ctx.controller().create_acls(&request).await {
        Ok(Ok(response)) => {
            tracing::info!(principal = %ctx.principal, asked = request.creations.len(), "CreateAcls decided");
            response
        }
        Ok(Err(refused)) => all_refused(&request, refused),
        Err(e) => {
            tracing::warn!("CreateAcls not committed: {e}");
            all_refused(
                &request,
                ControllerError::new(e.response_error(), e.to_string()),
            )
        }
    };
    ctx.ready(&response)
}
