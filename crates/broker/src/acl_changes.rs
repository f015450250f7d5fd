//! CreateAcls and DeleteAcls as the active controller answers them: the request
//! (forwarded whole in Kafka's encoding, after authorization on the receiving
//! broker) is checked here, decided on the controller's image by moldau-metadata's
//! pure `create_acls` / `delete_acls` (with moldau-security's filter matching) and
//! answered as the response once committed.

use crate::metadata_quorum::{LifecycleAnswer, LifecycleController};
use moldau_metadata::controller::ControllerError;
use moldau_metadata::{AclRecord, RECORD_STRING_BYTES_MAX};
use moldau_protocol::kafka::messages::create_acls_request::AclCreation;
use moldau_protocol::kafka::messages::create_acls_response::AclCreationResult;
use moldau_protocol::kafka::messages::delete_acls_request::DeleteAclsFilter;
use moldau_protocol::kafka::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use moldau_protocol::kafka::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use moldau_security::acl_filter::{new_acl_binding, AclFilter};

/// The CreateAcls version forwarded to the controller (the newest, flexible).
pub const CREATE_ACLS_VERSION: i16 = 3;
/// The DeleteAcls version forwarded to the controller (the newest, flexible).
pub const DELETE_ACLS_VERSION: i16 = 3;

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A creation checked as Kafka checks a new ACL, with a fresh random id.
fn binding(c: &AclCreation) -> Result<AclRecord, ControllerError> {
    let too_long = [&c.resource_name, &c.principal, &c.host]
        .iter()
        .any(|s| s.len() > RECORD_STRING_BYTES_MAX);
    if too_long {
        return Err(ControllerError::new(
            ResponseError::InvalidRequest,
            format!(
                "Resource name, principal and host are limited to {RECORD_STRING_BYTES_MAX} bytes"
            ),
        ));
    }
    new_acl_binding(
        *uuid::Uuid::new_v4().as_bytes(),
        c.resource_type,
        c.resource_name.as_str(),
        c.resource_pattern_type,
        c.principal.as_str(),
        c.host.as_str(),
        c.operation,
        c.permission_type,
    )
    .map_err(|why| ControllerError::new(ResponseError::InvalidRequest, why))
}

fn filter(f: &DeleteAclsFilter) -> Result<AclFilter, ControllerError> {
    AclFilter::from_request(
        f.resource_type_filter,
        f.resource_name_filter.as_deref(),
        f.pattern_type_filter,
        f.principal_filter.as_deref(),
        f.host_filter.as_deref(),
        f.operation,
        f.permission_type,
    )
    .map_err(|why| ControllerError::new(ResponseError::InvalidRequest, why))
}

/// The bindings `response` answered as created (ids are not compared).
pub fn created_bindings(
    request: &CreateAclsRequest,
    response: &CreateAclsResponse,
) -> Vec<AclRecord> {
    request
        .creations
        .iter()
        .zip(&response.results)
        .filter(|(_, r)| r.error_code == 0)
        .filter_map(|(c, _)| binding(c).ok())
        .collect()
}

/// The ACLs `response` answered as deleted (ids are not compared).
pub fn deleted_bindings(response: &DeleteAclsResponse) -> Vec<AclRecord> {
    response
        .filter_results
        .iter()
        .filter(|f| f.error_code == 0)
        .flat_map(|f| &f.matching_acls)
        .filter_map(|a| {
            new_acl_binding(
                [0; 16],
                a.resource_type,
                a.resource_name.as_str(),
                a.pattern_type,
                a.principal.as_str(),
                a.host.as_str(),
                a.operation,
                a.permission_type,
            )
            .ok()
        })
        .collect()
}

/// One creation's answer.
pub fn creation_result(outcome: &Result<(), ControllerError>) -> AclCreationResult {
    match outcome {
        Ok(()) => AclCreationResult::default().with_error_code(0),
        Err(e) => AclCreationResult::default()
            .with_error_code(e.error.code())
            .with_error_message(Some(str_bytes(&e.message))),
    }
}

/// One filter's answer when it was refused.
pub fn filter_refused(e: &ControllerError) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(e.error.code())
        .with_error_message(Some(str_bytes(&e.message)))
}

fn matching(a: &AclRecord) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_error_code(0)
        .with_resource_type(a.resource_type.code())
        .with_resource_name(str_bytes(&a.resource_name))
        .with_pattern_type(a.pattern_type.code())
        .with_principal(str_bytes(&a.principal))
        .with_host(str_bytes(&a.host))
        .with_operation(a.operation.code())
        .with_permission_type(a.permission.code())
}

/// Decides CreateAcls on this node (the active controller); every creation refused
/// alike when the whole request was.
pub async fn decide_create_acls(
    lifecycle: &LifecycleController,
    request: &CreateAclsRequest,
) -> LifecycleAnswer<CreateAclsResponse> {
    let creations: Vec<_> = request.creations.iter().map(binding).collect();
    let outcomes = match lifecycle.create_acls(&creations).await? {
        Ok(outcomes) => outcomes,
        Err(refused) => creations.iter().map(|_| Err(refused.clone())).collect(),
    };
    for acl in creations
        .iter()
        .zip(&outcomes)
        .filter_map(|(c, o)| match o {
            Ok(()) => c.as_ref().ok(),
            Err(_) => None,
        })
    {
        tracing::info!(?acl, "ACL created");
    }
    let results = outcomes.iter().map(creation_result).collect();
    Ok(Ok(CreateAclsResponse::default().with_results(results)))
}

/// Decides DeleteAcls on this node (the active controller); every filter refused
/// alike when the whole request was.
pub async fn decide_delete_acls(
    lifecycle: &LifecycleController,
    request: &DeleteAclsRequest,
) -> LifecycleAnswer<DeleteAclsResponse> {
    let filters: Vec<_> = request.filters.iter().map(filter).collect();
    let matches = |f: &AclFilter, a: &AclRecord| f.matches(a);
    let outcomes = match lifecycle.delete_acls(&filters, &matches).await? {
        Ok(outcomes) => outcomes,
        Err(refused) => filters.iter().map(|_| Err(refused.clone())).collect(),
    };
    let results = outcomes
        .iter()
        .map(|o| match o {
            Ok(acls) => {
                for acl in acls {
                    tracing::info!(?acl, "ACL deleted");
                }
                DeleteAclsFilterResult::default()
                    .with_error_code(0)
                    .with_matching_acls(acls.iter().map(matching).collect())
            }
            Err(e) => filter_refused(e),
        })
        .collect();
    Ok(Ok(
        DeleteAclsResponse::default().with_filter_results(results)
    ))
}
