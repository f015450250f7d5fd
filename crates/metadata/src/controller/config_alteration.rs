//! IncrementalAlterConfigs and AlterConfigs on TOPIC and BROKER resources as the
//! active controller decides them: against its own image, so a topic another broker
//! created a moment ago is found, and APPEND/SUBTRACT and AlterConfigs' "remove what
//! is not named" start from the committed overrides rather than a lagging copy.
//! Which names and values are valid is the broker's to say (`ConfigRules`);
//! validate_only returns the outcomes and no records.

use super::ControllerError;
use crate::{ConfigResource, MetadataImage, MetadataRecord};
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

/// Kafka's ConfigResource.Type of a topic and of a broker.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One IncrementalAlterConfigs operation (Kafka's AlterConfigOp.OpType ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(Option<String>),
    Delete,
    Append(Option<String>),
    Subtract(Option<String>),
    /// An id Kafka does not define: INVALID_REQUEST.
    Unknown(i8),
}

impl ConfigOp {
    pub const SET: i8 = 0;
    pub const DELETE: i8 = 1;
    pub const APPEND: i8 = 2;
    pub const SUBTRACT: i8 = 3;

    pub fn from_wire(op: i8, value: Option<String>) -> Self {
        match op {
            Self::SET => ConfigOp::Set(value),
            Self::DELETE => ConfigOp::Delete,
            Self::APPEND => ConfigOp::Append(value),
            Self::SUBTRACT => ConfigOp::Subtract(value),
            other => ConfigOp::Unknown(other),
        }
    }

    /// The operation id and value as sent.
    pub fn to_wire(&self) -> (i8, Option<String>) {
        match self {
            ConfigOp::Set(v) => (Self::SET, v.clone()),
            ConfigOp::Delete => (Self::DELETE, None),
            ConfigOp::Append(v) => (Self::APPEND, v.clone()),
            ConfigOp::Subtract(v) => (Self::SUBTRACT, v.clone()),
            ConfigOp::Unknown(op) => (*op, None),
        }
    }
}

/// What to change on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChanges {
    /// IncrementalAlterConfigs: each operation in turn.
    Incremental(Vec<(String, ConfigOp)>),
    /// AlterConfigs: the new full set of a topic's overrides (those not named are
    /// removed); on a broker, the values named (None removes).
    Replace(Vec<(String, Option<String>)>),
}

/// One resource's changes, as the client named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAlteration {
    pub resource_type: i8,
    pub resource_name: String,
    pub changes: ConfigChanges,
}

/// One resource's answer, in the order asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigAlterationOutcome {
    pub resource_type: i8,
    pub resource_name: String,
    pub result: Result<(), ControllerError>,
}

/// Whether a config may be set to a value (None: its override removed); why not.
pub type ConfigCheck = dyn Fn(&str, Option<&str>) -> Result<(), String> + Sync;

/// What the deciding broker knows of configs. Each check gets a name and the value
/// to set (None: the override is removed) and says why it is refused.
pub struct ConfigRules<'a> {
    pub check_topic: &'a ConfigCheck,
    pub check_broker: &'a ConfigCheck,
    /// The value in force where `resource` has no override of that name (the
    /// cluster's dynamic default, else the deciding broker's own), for APPEND and
    /// SUBTRACT.
    pub inherited: &'a (dyn Fn(&MetadataImage, &ConfigResource, &str) -> Option<String> + Sync),
}

/// Decides `alterations` against `image`. Each resource stands alone: a refused one
/// changes nothing, the others go on.
pub fn alter_configs(
    image: &MetadataImage,
    alterations: &[ConfigAlteration],
    rules: &ConfigRules,
    validate_only: bool,
) -> (Vec<MetadataRecord>, Vec<ConfigAlterationOutcome>) {
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(alterations.len());
    for alteration in alterations {
        let result = match alter_one(image, alteration, rules) {
            Ok(decided) => {
                if !validate_only {
                    records.extend(decided);
                }
                Ok(())
            }
            Err(refused) => Err(refused),
        };
        outcomes.push(ConfigAlterationOutcome {
            resource_type: alteration.resource_type,
            resource_name: alteration.resource_name.clone(),
            result,
        });
    }
    (records, outcomes)
}

