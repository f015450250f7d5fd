//! `/api/v1/topics`: list, create, describe, delete, configs, partitions. Changes go
//! through the broker's controller methods, the same path CreateTopics, DeleteTopics,
//! IncrementalAlterConfigs and CreatePartitions take.

use crate::caller::Caller;
use crate::config_changes::AlterConfigsBody;
use crate::console::Console;
use crate::error::{ApiError, ApiResult};
use crate::extract::{require_confirmation, JsonBody, PathParams, QueryParams};
use crate::history::Rates;
use crate::reader::partition_state;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use moldau_broker::controller::NewTopic;
use moldau_broker::security::AclResource;
use moldau_broker::topic_config::ConfigSource;
use moldau_metadata::{MetadataImage, TopicImage};
use moldau_protocol::acl::AclOperation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One row of the topic list.
#[derive(Debug, Serialize)]
pub struct TopicSummary {
    pub name: String,
    pub internal: bool,
    pub partitions: usize,
    pub replication_factor: usize,
    /// Bytes on disk of the partitions this broker hosts.
    pub size_bytes: u64,
    /// Offsets between log start and high watermark, summed (the record count
    /// unless the topic is compacted or transactional).
    pub records: i64,
    pub rates: Rates,
}

/// Query of the topic list.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Include `__consumer_offsets` and other internal topics (default true).
    pub internal: Option<bool>,
}

fn summary(console: &Console, t: &TopicImage) -> TopicSummary {
    let mut size_bytes = 0u64;
    let mut records = 0i64;
    for p in t.partitions.keys() {
        if let Some(hosted) = console.backend.partitions().get_by_name(&t.name, *p) {
            let s = partition_state(&hosted);
            size_bytes += s.size_bytes;
            records += (s.high_watermark - s.log_start_offset).max(0);
        }
    }
    TopicSummary {
        name: t.name.clone(),
        internal: t.internal,
        partitions: t.partitions.len(),
        replication_factor: t.partitions.values().next().map_or(0, |p| p.replicas.len()),
        size_bytes,
        records,
        rates: console.history.topic_rates(&t.name),
    }
}

/// `GET /api/v1/topics`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<TopicSummary>>> {
    let image = console.backend.metadata().image();
    let needle = q.search.unwrap_or_default().to_lowercase();
    let internal = q.internal.unwrap_or(true);
    let topics = image
        .topics()
        .filter(|t| internal || !t.internal)
        .filter(|t| needle.is_empty() || t.name.to_lowercase().contains(&needle))
        // As Metadata does: topics the caller may not describe are not listed.
        .filter(|t| caller.may_topic(AclOperation::Describe, &t.name))
        .map(|t| summary(&console, t))
        .collect();
    Ok(Json(topics))
}

/// Body of `POST /api/v1/topics`.
#[derive(Debug, Deserialize)]
pub struct CreateTopicBody {
    pub name: String,
    /// Default: the broker's `num.partitions`.
    pub partitions: Option<i32>,
    /// Default: the broker's `default.replication.factor`.
    pub replication_factor: Option<i16>,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub confirm: bool,
    /// Validate only, change nothing.
    #[serde(default)]
    pub validate_only: bool,
}

/// What a topic creation did (or would do).
#[derive(Debug, Serialize)]
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub created: bool,
}

/// `POST /api/v1/topics`
pub async fn create(
    State(console): State<Arc<Console>>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateTopicBody>,
) -> ApiResult<(StatusCode, Json<CreatedTopic>)> {
    // CreateTopics: CREATE on the cluster, or on the topic itself.
    if !caller.may(AclOperation::Create, &AclResource::cluster()) {
        caller.require_topic(AclOperation::Create, &body.name)?;
    }
    if !body.validate_only {
        require_confirmation(
            body.confirm,
            &format!("creating topic '{}' changes the cluster", body.name),
        )?;
    }
    let topic = NewTopic {
        name: body.name.clone(),
        num_partitions: body.partitions.unwrap_or(-1),
        replication_factor: body.replication_factor.unwrap_or(-1),
        configs: body.configs,
        assignments: Vec::new(),
    };
    let validate_only = body.validate_only;
    let (id, partitions, replication_factor) = console
        .backend
        .controller()
        .create_topic(&topic, validate_only)
        .await?;
    let status = if validate_only {
        StatusCode::OK
    } else {
        tracing::info!(topic = %body.name, partitions, "topic created from the console");
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(CreatedTopic {
            name: body.name,
            topic_id: id.to_string(),
            partitions,
            replication_factor,
            created: !validate_only,
        }),
    ))
}

/// One partition of a topic's detail page.
#[derive(Debug, Serialize)]
pub struct PartitionDetail {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// True when this broker leads it but its log could not be opened or hosted:
    /// clients get no leader for it until the files are repaired.
    pub offline: bool,
    /// Why it is offline (the error opening its log).
    pub offline_reason: Option<String>,
    /// The rest is known only for partitions this broker hosts.
    pub log_start_offset: Option<i64>,
    pub high_watermark: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub size_bytes: Option<u64>,
    pub segments: Option<usize>,
}

