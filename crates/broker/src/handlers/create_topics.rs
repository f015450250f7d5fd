//! CreateTopics: validate, create through the controller, report configs (v5+).
//! Needs CREATE on the cluster or on the topic (TOPIC_AUTHORIZATION_FAILED); limited
//! by the controller mutation quota (strict from v6, KIP-599). A created topic's
//! configs, partition count and replication factor are reported only with
//! DESCRIBE_CONFIGS on it (else TOPIC_AUTHORIZATION_FAILED as its config error), as
//! Kafka's controller does.

use super::mutation_quota;
use crate::controller::NewTopic;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use moldau_protocol::kafka::messages::{CreateTopicsRequest, CreateTopicsResponse};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap};

/// The first CreateTopics version refused THROTTLING_QUOTA_EXCEEDED (KIP-599).
const STRICT_QUOTA_VERSION_MIN: i16 = 6;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: CreateTopicsRequest = super::decode(&ctx, body)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let access = ctx.access();
    let cluster_create = access.cluster(AclOperation::Create);
    let mut results = Vec::new();
    for t in request.topics {
        let name = t.name.0.to_string();
        let fail = |e: ResponseError, msg: String| {
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(e.code())
                .with_error_message(Some(super::str_bytes(&msg)))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        };
        if !cluster_create && !access.topic(AclOperation::Create, &name) {
            results.push(fail(
                ResponseError::TopicAuthorizationFailed,
                format!("Authorization failed for topic '{name}'."),
            ));
            continue;
        }
        if seen.get(&name).copied().unwrap_or(0) > 1 {
            results.push(fail(
                ResponseError::InvalidRequest,
                format!("Create topics request from client contains a duplicate topic '{name}'."),
            ));
            continue;
        }
        let mut configs = BTreeMap::new();
        for c in &t.configs {
            if let Some(v) = &c.value {
                configs.insert(c.name.to_string(), v.to_string());
            }
        }
        if !t.assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
            let which = if t.replication_factor != -1 {
                "replication factor"
            } else {
                "numPartitions"
            };
            results.push(fail(
                ResponseError::InvalidRequest,
                format!(
                    "A manual partition assignment was specified, but {which} was not set to -1."
                ),
            ));
            continue;
        }
        let assignments = t
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect();
        if !mutation_quota::admits(&ctx, STRICT_QUOTA_VERSION_MIN, request.validate_only) {
            results.push(fail(
                ResponseError::ThrottlingQuotaExceeded,
                mutation_quota::THROTTLED_MESSAGE.into(),
            ));
            continue;
        }
        let new_topic = NewTopic {
            name: name.clone(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            configs,
            assignments,
        };
        match ctx
            .controller()
            .create_topic(&new_topic, request.validate_only)
            .await
        {
            Ok((id, partitions, replication)) => {
                mutation_quota::record(&ctx, i64::from(partitions), request.validate_only);
                let image = ctx.metadata().image();
                let described = ctx
                    .metadata()
                    .topic_configs(&image, &name)
                    .into_iter()
                    .map(|c| {
                        let source = if new_topic.configs.contains_key(c.name) {
                            crate::topic_config::ConfigSource::DynamicTopic
                        } else {
                            c.source
                        };
                        let value = new_topic.configs.get(c.name).cloned().or(c.value);
                        CreatableTopicConfigs::default()
                            .with_name(super::str_bytes(c.name))
                            .with_value(value.as_deref().map(super::str_bytes))
                            .with_config_source(source as i8)
                    })
                    .collect();
                let mut result = CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(0)
                    .with_error_message(None)
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication);
                if !access.topic(AclOperation::DescribeConfigs, &name) {
                    result = result
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                        .with_topic_config_error_code(
                            ResponseError::TopicAuthorizationFailed.code(),
                        );
                    if ctx.version >= 5 {
                        result = result.with_configs(Some(Vec::new()));
                    }
                } else if ctx.version >= 5 {
                    result = result.with_configs(Some(described));
                }
                if ctx.version >= 7 {
                    result = result.with_topic_id(id.as_uuid());
                }
                results.push(result);
            }
            Err(e) => {
                let code = e.code();
                let mut r = fail(ResponseError::UnknownServerError, e.to_string());
                r.error_code = code;
                results.push(r);
            }
        }
    }
    let throttle_ms = mutation_quota::throttle_ms(&ctx);
    let response = CreateTopicsResponse::default()
        .with_topics(results)
        .with_throttle_time_ms(mutation_quota::field(throttle_ms));
    ctx.ready_throttled(&response, throttle_ms)
}
