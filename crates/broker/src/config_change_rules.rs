//! What a config change may be, as this broker's code knows it: the checks and the
//! inherited values the active controller decides IncrementalAlterConfigs and
//! AlterConfigs with (`moldau_metadata::controller::ConfigRules`).

use crate::config::{broker_property, validate_value, BrokerConfig, ConfigError};
use crate::topic_config::{
    resolve_topic_configs, resolved_value, topic_config_def, validate_topic_config,
};
use moldau_metadata::{ConfigResource, MetadataImage};
use std::collections::BTreeMap;

/// A topic override set to `value` (or removed, None): a known name and a valid value.
pub fn check_topic_change(name: &str, value: Option<&str>) -> Result<(), String> {
    match value {
        Some(value) => validate_topic_config(name, value),
        None => topic_config_def(name)
            .map(|_| ())
            .ok_or_else(|| ConfigError::Unknown(name.to_string())),
    }
    .map_err(|e| e.to_string())
}

/// A cluster-wide broker config set (or removed): only dynamic ones, valid values.
pub fn check_broker_change(name: &str, value: Option<&str>) -> Result<(), String> {
    let def = broker_property(name)
        .filter(|d| d.dynamic)
        .ok_or_else(|| format!("Broker config '{name}' cannot be updated dynamically."))?;
    match value {
        Some(value) => validate_value(def, value).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// The value `resource` has for `name` without an override of its own: for a topic,
/// the cluster's dynamic default, else `config`'s (the deciding broker's); for the
/// brokers, `config`'s.
pub fn inherited_value(
    config: Option<&BrokerConfig>,
    image: &MetadataImage,
    resource: &ConfigResource,
    name: &str,
) -> Option<String> {
    let config = config?;
    match resource {
        ConfigResource::Topic(_) => {
            let resolved =
                resolve_topic_configs(config, image.broker_configs(None), &BTreeMap::new());
            resolved_value(&resolved, name).map(str::to_string)
        }
        ConfigResource::Broker(_) => Some(config.string(name)),
    }
}
