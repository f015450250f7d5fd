//! CreateAcls: each creation is checked as Kafka checks a new ACL, given a random id
//! and committed through the active controller as an AccessControlEntryRecord, all
//! of one request in one metadata entry. A binding that exists already is not added
//! twice. Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::{AclRecord, MetadataRecord, RECORD_STRING_BYTES_MAX};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::create_acls_request::AclCreation;
use moldau_protocol::kafka::messages::create_acls_response::AclCreationResult;
use moldau_protocol::kafka::messages::{CreateAclsRequest, CreateAclsResponse};
use moldau_protocol::ResponseError;
use moldau_security::acl_filter::new_acl_binding;

type Refusal = (ResponseError, String);

fn binding(c: &AclCreation) -> Result<AclRecord, Refusal> {
    let too_long = [&c.resource_name, &c.principal, &c.host]
        .iter()
        .any(|s| s.len() > RECORD_STRING_BYTES_MAX);
    if too_long {
        return Err((
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
    .map_err(|why| (ResponseError::InvalidRequest, why))
}

fn result(outcome: &Result<(), Refusal>) -> AclCreationResult {
    match outcome {
        Ok(()) => AclCreationResult::default().with_error_code(0),
        Err((error, message)) => AclCreationResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(super::str_bytes(message))),
    }
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: CreateAclsRequest = super::decode(&ctx, body)?;
    if !ctx.access().cluster(AclOperation::Alter) {
        let denied = ResponseError::ClusterAuthorizationFailed;
        let results = request
            .creations
            .iter()
            .map(|_| result(&Err((denied, denied.to_string()))))
            .collect();
        return ctx.ready(&CreateAclsResponse::default().with_results(results));
    }
    let image = ctx.metadata().image();
    let mut outcomes: Vec<Result<(), Refusal>> = Vec::with_capacity(request.creations.len());
    let mut records: Vec<MetadataRecord> = Vec::new();
    for c in &request.creations {
        match binding(c) {
            Ok(acl) => {
                let known = image.acls().iter().any(|a| a.same_binding(&acl));
                let repeated = records.iter().any(
                    |r| matches!(r, MetadataRecord::AccessControlEntry(a) if a.same_binding(&acl)),
                );
                if !known && !repeated {
                    records.push(MetadataRecord::AccessControlEntry(acl));
                }
                outcomes.push(Ok(()));
            }
            Err(refusal) => outcomes.push(Err(refusal)),
        }
    }
    if !records.is_empty() {
        if let Err(e) = ctx.controller().commit(&records).await {
            tracing::warn!("CreateAcls commit failed: {e}");
            for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
                *outcome = Err((e.response_error(), e.to_string()));
            }
        } else {
            for r in &records {
                if let MetadataRecord::AccessControlEntry(a) = r {
                    tracing::info!(principal = %ctx.principal, acl = ?a, "ACL created");
                }
            }
        }
    }
    let results = outcomes.iter().map(result).collect();
    ctx.ready(&CreateAclsResponse::default().with_results(results))
}