/// One config of a topic, as DescribeConfigs reports it.
#[derive(Debug, Serialize)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's source names: `DYNAMIC_TOPIC_CONFIG`, `STATIC_BROKER_CONFIG`, ...
    pub source: &'static str,
    /// True when the topic does not override it.
    pub is_default: bool,
}

/// `GET /api/v1/topics/{name}`
#[derive(Debug, Serialize)]
pub struct TopicDetail {
    #[serde(flatten)]
    pub summary: TopicSummary,
    pub topic_id: String,
    pub compacted: bool,
    pub partition_details: Vec<PartitionDetail>,
    pub configs: Vec<ConfigEntry>,
}

/// Kafka's name of a config source.
pub fn source_name(source: ConfigSource) -> &'static str {
    match source {
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
    }
}

/// The topic, or the console's "unknown topic" error.
pub fn topic<'a>(image: &'a MetadataImage, name: &str) -> ApiResult<&'a TopicImage> {
    image
        .topic(name)
        .ok_or_else(|| ApiError::UnknownTopic(name.to_string()))
}

/// `GET /api/v1/topics/{name}`
pub async fn detail(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<TopicDetail>> {
    caller.require_topic(AclOperation::Describe, &name)?;
    let image = console.backend.metadata().image();
    let t = topic(&image, &name)?;
    let mut compacted = false;
    let partition_details = t
        .partitions
        .values()
        .map(|p| {
            let hosted = console
                .backend
                .partitions()
                .get_by_name(&name, p.partition)
                .map(|h| partition_state(&h));
            compacted |= hosted.is_some_and(|s| s.compacted);
            let offline_reason = console
                .backend
                .partitions()
                .logs()
                .offline_reason(&moldau_log::TopicPartition::new(&name, p.partition));
            PartitionDetail {
                partition: p.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                offline: offline_reason.is_some(),
                offline_reason,
                log_start_offset: hosted.map(|s| s.log_start_offset),
                high_watermark: hosted.map(|s| s.high_watermark),
                log_end_offset: hosted.map(|s| s.log_end_offset),
                size_bytes: hosted.map(|s| s.size_bytes),
                segments: hosted.map(|s| s.segments),
            }
        })
        .collect();
    let configs = console
        .backend
        .metadata()
        .topic_configs(&image, &name)
        .into_iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value,
            source: source_name(c.source),
            is_default: c.source != ConfigSource::DynamicTopic,
        })
        .collect();
    Ok(Json(TopicDetail {
        summary: summary(&console, t),
        topic_id: t.id.to_string(),
        compacted,
        partition_details,
        configs,
    }))
}

/// Query of `DELETE /api/v1/topics/{name}`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    /// Must repeat the topic's name.
    pub confirm: Option<String>,
}

/// `DELETE /api/v1/topics/{name}?confirm={name}`
pub async fn delete(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_topic(AclOperation::Delete, &name)?;
    topic(&console.backend.metadata().image(), &name)?;
    if q.confirm.as_deref() != Some(name.as_str()) {
        return Err(ApiError::ConfirmationRequired(format!(
            "deleting topic '{name}' destroys its data; repeat the request with ?confirm={name}"
        )));
    }
    let id = console.backend.controller().delete_topic(&name).await?;
    tracing::info!(topic = %name, "topic deleted from the console");
    Ok(Json(
        serde_json::json!({ "name": name, "topic_id": id.to_string(), "deleted": true }),
    ))
}

/// `PATCH /api/v1/topics/{name}/configs`
pub async fn alter_configs(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<AlterConfigsBody>,
) -> ApiResult<Json<TopicDetail>> {
    caller.require_topic(AclOperation::AlterConfigs, &name)?;
    topic(&console.backend.metadata().image(), &name)?;
    let (changes, confirmed) = body.changes()?;
    // Validate before asking for confirmation, so a typo is reported first.
    console
        .backend
        .controller()
        .alter_topic_configs(&name, &changes, true)
        .await?;
    require_confirmation(
        confirmed,
        &format!("changing configs of topic '{name}' affects its data"),
    )?;
    console
        .backend
        .controller()
        .alter_topic_configs(&name, &changes, false)
        .await?;
    tracing::info!(topic = %name, "topic configs changed from the console");
    detail(State(console), caller, PathParams(name)).await
}

/// Body of `POST /api/v1/topics/{name}/partitions`.
#[derive(Debug, Deserialize)]
pub struct AddPartitionsBody {
    /// The new total number of partitions.
    pub count: i32,
    #[serde(default)]
    pub confirm: bool,
}

/// `POST /api/v1/topics/{name}/partitions`
pub async fn add_partitions(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<AddPartitionsBody>,
) -> ApiResult<Json<TopicDetail>> {
    // CreatePartitions: ALTER on the topic.
    caller.require_topic(AclOperation::Alter, &name)?;
    topic(&console.backend.metadata().image(), &name)?;
    let count = body.count;
    console
        .backend
        .controller()
        .create_partitions(&name, count, true)
        .await?;
    require_confirmation(
        body.confirm,
        &format!("adding partitions to '{name}' changes which partition keys map to"),
    )?;
    console
        .backend
        .controller()
        .create_partitions(&name, count, false)
        .await?;
    detail(State(console), caller, PathParams(name)).await
}