fn alter_one(
    image: &MetadataImage,
    alteration: &ConfigAlteration,
    rules: &ConfigRules,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let name = &alteration.resource_name;
    let (resource, overrides, check) = match alteration.resource_type {
        RESOURCE_TOPIC => {
            let topic = image.topic(name).ok_or_else(|| {
                ControllerError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            })?;
            (
                ConfigResource::Topic(name.clone()),
                topic.configs.clone(),
                rules.check_topic,
            )
        }
        // Dynamic broker configs are cluster-wide here, whichever broker is named.
        RESOURCE_BROKER => (
            ConfigResource::Broker(None),
            image.broker_configs(None).cloned().unwrap_or_default(),
            rules.check_broker,
        ),
        other => {
            return Err(ControllerError::new(
                ResponseError::InvalidRequest,
                format!("Resource type {other} is not supported."),
            ))
        }
    };
    let changes = changed_values(image, &resource, &overrides, &alteration.changes, rules)?;
    for (key, value) in &changes {
        check(key, value.as_deref())
            .map_err(|message| ControllerError::new(ResponseError::InvalidConfig, message))?;
    }
    Ok(changes
        .into_iter()
        .map(|(key, value)| MetadataRecord::Config {
            resource: resource.clone(),
            name: key,
            value,
        })
        .collect())
}

/// The values to write (None: remove the override), each name once, in name order.
fn changed_values(
    image: &MetadataImage,
    resource: &ConfigResource,
    overrides: &BTreeMap<String, String>,
    changes: &ConfigChanges,
    rules: &ConfigRules,
) -> Result<BTreeMap<String, Option<String>>, ControllerError> {
    let mut changed: BTreeMap<String, Option<String>> = BTreeMap::new();
    match changes {
        ConfigChanges::Replace(values) => {
            if matches!(resource, ConfigResource::Topic(_)) {
                for key in overrides.keys() {
                    changed.insert(key.clone(), None);
                }
            }
            for (key, value) in values {
                changed.insert(key.clone(), value.clone());
            }
        }
        ConfigChanges::Incremental(ops) => {
            for (key, op) in ops {
                let value = match op {
                    ConfigOp::Set(value) => value.clone(),
                    ConfigOp::Delete => None,
                    ConfigOp::Append(item) | ConfigOp::Subtract(item) => {
                        // An earlier operation of this request on the same name counts.
                        let current = match changed.get(key) {
                            Some(v) => v.clone(),
                            None => overrides
                                .get(key)
                                .cloned()
                                .or_else(|| (rules.inherited)(image, resource, key)),
                        };
                        let item = item.as_deref().unwrap_or_default();
                        let append = matches!(op, ConfigOp::Append(_));
                        Some(list_op(current.as_deref(), item, append))
                    }
                    ConfigOp::Unknown(id) => {
                        return Err(ControllerError::new(
                            ResponseError::InvalidRequest,
                            format!("Unknown config operation {id}."),
                        ))
                    }
                };
                changed.insert(key.clone(), value);
            }
        }
    }
    Ok(changed)
}

/// Whether `image` shows `alteration` made (a broker waits for it, bounded, before
/// answering, so the client's next request there sees its change): each name's
/// last change is in the overrides. A topic this image does not have yet (created
/// through another broker a moment ago) does not show it.
pub fn shows_alteration(image: &MetadataImage, alteration: &ConfigAlteration) -> bool {
    let empty = BTreeMap::new();
    let overrides = match alteration.resource_type {
        RESOURCE_TOPIC => match image.topic(&alteration.resource_name) {
            Some(topic) => &topic.configs,
            None => return false,
        },
        _ => image.broker_configs(None).unwrap_or(&empty),
    };
    let mut last: BTreeMap<&str, ConfigOp> = BTreeMap::new();
    match &alteration.changes {
        ConfigChanges::Incremental(ops) => {
            for (key, op) in ops {
                last.insert(key, op.clone());
            }
        }
        ConfigChanges::Replace(values) => {
            for (key, value) in values {
                let op = value
                    .clone()
                    .map_or(ConfigOp::Delete, |v| ConfigOp::Set(Some(v)));
                last.insert(key, op);
            }
        }
    }
    last.into_iter().all(|(key, op)| {
        let current = overrides.get(key).map(String::as_str);
        let listed = |item: &Option<String>| {
            let item = item.as_deref().unwrap_or_default();
            current.is_some_and(|c| c.split(',').map(str::trim).any(|i| i == item))
        };
        match &op {
            ConfigOp::Set(value) => current == value.as_deref(),
            ConfigOp::Delete => current.is_none(),
            ConfigOp::Append(item) => listed(item),
            ConfigOp::Subtract(item) => !listed(item),
            ConfigOp::Unknown(_) => true,
        }
    })
}

/// APPEND or SUBTRACT of `item` on a comma-separated list.
pub fn list_op(current: Option<&str>, item: &str, append: bool) -> String {
    let mut items: Vec<&str> = current
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if append {
        if !items.contains(&item) {
            items.push(item);
        }
    } else {
        items.retain(|i| *i != item);
    }
    items.join(",")
}
