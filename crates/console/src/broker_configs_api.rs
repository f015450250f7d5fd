//! `/api/v1/broker-configs`: this broker's configuration as DescribeConfigs reports
//! it (value and source of every property), and dynamic updates of the cluster-wide
//! defaults, as `kafka-configs.sh --entity-type brokers --entity-default --alter`.

use crate::caller::Caller;
use crate::config_changes::AlterConfigsBody;
use crate::console::Console;
use crate::error::ApiResult;
use crate::extract::{require_confirmation, JsonBody};
use crate::topics_api::source_name;
use axum::extract::State;
use axum::Json;
use moldau_broker::config::BROKER_PROPERTIES;
use moldau_broker::topic_config::{resolve_broker_value, ConfigSource};
use moldau_protocol::acl::AclOperation;
use serde::Serialize;
use std::sync::Arc;

/// One broker property.
#[derive(Debug, Serialize)]
pub struct BrokerConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's source names: `DYNAMIC_DEFAULT_BROKER_CONFIG`, `STATIC_BROKER_CONFIG`, ...
    pub source: &'static str,
    /// Neither set in the broker's configuration nor changed dynamically.
    pub is_default: bool,
    /// Changeable at runtime (the console can update it).
    pub dynamic: bool,
}

/// `GET /api/v1/broker-configs`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<Vec<BrokerConfigEntry>>> {
    // DescribeConfigs of a broker: DESCRIBE_CONFIGS on the cluster.
    caller.require_cluster(AclOperation::DescribeConfigs)?;
    let b = console.backend.metadata();
    let image = b.image();
    Ok(Json(
        BROKER_PROPERTIES
            .iter()
            .map(|d| {
                let (value, source) =
                    resolve_broker_value(b.config(), image.broker_configs(None), d.name);
                BrokerConfigEntry {
                    name: d.name.to_string(),
                    value,
                    source: source_name(source),
                    is_default: source == ConfigSource::Default,
                    dynamic: d.dynamic,
                }
            })
            .collect(),
    ))
}

/// `PATCH /api/v1/broker-configs`
pub async fn alter(
    State(console): State<Arc<Console>>,
    caller: Caller,
    JsonBody(body): JsonBody<AlterConfigsBody>,
) -> ApiResult<Json<Vec<BrokerConfigEntry>>> {
    caller.require_cluster(AclOperation::AlterConfigs)?;
    let (changes, confirmed) = body.changes()?;
    // Validated first, so a typo or a static property is reported before anything.
    console
        .backend
        .controller()
        .alter_broker_configs(&changes, true)
        .await?;
    require_confirmation(
        confirmed,
        "changing broker configs affects every broker of the cluster",
    )?;
    console
        .backend
        .controller()
        .alter_broker_configs(&changes, false)
        .await?;
    tracing::info!(
        changes = changes.len(),
        "broker configs changed from the console"
    );
    list(State(console), caller).await
}
