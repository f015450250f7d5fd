//! Topic-level configs: Kafka's names, their broker-level synonyms, validation, and the
//! resolution (topic override, then dynamic broker default, then static broker config,
//! then Kafka's default) that yields a partition's `LogConfig`.

use crate::config::{validate_value, BrokerConfig, ConfigError, PropertyDef, PropertyKind};
use moldau_log::config::{FLUSH_NEVER, SEGMENT_BYTES_MIN, SEGMENT_INDEX_BYTES_MIN, SEGMENT_MS_MIN};
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
    def(
        "segment.bytes",
        "log.segment.bytes",
        Int,
        Some(SEGMENT_BYTES_MIN as i64),
    ),
    def(
        "segment.index.bytes",
        "log.index.size.max.bytes",
        Int,
        Some(SEGMENT_INDEX_BYTES_MIN as i64),
    ),
    def("segment.ms", "log.roll.ms", Long, Some(SEGMENT_MS_MIN)),
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

/// The topic config a name stands for: itself, or the topic config whose broker-level
/// synonym it is.
fn as_topic_config(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.name == name || d.synonym == name)
}

/// Checks a value (already of the right type) of a topic config or of its broker-level
/// synonym against what the log and the broker can honour: the log's own limits
/// (`LogConfig::validate`, the one source of them) and the settings accepted only at
/// the value that describes what Moldau does. Names that are neither pass.
pub fn check_topic_value(name: &str, value: &str) -> Result<(), String> {
    let Some(d) = as_topic_config(name) else {
        return Ok(());
    };
    match d.name {
        // Compaction runs on min.cleanable.dirty.ratio alone; a forced maximum lag would
        // be silently ignored.
        "max.compaction.lag.ms" if value.trim() != crate::config::LONG_MAX => {
            return Err(format!(
                "not supported: Moldau has no maximum compaction lag; only {} (never) is accepted",
                crate::config::LONG_MAX
            ));
        }
        _ => {}
    }
    let mut config = LogConfig::default();
    apply_log_setting(&mut config, d.name, value)?;
    config.validate().map_err(|e| e.to_string())
}

/// Sets the `LogConfig` field of one topic config from its value. Names that do not
/// configure the log are ignored here (the broker reads them elsewhere).
fn apply_log_setting(config: &mut LogConfig, name: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    let long = || {
        v.parse::<i64>()
            .map_err(|_| format!("'{v}' is not a 64-bit integer"))
    };
    let unsigned =
        || long().and_then(|n| u64::try_from(n).map_err(|_| format!("'{v}' must not be negative")));
    match name {
        "cleanup.policy" => config.cleanup_policy = parse_cleanup_policy(v)?,
        "delete.retention.ms" => config.delete_retention_ms = long()?,
        "file.delete.delay.ms" => config.file_delete_delay_ms = long()?,
        "flush.messages" => config.flush_messages = finite_flush(long()?).map(|n| n.max(0) as u64),
        "flush.ms" => config.flush_ms = finite_flush(long()?),
        "index.interval.bytes" => config.index_interval_bytes = unsigned()?,
        "message.timestamp.type" => {
            config.message_timestamp_type = match v {
                "CreateTime" => TimestampType::CreateTime,
                "LogAppendTime" => TimestampType::LogAppendTime,
                _ => return Err("must be CreateTime or LogAppendTime".into()),
            }
        }
        "min.cleanable.dirty.ratio" => {
            config.min_cleanable_dirty_ratio =
                v.parse().map_err(|_| format!("'{v}' is not a number"))?
        }
        "min.compaction.lag.ms" => config.min_compaction_lag_ms = long()?,
        "retention.bytes" => config.retention_bytes = long()?,
        "retention.ms" => config.retention_ms = long()?,
        "segment.bytes" => config.segment_bytes = unsigned()?,
        "segment.index.bytes" => config.segment_index_bytes = unsigned()?,
        "segment.ms" => config.segment_ms = long()?,
        _ => {}
    }
    Ok(())
}

/// Kafka's flush settings mean "never" at `Long.MAX_VALUE` (their default, which tools
/// that copy whole config sets write explicitly): only a finite value below it asks for
/// page-cache mode; anything else keeps fsync-before-acknowledge.
fn finite_flush(value: i64) -> Option<i64> {
    (value < FLUSH_NEVER).then_some(value)
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
    // validate_value also runs check_topic_value (the log's limits).
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

/// Builds the log's configuration from resolved topic configs. Values were validated
/// before they were stored; one that still does not parse (written by an older
/// version) keeps Kafka's default and is logged, and one out of the log's range is
/// kept so that opening the log refuses it and the partition is reported offline.
pub fn log_config_from(resolved: &[ResolvedConfig]) -> LogConfig {
    let mut config = LogConfig::default();
    for r in resolved {
        let Some(v) = r.value.as_deref() else {
            continue;
        };
        if let Err(reason) = apply_log_setting(&mut config, r.name, v) {
            tracing::warn!(config = r.name, value = v, %reason, "ignoring unparsable stored topic config; using the default");
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

    fn resolved_with(overrides: &[(&str, &str)]) -> LogConfig {
        let broker = BrokerConfig::from_properties(BTreeMap::new()).unwrap();
        let overrides: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        log_config_from(&resolve_topic_configs(&broker, None, &overrides))
    }

    #[test]
    fn kafkas_never_keeps_fsync_before_ack() {
        let never = crate::config::LONG_MAX;
        let explicit_never = resolved_with(&[("flush.messages", never), ("flush.ms", never)]);
        assert!(
            !explicit_never.page_cache_mode(),
            "Long.MAX_VALUE written explicitly is Kafka's default, not page-cache mode"
        );
        let finite = resolved_with(&[("flush.messages", "1000")]);
        assert_eq!(finite.flush_messages, Some(1000));
        assert!(finite.page_cache_mode());
        let finite_ms = resolved_with(&[("flush.ms", "500")]);
        assert_eq!(finite_ms.flush_ms, Some(500));
        assert!(finite_ms.page_cache_mode());
        let broker = BrokerConfig::from_properties(
            [("log.flush.interval.messages".to_string(), never.to_string())].into(),
        )
        .unwrap();
        let from_broker = log_config_from(&resolve_topic_configs(&broker, None, &BTreeMap::new()));
        assert!(!from_broker.page_cache_mode());
    }

    #[test]
    fn values_the_log_cannot_open_are_refused() {
        for (name, value) in [
            ("segment.index.bytes", "8"),
            ("segment.index.bytes", "11"),
            ("segment.bytes", "13"),
            ("segment.ms", "0"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("retention.ms", "-2"),
            ("flush.messages", "0"),
            ("max.compaction.lag.ms", "1000"),
        ] {
            let err = validate_topic_config(name, value).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert!(validate_topic_config("segment.index.bytes", "12").is_ok());
        let broker = BrokerConfig::from_properties(
            [("log.index.size.max.bytes".to_string(), "8".to_string())].into(),
        );
        assert!(
            broker.is_err(),
            "the broker-level synonym has the same limit"
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
