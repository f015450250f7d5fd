//! DescribeConfigs for topics and brokers, with sources and synonyms.

use crate::config::BROKER_PROPERTIES;
use crate::request::{CloseConnection, Deferred, RequestContext};
use crate::topic_config::{resolve_broker_value, topic_config_def, ConfigSource};
use bytes::Bytes;
use moldau_protocol::kafka::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use moldau_protocol::kafka::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use moldau_protocol::ResponseError;

/// Resource types of the config APIs.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

fn entry(
    name: &str,
    value: Option<String>,
    source: ConfigSource,
    config_type: i8,
    synonyms: Vec<DescribeConfigsSynonym>,
) -> DescribeConfigsResourceResult {
    // Secrets (Kafka's PASSWORD type) are never sent back, as Kafka does.
    let sensitive = config_type == crate::config::PropertyKind::Password.config_type();
    let value = value.filter(|_| !sensitive);
    DescribeConfigsResourceResult::default()
        .with_name(super::str_bytes(name))
        .with_value(value.as_deref().map(super::str_bytes))
        .with_read_only(false)
        .with_config_source(source as i8)
        .with_is_sensitive(sensitive)
        .with_config_type(config_type)
        .with_synonyms(synonyms)
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeConfigsRequest = super::decode(&ctx, body)?;
    let image = ctx.metadata().image();
    let access = ctx.access();
    let mut results = Vec::new();
    for resource in request.resources {
        let name = resource.resource_name.to_string();
        let keys: Option<Vec<String>> = resource
            .configuration_keys
            .map(|k| k.iter().map(|s| s.to_string()).collect());
        let wanted = |n: &str| keys.as_ref().is_none_or(|k| k.iter().any(|x| x == n));
        let result = DescribeConfigsResult::default()
            .with_error_message(None)
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        if let Some(e) = super::config_access::refusal(
            &access,
            moldau_protocol::acl::AclOperation::DescribeConfigs,
            resource.resource_type,
            &name,
        ) {
            results.push(
                result
                    .with_error_code(e.code())
                    .with_error_message(Some(super::str_bytes(&e.to_string()))),
            );
            continue;
        }
        let result = match resource.resource_type {
            RESOURCE_TOPIC => {
                if image.topic(&name).is_none() {
                    results.push(
                        result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(super::str_bytes(&format!(
                                "Topic '{name}' does not exist."
                            )))),
                    );
                    continue;
                }
                let configs = ctx
                    .metadata()
                    .topic_configs(&image, &name)
                    .into_iter()
                    .filter(|c| wanted(c.name))
                    .map(|c| {
                        let mut synonyms = Vec::new();
                        if request.include_synonyms {
                            if c.source == ConfigSource::DynamicTopic {
                                synonyms.push(
                                    DescribeConfigsSynonym::default()
                                        .with_name(super::str_bytes(c.name))
                                        .with_value(c.value.as_deref().map(super::str_bytes))
                                        .with_source(c.source as i8),
                                );
                            }
                            if let Some(def) = topic_config_def(c.name) {
                                let (v, s) = resolve_broker_value(
                                    ctx.config(),
                                    image.broker_configs(None),
                                    def.synonym,
                                );
                                synonyms.push(
                                    DescribeConfigsSynonym::default()
                                        .with_name(super::str_bytes(def.synonym))
                                        .with_value(v.as_deref().map(super::str_bytes))
                                        .with_source(s as i8),
                                );
                            }
                        }
                        entry(c.name, c.value, c.source, c.kind.config_type(), synonyms)
                    })
                    .collect();
                result.with_error_code(0).with_configs(configs)
            }
            RESOURCE_BROKER => {
                if !name.is_empty() && name != ctx.metadata().node_id().to_string() {
                    results.push(
                        result
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(super::str_bytes(&format!(
                                "Broker {name} is not this broker."
                            )))),
                    );
                    continue;
                }
                let configs = BROKER_PROPERTIES
                    .iter()
                    .filter(|d| wanted(d.name))
                    .map(|d| {
                        let (v, s) =
                            resolve_broker_value(ctx.config(), image.broker_configs(None), d.name);
                        entry(d.name, v, s, d.kind.config_type(), Vec::new())
                    })
                    .collect();
                result.with_error_code(0).with_configs(configs)
            }
            other => result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(super::str_bytes(&format!(
                    "Resource type {other} is not supported."
                )))),
        };
        results.push(result);
    }
    ctx.ready(&DescribeConfigsResponse::default().with_results(results))
}
