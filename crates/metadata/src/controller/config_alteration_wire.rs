//! IncrementalAlterConfigs and AlterConfigs between a broker and the active
//! controller, in Kafka's encoding: the broker sends the resources a client may
//! alter (after authorization) and reads back each resource's outcome, in the order
//! asked.

use super::config_alteration::{
    ConfigAlteration, ConfigAlterationOutcome, ConfigChanges, ConfigOp,
};
use super::topic_deletion_wire::refusal_of;
use moldau_protocol::kafka::messages::{alter_configs_request, alter_configs_response};
use moldau_protocol::kafka::messages::{
    incremental_alter_configs_request, incremental_alter_configs_response,
};
use moldau_protocol::kafka::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use moldau_protocol::kafka::protocol::StrBytes;

/// The IncrementalAlterConfigs version brokers forward in and the controller answers in.
pub const INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 1;
/// The AlterConfigs version brokers forward in and the controller answers in.
pub const ALTER_CONFIGS_VERSION: i16 = 2;

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn opt_str(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|v| v.to_string())
}

/// The IncrementalAlterConfigs a broker forwards for `alterations` (each with
/// incremental changes; a Replace is sent as SETs and DELETEs).
pub fn incremental_alter_configs_request_to_wire(
    alterations: &[ConfigAlteration],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let resources = alterations
        .iter()
        .map(|a| {
            let ops: Vec<(String, ConfigOp)> = match &a.changes {
                ConfigChanges::Incremental(ops) => ops.clone(),
                ConfigChanges::Replace(values) => values
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.clone()
                                .map_or(ConfigOp::Delete, |v| ConfigOp::Set(Some(v))),
                        )
                    })
                    .collect(),
            };
            let configs = ops
                .iter()
                .map(|(key, op)| {
                    let (id, value) = op.to_wire();
                    AlterableConfig::default()
                        .with_name(str_bytes(key))
                        .with_config_operation(id)
                        .with_value(value.as_deref().map(str_bytes))
                })
                .collect();
            AlterConfigsResource::default()
                .with_resource_type(a.resource_type)
                .with_resource_name(str_bytes(&a.resource_name))
                .with_configs(configs)
        })
        .collect();
    IncrementalAlterConfigsRequest::default()
        .with_resources(resources)
        .with_validate_only(validate_only)
}

/// The alterations a forwarded IncrementalAlterConfigs asks for, and its validate_only.
pub fn incremental_alter_configs_request(
    request: &IncrementalAlterConfigsRequest,
) -> (Vec<ConfigAlteration>, bool) {
    let alterations = request
        .resources
        .iter()
        .map(|r| ConfigAlteration {
            resource_type: r.resource_type,
            resource_name: r.resource_name.to_string(),
            changes: ConfigChanges::Incremental(
                r.configs
                    .iter()
                    .map(|c| {
                        let op = ConfigOp::from_wire(c.config_operation, opt_str(&c.value));
                        (c.name.to_string(), op)
                    })
                    .collect(),
            ),
        })
        .collect();
    (alterations, request.validate_only)
}

/// The AlterConfigs a broker forwards for `alterations` (each a Replace).
pub fn alter_configs_request_to_wire(
    alterations: &[ConfigAlteration],
    validate_only: bool,
) -> AlterConfigsRequest {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let resources = alterations
        .iter()
        .map(|a| {
            let values: Vec<(String, Option<String>)> = match &a.changes {
                ConfigChanges::Replace(values) => values.clone(),
                // Only SET and DELETE have a meaning here.
                ConfigChanges::Incremental(ops) => ops
                    .iter()
                    .map(|(k, op)| (k.clone(), op.to_wire().1))
                    .collect(),
            };
            let configs = values
                .iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(str_bytes(k))
                        .with_value(v.as_deref().map(str_bytes))
                })
                .collect();
            AlterConfigsResource::default()
                .with_resource_type(a.resource_type)
                .with_resource_name(str_bytes(&a.resource_name))
                .with_configs(configs)
        })
        .collect();
    AlterConfigsRequest::default()
        .with_resources(resources)
        .with_validate_only(validate_only)
}

/// The alterations a forwarded AlterConfigs asks for, and its validate_only.
pub fn alter_configs_request(request: &AlterConfigsRequest) -> (Vec<ConfigAlteration>, bool) {
    let alterations = request
        .resources
        .iter()
        .map(|r| ConfigAlteration {
            resource_type: r.resource_type,
            resource_name: r.resource_name.to_string(),
            changes: ConfigChanges::Replace(
                r.configs
                    .iter()
                    .map(|c| (c.name.to_string(), opt_str(&c.value)))
                    .collect(),
            ),
        })
        .collect();
    (alterations, request.validate_only)
}

/// (error code, message) of an outcome, as a response carries them.
fn error_fields(outcome: &ConfigAlterationOutcome) -> (i16, Option<StrBytes>) {
    match &outcome.result {
        Ok(()) => (0, None),
        Err(refused) => (refused.error.code(), Some(str_bytes(&refused.message))),
    }
}

/// The controller's IncrementalAlterConfigs response for `outcomes`.
pub fn incremental_alter_configs_response(
    outcomes: &[ConfigAlterationOutcome],
) -> IncrementalAlterConfigsResponse {
    let responses = outcomes
        .iter()
        .map(|o| {
            let (code, message) = error_fields(o);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(o.resource_type)
                .with_resource_name(str_bytes(&o.resource_name))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The controller's AlterConfigs response for `outcomes`.
pub fn alter_configs_response(outcomes: &[ConfigAlterationOutcome]) -> AlterConfigsResponse {
    let responses = outcomes
        .iter()
        .map(|o| {
            let (code, message) = error_fields(o);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(o.resource_type)
                .with_resource_name(str_bytes(&o.resource_name))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// Each resource's outcome in a controller's IncrementalAlterConfigs response.
pub fn incremental_config_outcomes(
    response: &IncrementalAlterConfigsResponse,
) -> Vec<ConfigAlterationOutcome> {
    response
        .responses
        .iter()
        .map(|r| ConfigAlterationOutcome {
            resource_type: r.resource_type,
            resource_name: r.resource_name.to_string(),
            result: refusal_of(r.error_code, r.error_message.as_deref()),
        })
        .collect()
}

/// Each resource's outcome in a controller's AlterConfigs response.
pub fn config_outcomes(response: &AlterConfigsResponse) -> Vec<ConfigAlterationOutcome> {
    response
        .responses
        .iter()
        .map(|r| ConfigAlterationOutcome {
            resource_type: r.resource_type,
            resource_name: r.resource_name.to_string(),
            result: refusal_of(r.error_code, r.error_message.as_deref()),
        })
        .collect()
}
