//! Topic-level configs: Kafka's names, their broker-level synonyms, validation, and the
//! resolution (topic override, then dynamic broker default, then static broker config,
//! then Kafka's default) that yields a partition's `LogConfig`.

use crate::config::{validate_value, BrokerConfig, ConfigError, PropertyDef, PropertyKind};
use moldau_log::{CleanupPolicy, LogConfig, TimestampType};
use std::collections::BTreeMap;

/// A topic config and the broker property that supplies its default.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub synonym: &'static str,
    pub kind: PropertyKind,
    pub min: Option<i64>,
}

const fn def(
    name: &'static str,
    synonym: &'static str,
    kind: PropertyKind,
    min: Option<i64>,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        synonym,
        kind,
        min,
    }
}

use PropertyKind::*;

pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", "log.cleanup.policy", List, None),
    def("compression.type", "compression.type", Str, None),
    def(
        "delete.retention.ms",
        "log.cleaner.delete.retention.ms",
        Long,
        Some(0),
    ),
    def(
        "file.delete.delay.ms",
        "log.segment.delete.delay.ms",
        Long,
        Some(0),
    ),
    def(
        "flush.messages",
        "log.flush.interval.messages",
        Long,
        Some(1),
    ),
    def("flush.ms", "log.flush.interval.ms", Long, Some(0)),
    def(
        "index.interval.bytes",
        "log.index.interval.bytes",
        Int,
        Some(0),
    ),
    def("max.message.bytes", "message.max.bytes", Int, Some(0)),
    def(
        "message.timestamp.type",
        "log.message.timestamp.type",
        Str,
        None,
    ),
    def(
        "message.timestamp.before.max.ms",
        "log.message.timestamp.before.max.ms",
        Long,
        Some(0),
    ),
    def(
        "message.timestamp.after.max.ms",
        "log.message.timestamp.after.max.ms",
        Long,
        Some(0),
    ),
    def(
        "min.cleanable.dirty.ratio",
        "log.cleaner.min.cleanable.ratio",
        Double,
        None,
    ),
    def(
        "min.compaction.lag.ms",
        "log.cleaner.min.compaction.lag.ms",
        Long,
        Some(0),
    ),
    def(
        "max.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        Long,
        Some(1),
    ),
    def("min.insync.replicas", "min.insync.replicas", Int, Some(1)),
    def("retention.bytes", "log.retention.bytes", Long, Some(-1)),
    def("retention.ms", "log.retention.ms", Long, Some(-1)),
    def("segment.bytes", "log.segment.bytes", Int, Some(14)),
    def(
        "segment.index.bytes",
        "log.index.size.max.bytes",
        Int,
        Some(4),
    ),
    def("segment.ms", "log.roll.ms", Long, Some(1)),
    def(
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
        Bool,
        None,
    ),
];

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Parses `delete`, `compact`, or both (comma-separated).
pub fn parse_cleanup_policy(value: &str) -> Result<CleanupPolicy, String> {
    let mut policy = CleanupPolicy {
        delete: false,
        compact: false,
    };
    for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part {
            "delete" => policy.delete = true,
            "compact" => policy.compact = true,
            other => return Err(format!("unknown cleanup policy '{other}'")),
        }
    }
    Ok(policy)
}

/// Validates a topic config name and value as AlterConfigs and CreateTopics must.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), ConfigError> {
    let d = topic_config_def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let as_prop = PropertyDef {
        name: d.name,
        kind: d.kind,
        default: None,
        min: d.min,
        dynamic: true,
    };
    validate_value(&as_prop, value)?;
    let invalid = |reason: String| ConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    match name {
        "cleanup.policy" => {
            parse_cleanup_policy(value).map_err(invalid)?;
        }
        "message.timestamp.type" if value != "CreateTime" && value != "LogAppendTime" => {
            return Err(invalid("must be CreateTime or LogAppendTime".into()));
        }
        "compression.type"
            if !matches!(
                value,
                "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
            ) =>
        {
            return Err(invalid("unknown compression type".into()));
        }
        _ => {}
    }
    Ok(())
}

/// Where a config's value came from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// One resolved config value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub kind: PropertyKind,
}

