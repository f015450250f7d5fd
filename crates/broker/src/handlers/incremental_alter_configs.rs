//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on single configs.

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::error::BrokerError;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use moldau_protocol::kafka::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use moldau_protocol::ResponseError;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Applies a list operation to the current comma-separated value.
fn list_op(current: Option<&str>, item: &str, append: bool) -> String {
    let mut items: Vec<String> = current
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if append {
        if !items.iter().any(|i| i == item) {
            items.push(item.to_string());
        }
    } else {
        items.retain(|i| i != item);
    }
    items.join(",")
}

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
        let image = ctx.metadata().image();
        let current = |key: &str| -> Option<String> {
            match resource.resource_type {
                RESOURCE_TOPIC => crate::topic_config::resolved_value(
                    &ctx.metadata().topic_configs(&image, &name),
                    key,
                )
                .map(str::to_string),
                _ => Some(ctx.config().string(key)),
            }
        };
        let mut changes = Vec::new();
        let mut bad = None;
        for c in &resource.configs {
            let key = c.name.to_string();
            let value = c.value.as_ref().map(|v| v.to_string());
            match c.config_operation {
                OP_SET => changes.push((key, value)),
                OP_DELETE => changes.push((key, None)),
                OP_APPEND | OP_SUBTRACT => {
                    let v = value.unwrap_or_default();
                    let cur = current(&key);
                    changes.push((
                        key,
                        Some(list_op(cur.as_deref(), &v, c.config_operation == OP_APPEND)),
                    ));
                }
                other => bad = Some(format!("Unknown config operation {other}.")),
            }
        }
        let outcome = match (denied, bad, resource.resource_type) {
            (Some(e), _, _) => Err(e),
            (None, Some(msg), _) => Err(BrokerError::api(ResponseError::InvalidRequest, msg)),
            (None, None, RESOURCE_TOPIC) => {
                ctx.controller()
                    .alter_topic_configs(&name, &changes, request.validate_only)
                    .await
            }
            (None, None, RESOURCE_BROKER) => {
                ctx.controller()
                    .alter_broker_configs(&changes, request.validate_only)
                    .await
            }
            (None, None, other) => Err(BrokerError::api(
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

#[cfg(test)]
mod tests {
    use super::list_op;

    #[test]
    fn list_operations() {
        assert_eq!(list_op(Some("delete"), "compact", true), "delete,compact");
        assert_eq!(list_op(Some("delete,compact"), "delete", false), "compact");
        assert_eq!(list_op(None, "x", true), "x");
    }
}
