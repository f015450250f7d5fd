//! `GET /api/v1/acls`: the ACLs of the metadata image (as DescribeAcls with a
//! match-any filter answers), and whether this broker enforces them.

use crate::caller::Caller;
use crate::console::Console;
use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use moldau_protocol::acl::AclOperation;
use serde::Serialize;
use std::sync::Arc;

/// One ACL binding, with Kafka's names for its enums.
#[derive(Debug, Serialize)]
pub struct AclView {
    pub resource_type: &'static str,
    pub resource_name: String,
    pub pattern_type: &'static str,
    pub principal: String,
    pub host: String,
    pub operation: &'static str,
    pub permission: &'static str,
}

/// The page's data: enforcement is off until `authorizer.class.name` is set, and
/// the UI says so rather than letting stored ACLs look effective.
#[derive(Debug, Serialize)]
pub struct AclsView {
    pub enforced: bool,
    pub acls: Vec<AclView>,
}

/// `GET /api/v1/acls`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<AclsView>> {
    // DescribeAcls: DESCRIBE on the cluster.
    caller.require_cluster(AclOperation::Describe)?;
    let image = console.backend.metadata().image();
    let mut acls: Vec<AclView> = image
        .acls()
        .iter()
        .map(|a| AclView {
            resource_type: a.resource_type.name(),
            resource_name: a.resource_name.clone(),
            pattern_type: a.pattern_type.name(),
            principal: a.principal.clone(),
            host: a.host.clone(),
            operation: a.operation.name(),
            permission: a.permission.name(),
        })
        .collect();
    acls.sort_by(|a, b| {
        (a.resource_type, &a.resource_name, &a.principal, a.operation).cmp(&(
            b.resource_type,
            &b.resource_name,
            &b.principal,
            b.operation,
        ))
    });
    Ok(Json(AclsView {
        enforced: console.backend.config().authorizer.is_some(),
        acls,
    }))
}
