//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on single configs of a
//! topic or the brokers. Authorized here, then validated and decided by the active
//! controller on its image (APPEND and SUBTRACT start from the committed values; a
//! topic another broker just created is found though this broker's image lags).

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::error::BrokerError;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::{ConfigAlteration, ConfigChanges, ConfigOp};
use moldau_protocol::kafka::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use moldau_protocol::kafka::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: IncrementalAlterConfigsRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let mut responses = Vec::new();
    for resource in request.resources {
        let name = resource.resource_name.to_string();
        let denied = super::config_access::refusal(
            &access,
            moldau_protocol::acl::AclOperation::AlterConfigs,
            resource.resource_type,
            &name,
        );
        let ops = resource
            .configs
            .iter()
            .map(|c| {
                let value = c.value.as_ref().map(|v| v.to_string());
                (
                    c.name.to_string(),
                    ConfigOp::from_wire(c.config_operation, value),
                )
            })
            .collect();
        let outcome = match (denied, resource.resource_type) {
            (Some(e), _) => Err(e),
            (None, RESOURCE_TOPIC | RESOURCE_BROKER) => {
                let alteration = ConfigAlteration {
                    resource_type: resource.resource_type,
                    resource_name: name,
                    changes: ConfigChanges::Incremental(ops),
                };
                ctx.controller()
                    .alter_configs(alteration, request.validate_only)
                    .await
            }
            (None, other) => Err(BrokerError::api(
                ResponseError::InvalidRequest,
                format!("Resource type {other} is not supported."),
            )),
        };
        let r = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name);
        responses.push(match outcome {
            Ok(()) => r.with_error_code(0).with_error_message(None),
            Err(e) => r
                .with_error_code(e.code())
                .with_error_message(Some(super::str_bytes(&e.to_string()))),
        });
    }
    ctx.ready(&IncrementalAlterConfigsResponse::default().with_responses(responses))
}
