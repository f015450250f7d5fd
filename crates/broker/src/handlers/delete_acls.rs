//! DeleteAcls: every ACL each filter selects is removed (one
//! RemoveAccessControlEntryRecord per ACL, all of one request in one metadata entry)
//! and reported under the first filter that selected it. Needs ALTER on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED otherwise).

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::{AclRecord, MetadataRecord};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::delete_acls_request::DeleteAclsFilter;
use moldau_protocol::kafka::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use moldau_protocol::kafka::messages::{DeleteAclsRequest, DeleteAclsResponse};
use moldau_protocol::ResponseError;
use moldau_security::acl_filter::AclFilter;
use std::collections::BTreeSet;

fn filter_of(f: &DeleteAclsFilter) -> Result<AclFilter, String> {
    AclFilter::from_request(
        f.resource_type_filter,
        f.resource_name_filter.as_deref(),
        f.pattern_type_filter,
        f.principal_filter.as_deref(),
        f.host_filter.as_deref(),
        f.operation,
        f.permission_type,
    )
}

fn error_result(error: ResponseError, message: String) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(error.code())
        .with_error_message(Some(super::str_bytes(&message)))
}

fn matching(a: &AclRecord) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_error_code(0)
        .with_resource_type(a.resource_type.code())
        .with_resource_name(super::str_bytes(&a.resource_name))
        .with_pattern_type(a.pattern_type.code())
        .with_principal(super::str_bytes(&a.principal))
        .with_host(super::str_bytes(&a.host))
        .with_operation(a.operation.code())
        .with_permission_type(a.permission.code())
}

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DeleteAclsRequest = super::decode(&ctx, body)?;
    if !ctx.access().cluster(AclOperation::Alter) {
        let e = ResponseError::ClusterAuthorizationFailed;
        let results = request
            .filters
            .iter()
            .map(|_| error_result(e, e.to_string()))
            .collect();
        return ctx.ready(&DeleteAclsResponse::default().with_filter_results(results));
    }
    let image = ctx.metadata().image();
    let mut taken: BTreeSet<[u8; 16]> = BTreeSet::new();
    // Per filter: the ACLs it removes, or why it is refused.
    let mut selected: Vec<Result<Vec<&AclRecord>, String>> = Vec::new();
    for f in &request.filters {
        selected.push(filter_of(f).map(|filter| {
            image
                .acls()
                .iter()
                .filter(|a| filter.matches(a) && taken.insert(a.id))
                .collect()
        }));
    }
    let records: Vec<MetadataRecord> = taken
        .iter()
        .map(|id| MetadataRecord::RemoveAccessControlEntry { id: *id })
        .collect();
    let committed = if records.is_empty() {
        Ok(())
    } else {
        ctx.controller().commit(&records).await.map(|_| ())
    };
    let results = selected
        .into_iter()
        .map(|s| match (s, &committed) {
            (Err(why), _) => error_result(ResponseError::InvalidRequest, why),
            (Ok(acls), Ok(())) => {
                for a in &acls {
                    tracing::info!(principal = %ctx.principal, acl = ?a, "ACL deleted");
                }
                DeleteAclsFilterResult::default()
                    .with_error_code(0)
                    .with_matching_acls(acls.into_iter().map(matching).collect())
            }
            (Ok(_), Err(e)) => error_result(e.response_error(), e.to_string()),
        })
        .collect();
    ctx.ready(&DeleteAclsResponse::default().with_filter_results(results))
}
