//! DescribeAcls: the ACLs a filter selects (ANY / MATCH / LITERAL / PREFIXED
//! patterns, as in Kafka), grouped by resource pattern. Needs DESCRIBE on the
//! cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::AclRecord;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::describe_acls_response::{
    AclDescription, DescribeAclsResource,
};
use moldau_protocol::kafka::messages::{DescribeAclsRequest, DescribeAclsResponse};
use moldau_protocol::ResponseError;
use moldau_security::acl_filter::AclFilter;
use std::collections::BTreeMap;

fn refused(error: ResponseError, message: String) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(super::str_bytes(&message)))
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeAclsRequest = super::decode(&ctx, body)?;
    if !ctx.access().cluster(AclOperation::Describe) {
        let e = ResponseError::ClusterAuthorizationFailed;
        return ctx.ready(&refused(e, e.to_string()));
    }
    let filter = match AclFilter::from_request(
        request.resource_type_filter,
        request.resource_name_filter.as_deref(),
        request.pattern_type_filter,
        request.principal_filter.as_deref(),
        request.host_filter.as_deref(),
        request.operation,
        request.permission_type,
    ) {
        Ok(f) => f,
        Err(why) => return ctx.ready(&refused(ResponseError::InvalidRequest, why)),
    };
    let image = ctx.metadata().image();
    let resources = described(image.acls().iter().filter(|a| filter.matches(a)));
    ctx.ready(
        &DescribeAclsResponse::default()
            .with_error_code(0)
            .with_error_message(None)
            .with_resources(resources),
    )
}

/// The ACLs grouped by resource pattern, in a stable order.
fn described<'a>(acls: impl Iterator<Item = &'a AclRecord>) -> Vec<DescribeAclsResource> {
    let mut by_resource: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for a in acls {
        by_resource
            .entry((
                a.resource_type.code(),
                a.resource_name.as_str(),
                a.pattern_type.code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(super::str_bytes(&a.principal))
                    .with_host(super::str_bytes(&a.host))
                    .with_operation(a.operation.code())
                    .with_permission_type(a.permission.code()),
            );
    }
    by_resource
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(super::str_bytes(name))
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect()
}