/// Resolves the broker-level value of a property (dynamic, then static, then default).
pub fn resolve_broker_value(
    broker: &BrokerConfig,
    dynamic_defaults: Option<&BTreeMap<String, String>>,
    name: &str,
) -> (Option<String>, ConfigSource) {
    if let Some(v) = dynamic_defaults.and_then(|m| m.get(name)) {
        return (Some(v.clone()), ConfigSource::DynamicDefaultBroker);
    }
    // Properties that Kafka derives from coarser ones.
    match name {
        "log.retention.ms" => {
            let explicit = broker.explicit("log.retention.ms").is_some()
                || broker.explicit("log.retention.minutes").is_some()
                || broker.explicit("log.retention.hours").is_some();
            let source = if explicit {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            return (Some(broker.retention_ms().to_string()), source);
        }
        "log.roll.ms" => {
            let explicit = broker.explicit("log.roll.ms").is_some()
                || broker.explicit("log.roll.hours").is_some();
            let source = if explicit {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            return (Some(broker.roll_ms().to_string()), source);
        }
        "log.flush.interval.ms" if broker.explicit(name).is_none() => {
            return (Some(crate::config::LONG_MAX.into()), ConfigSource::Default);
        }
        _ => {}
    }
    match broker.explicit(name) {
        Some(v) => (Some(v.to_string()), ConfigSource::StaticBroker),
        None => (
            crate::config::broker_property(name).and_then(|d| d.default.map(str::to_string)),
            ConfigSource::Default,
        ),
    }
}

/// Every topic config as in force for a topic with the given overrides.
pub fn resolve_topic_configs(
    broker: &BrokerConfig,
    dynamic_defaults: Option<&BTreeMap<String, String>>,
    overrides: &BTreeMap<String, String>,
) -> Vec<ResolvedConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let (value, source) = match overrides.get(d.name) {
                Some(v) => (Some(v.clone()), ConfigSource::DynamicTopic),
                None => resolve_broker_value(broker, dynamic_defaults, d.synonym),
            };
            ResolvedConfig {
                name: d.name,
                value,
                source,
                kind: d.kind,
            }
        })
        .collect()
}

/// True when the flush properties were set anywhere: then Kafka's page-cache
/// behaviour applies instead of Moldau's fsync-before-acknowledge.
fn explicitly_set(r: &ResolvedConfig) -> bool {
    r.source != ConfigSource::Default
}

/// Builds the log's configuration from resolved topic configs.
pub fn log_config_from(resolved: &[ResolvedConfig]) -> LogConfig {
    let mut config = LogConfig::default();
    for r in resolved {
        let Some(v) = r.value.as_deref() else {
            continue;
        };
        let long = || v.trim().parse::<i64>().ok();
        match r.name {
            "cleanup.policy" => {
                if let Ok(p) = parse_cleanup_policy(v) {
                    config.cleanup_policy = p;
                }
            }
            "delete.retention.ms" => config.delete_retention_ms = long().unwrap_or(86_400_000),
            "file.delete.delay.ms" => config.file_delete_delay_ms = long().unwrap_or(60_000),
            "flush.messages" if explicitly_set(r) => {
                config.flush_messages = long().map(|n| n.max(1) as u64)
            }
            "flush.ms" if explicitly_set(r) => config.flush_ms = long(),
            "index.interval.bytes" => {
                config.index_interval_bytes = long().unwrap_or(4096).max(0) as u64
            }
            "message.timestamp.type" => {
                config.message_timestamp_type = if v == "LogAppendTime" {
                    TimestampType::LogAppendTime
                } else {
                    TimestampType::CreateTime
                }
            }
            "min.cleanable.dirty.ratio" => {
                config.min_cleanable_dirty_ratio = v.trim().parse().unwrap_or(0.5)
            }
            "min.compaction.lag.ms" => config.min_compaction_lag_ms = long().unwrap_or(0),
            "retention.bytes" => config.retention_bytes = long().unwrap_or(-1),
            "retention.ms" => config.retention_ms = long().unwrap_or(604_800_000),
            "segment.bytes" => config.segment_bytes = long().unwrap_or(1 << 30).max(14) as u64,
            "segment.index.bytes" => {
                config.segment_index_bytes = long().unwrap_or(10 << 20).max(8) as u64
            }
            "segment.ms" => config.segment_ms = long().unwrap_or(604_800_000),
            _ => {}
        }
    }
    config
}

/// Looks one resolved value up by topic config name.
pub fn resolved_value<'a>(resolved: &'a [ResolvedConfig], name: &str) -> Option<&'a str> {
    resolved
        .iter()
        .find(|r| r.name == name)
        .and_then(|r| r.value.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_beats_broker_beats_default() {
        let broker = BrokerConfig::from_properties(
            [("log.retention.hours".to_string(), "1".to_string())].into(),
        )
        .unwrap();
        let overrides: BTreeMap<String, String> =
            [("segment.bytes".to_string(), "1000".to_string())].into();
        let r = resolve_topic_configs(&broker, None, &overrides);
        let find = |n: &str| r.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(find("segment.bytes").value.as_deref(), Some("1000"));
        assert_eq!(find("segment.bytes").source, ConfigSource::DynamicTopic);
        assert_eq!(find("retention.ms").value.as_deref(), Some("3600000"));
        assert_eq!(find("retention.ms").source, ConfigSource::StaticBroker);
        assert_eq!(find("max.message.bytes").value.as_deref(), Some("1048588"));
        assert_eq!(find("max.message.bytes").source, ConfigSource::Default);
        let log = log_config_from(&r);
        assert_eq!(log.segment_bytes, 1000);
        assert_eq!(log.retention_ms, 3_600_000);
        assert_eq!(
            log.flush_messages, None,
            "unset flush keeps fsync-before-ack"
        );
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(validate_topic_config("cleanup.policy", "compact,delete").is_ok());
        assert!(validate_topic_config("cleanup.policy", "shred").is_err());
        assert!(validate_topic_config("retention.ms", "abc").is_err());
        assert!(matches!(
            validate_topic_config("no.such", "1"),
            Err(ConfigError::Unknown(_))
        ));
    }
}
