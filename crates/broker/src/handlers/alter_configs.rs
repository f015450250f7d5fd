//! AlterConfigs (legacy): replaces the whole set of overrides of a resource.

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
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
        let mut changes: Vec<(String, Option<String>)> = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome = match (denied, resource.resource_type) {
            (Some(e), _) => Err(e),
            (None, RESOURCE_TOPIC) => {
                // Overrides not named are removed: the request is the new full set.
                if let Some(t) = ctx.metadata().image().topic(&name) {
                    for k in t.configs.keys() {
                        if !changes.iter().any(|(n, _)| n == k) {
                            changes.push((k.clone(), None));
                        }
                    }
                }
                ctx.controller()
                    .alter_topic_configs(&name, &changes, request.validate_only)
                    .await
            }
            (None, RESOURCE_BROKER) => {
                ctx.controller()
                    .alter_broker_configs(&changes, request.validate_only)
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
