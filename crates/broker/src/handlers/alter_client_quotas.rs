//! AlterClientQuotas (KIP-546): each entry is checked, then committed as
//! ClientQuotaRecords (one metadata entry per entry, so it applies whole or not at all).

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::client_quotas::alter_records;
use moldau_metadata::QuotaEntityPart;
use moldau_protocol::kafka::messages::alter_client_quotas_response::{EntityData, EntryData};
use moldau_protocol::kafka::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AlterClientQuotasRequest = super::decode(&ctx, body)?;
    let allowed = ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::AlterConfigs);
    let mut entries = Vec::with_capacity(request.entries.len());
    for entry in request.entries {
        let parts: Vec<QuotaEntityPart> = entry
            .entity
            .iter()
            .map(|e| QuotaEntityPart {
                entity_type: e.entity_type.to_string(),
                name: e.entity_name.as_ref().map(|n| n.to_string()),
            })
            .collect();
        let ops: Vec<(String, f64, bool)> = entry
            .ops
            .iter()
            .map(|o| (o.key.to_string(), o.value, o.remove))
            .collect();
        let outcome = match alter_records(&parts, &ops) {
            Err(e) => Err((ResponseError::InvalidRequest.code(), e.to_string())),
            Ok(records) if request.validate_only || records.is_empty() => Ok(()),
            Ok(records) => ctx
                .controller()
                .commit(&records)
                .await
                .map(|_| ())
                .map_err(|e| (e.code(), e.to_string())),
        };
        let entity = entry
            .entity
            .into_iter()
            .map(|e| {
                EntityData::default()
                    .with_entity_type(e.entity_type)
                    .with_entity_name(e.entity_name)
            })
            .collect();
        let denied = moldau_protocol::ResponseError::ClusterAuthorizationFailed;
        let outcome = if allowed {
            outcome
        } else {
            Err((denied.code(), denied.to_string()))
        };
        let (code, message) = match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code, Some(super::str_bytes(&message))),
        };
        entries.push(
            EntryData::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(entity),
        );
    }
    ctx.ready(&AlterClientQuotasResponse::default().with_entries(entries))
}
