//! AlterConfigs (legacy): replaces the whole set of overrides of a resource.
//! Authorized here, then validated and decided by the active controller on its
//! image.

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::{ConfigAlteration, ConfigChanges};
use moldau_protocol::kafka::messages::alter_configs_response::AlterConfigsResourceResponse;
use moldau_protocol::kafka::messages::{AlterConfigsRequest, AlterConfigsResponse};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AlterConfigsRequest = super::decode(&ctx, body)?;
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
        let values: Vec<(String, Option<String>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome = match (denied, resource.resource_type) {
            (Some(e), _) => Err(e),
            (None, RESOURCE_TOPIC | RESOURCE_BROKER) => {
                // A topic's overrides not named are removed (the request is the new
                // full set), as the controller's image has them.
                let alteration = ConfigAlteration {
                    resource_type: resource.resource_type,
                    resource_name: name,
                    changes: ConfigChanges::Replace(values),
                };
                ctx.controller()
                    .alter_configs(alteration, request.validate_only)
                    .await
            }
            (None, other) => Err(crate::error::BrokerError::api(
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
    ctx.ready(&AlterConfigsResponse::default().with_responses(responses))
}
