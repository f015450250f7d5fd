//! DescribeClientQuotas (KIP-546): the stored quotas of every entity the filter
//! matches, strictly (no other entity types) or not.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::client_quotas::{FilterComponent, QuotaFilter};
use moldau_protocol::kafka::messages::describe_client_quotas_response::{
    EntityData, EntryData, ValueData,
};
use moldau_protocol::kafka::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use moldau_protocol::ResponseError;

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeClientQuotasRequest = super::decode(&ctx, body)?;
    if !ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::DescribeConfigs)
    {
        let e = ResponseError::ClusterAuthorizationFailed;
        return ctx.ready(
            &DescribeClientQuotasResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(super::str_bytes(&e.to_string())))
                .with_entries(None),
        );
    }
    let components: Vec<FilterComponent> = request
        .components
        .iter()
        .map(|c| {
            (
                c.entity_type.to_string(),
                c.match_type,
                c._match.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    let filter = match QuotaFilter::new(&components, request.strict) {
        Ok(f) => f,
        Err(e) => {
            return ctx.ready(
                &DescribeClientQuotasResponse::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(super::str_bytes(&e.to_string())))
                    .with_entries(None),
            )
        }
    };
    let image = ctx.metadata().image();
    let entries = image
        .client_quotas()
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|p| {
                            EntityData::default()
                                .with_entity_type(super::str_bytes(&p.entity_type))
                                .with_entity_name(p.name.as_deref().map(super::str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(k, v)| {
                            ValueData::default()
                                .with_key(super::str_bytes(k))
                                .with_value(*v)
                        })
                        .collect(),
                )
        })
        .collect();
    ctx.ready(
        &DescribeClientQuotasResponse::default()
            .with_error_code(0)
            .with_error_message(None)
            .with_entries(Some(entries)),
    )
}
