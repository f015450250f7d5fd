//! Broker configuration under Kafka's property names.
//!
//! A property set is a map of name -> string value (from the TOML file, `--set`, or
//! `MOLDAU_*` variables). Every name must be known and every value must parse, or
//! start-up stops with a message naming the property.

use crate::node_config::NodeConfig;
use crate::request_settings::RequestSettings;
use moldau_coordinator::MigrationPolicy;
use moldau_log::config::{SEGMENT_BYTES_MIN, SEGMENT_INDEX_BYTES_MIN};
use std::collections::BTreeMap;
use thiserror::Error;

/// Type of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    Int,
    Long,
    Double,
    Bool,
    Str,
    /// Comma-separated list of strings.
    List,
    /// A secret: DescribeConfigs marks it sensitive and never returns its value.
    Password,
}

impl PropertyKind {
    /// Kafka's DescribeConfigs config type code.
    pub fn config_type(self) -> i8 {
        match self {
            PropertyKind::Bool => 1,
            PropertyKind::Str => 2,
            PropertyKind::Int => 3,
            PropertyKind::Long => 5,
            PropertyKind::Double => 6,
            PropertyKind::List => 7,
            PropertyKind::Password => 9,
        }
    }
}

/// A known property: its name, type, default (None = no default) and range check.
#[derive(Debug, Clone, Copy)]
pub struct PropertyDef {
    pub name: &'static str,
    pub kind: PropertyKind,
    pub default: Option<&'static str>,
    /// Smallest allowed value for numeric properties.
    pub min: Option<i64>,
    /// Changeable at runtime through AlterConfigs.
    pub dynamic: bool,
}

const fn prop(
    name: &'static str,
    kind: PropertyKind,
    default: Option<&'static str>,
    min: Option<i64>,
) -> PropertyDef {
    PropertyDef {
        name,
        kind,
        default,
        min,
        dynamic: false,
    }
}

const fn dynamic(mut def: PropertyDef) -> PropertyDef {
    def.dynamic = true;
    def
}

use PropertyKind::*;

/// Kafka's `Long.MAX_VALUE`, the default of the flush properties.
pub const LONG_MAX: &str = "9223372036854775807";

/// Every broker property Moldau accepts.
pub const BROKER_PROPERTIES: &[PropertyDef] = &[
    prop("node.id", Int, Some("1"), Some(0)),
    prop("broker.id", Int, None, Some(0)),
    // Not a Kafka property (Kafka reads it from meta.properties only): the cluster this
    // node must belong to; start-up refuses a data directory formatted for another.
    prop("cluster.id", Str, None, None),
    prop("log.dirs", Str, None, None),
    prop("log.dir", Str, Some("./moldau-data"), None),
    // Where `__cluster_metadata` lives; the first log directory when unset (Kafka's).
    prop("metadata.log.dir", Str, None, None),
    prop("listeners", List, Some("PLAINTEXT://127.0.0.1:9092"), None),
    prop("advertised.listeners", List, None, None),
    prop(
        "listener.security.protocol.map",
        List,
        Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
        None,
    ),
    prop("inter.broker.listener.name", Str, None, None),
    // TLS and SASL (listener_security.rs); each may also be set for one listener as
    // `listener.name.<listener>.<property>`. Kafka's keystore defaults are JKS, which
    // Moldau refuses with a message: it reads PEM.
    prop("ssl.keystore.type", Str, Some("JKS"), None),
    prop("ssl.keystore.location", Str, None, None),
    prop("ssl.keystore.password", Password, None, None),
    prop("ssl.key.password", Password, None, None),
    prop("ssl.keystore.certificate.chain", Password, None, None),
    prop("ssl.keystore.key", Password, None, None),
    prop("ssl.truststore.type", Str, Some("JKS"), None),
    prop("ssl.truststore.location", Str, None, None),
    prop("ssl.truststore.password", Password, None, None),
    prop("ssl.truststore.certificates", Password, None, None),
    prop("ssl.client.auth", Str, Some("none"), None),
    prop("ssl.principal.mapping.rules", Str, Some("DEFAULT"), None),
    prop("ssl.enabled.protocols", List, Some("TLSv1.2,TLSv1.3"), None),
    prop("sasl.enabled.mechanisms", List, Some("GSSAPI"), None),
    prop(
        "sasl.mechanism.inter.broker.protocol",
        Str,
        Some("GSSAPI"),
        None,
    ),
    prop(
        "sasl.mechanism.controller.protocol",
        Str,
        Some("GSSAPI"),
        None,
    ),
    prop("controller.listener.names", List, None, None),
    // ACLs (authorizer_config.rs): Kafka's StandardAuthorizer class name turns them on.
    prop("authorizer.class.name", Str, Some(""), None),
    prop("super.users", Str, None, None),
    prop("allow.everyone.if.no.acl.found", Bool, Some("false"), None),
    // KRaft: node_config.rs resolves and checks these together.
    prop("process.roles", List, Some("broker,controller"), None),
    prop("controller.quorum.voters", List, None, None),
    prop("controller.quorum.bootstrap.servers", List, None, None),
    prop("broker.rack", Str, None, None),
    prop("broker.heartbeat.interval.ms", Int, Some("2000"), Some(1)),
    prop("broker.session.timeout.ms", Int, Some("9000"), Some(1)),
    // The active controller's automatic preferred-leader rebalance (Kafka's defaults).
    prop("auto.leader.rebalance.enable", Bool, Some("true"), None),
    prop(
        "leader.imbalance.check.interval.seconds",
        Long,
        Some("300"),
        Some(1),
    ),
    prop(
        "leader.imbalance.per.broker.percentage",
        Int,
        Some("10"),
        Some(0),
    ),
    prop("num.partitions", Int, Some("1"), Some(1)),
    prop("default.replication.factor", Int, Some("1"), Some(1)),
    prop("auto.create.topics.enable", Bool, Some("true"), None),
    prop("delete.topic.enable", Bool, Some("true"), None),
    prop("offsets.topic.num.partitions", Int, Some("50"), Some(1)),
    // Kafka's defaults; left unset, internal_topic_shape caps them by the cluster.
    prop("offsets.topic.replication.factor", Int, Some("3"), Some(1)),
    prop("offsets.commit.timeout.ms", Int, Some("5000"), Some(1)),
    // Replication (Kafka's names and defaults).
    prop("num.replica.fetchers", Int, Some("1"), Some(1)),
    prop("replica.lag.time.max.ms", Long, Some("30000"), Some(1)),
    prop("replica.selector.class", Str, None, None),
    prop("replica.fetch.wait.max.ms", Int, Some("500"), Some(0)),
    prop("replica.fetch.min.bytes", Int, Some("1"), Some(1)),
    prop("replica.fetch.max.bytes", Int, Some("1048576"), Some(0)),
    prop(
        "replica.fetch.response.max.bytes",
        Int,
        Some("10485760"),
        Some(0),
    ),
    prop("replica.fetch.backoff.ms", Int, Some("1000"), Some(0)),
    prop("replica.socket.timeout.ms", Int, Some("30000"), Some(1)),
    prop(
        "offsets.topic.segment.bytes",
        Int,
        Some("104857600"),
        Some(1),
    ),
    prop("offsets.retention.minutes", Int, Some("10080"), Some(1)),
    prop(
        "offsets.retention.check.interval.ms",
        Long,
        Some("600000"),
        Some(1),
    ),
    prop("group.min.session.timeout.ms", Int, Some("6000"), Some(0)),
    prop(
        "group.max.session.timeout.ms",
        Int,
        Some("1800000"),
        Some(0),
    ),
    prop(
        "group.initial.rebalance.delay.ms",
        Int,
        Some("3000"),
        Some(0),
    ),
    prop("group.max.size", Int, Some("2147483647"), Some(1)),
    // KIP-848 consumer groups (ConsumerGroupHeartbeat); checked together in validate_cross.
    prop(
        "group.consumer.heartbeat.interval.ms",
        Int,
        Some("5000"),
        Some(1),
    ),
    prop(
        "group.consumer.min.heartbeat.interval.ms",
        Int,
        Some("5000"),
        Some(1),
    ),
    prop(
        "group.consumer.max.heartbeat.interval.ms",
        Int,
        Some("15000"),
        Some(1),
    ),
    prop(
        "group.consumer.session.timeout.ms",
        Int,
        Some("45000"),
        Some(1),
    ),
    prop(
        "group.consumer.min.session.timeout.ms",
        Int,
        Some("45000"),
        Some(1),
    ),
    prop(
        "group.consumer.max.session.timeout.ms",
        Int,
        Some("60000"),
        Some(1),
    ),
    prop("group.consumer.max.size", Int, Some("2147483647"), Some(1)),
    prop(
        "group.consumer.assignors",
        List,
        Some("uniform,range"),
        None,
    ),
    // Online migration between classic and consumer groups (KIP-848): bidirectional,
    // upgrade, downgrade or disabled, Kafka's default first.
    prop(
        "group.consumer.migration.policy",
        Str,
        Some("bidirectional"),
        None,
    ),
    // The transaction coordinator (txn_service.rs) and its topic, __transaction_state.
    prop(
        "transaction.state.log.num.partitions",
        Int,
        Some("50"),
        Some(1),
    ),
    prop(
        "transaction.state.log.replication.factor",
        Int,
        Some("3"),
        Some(1),
    ),
    prop("transaction.state.log.min.isr", Int, Some("2"), Some(1)),
    prop(
        "transaction.state.log.segment.bytes",
        Int,
        Some("104857600"),
        Some(1),
    ),
    prop("transaction.max.timeout.ms", Int, Some("900000"), Some(1)),
    prop(
        "transactional.id.expiration.ms",
        Int,
        Some("604800000"),
        Some(1),
    ),
    prop(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Int,
        Some("10000"),
        Some(1),
    ),
    prop(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Int,
        Some("3600000"),
        Some(1),
    ),
    prop("socket.request.max.bytes", Int, Some("104857600"), Some(1)),
    // Connection limits (connection.rs, connection_limits.rs); -1 never closes idle ones.
    prop("connections.max.idle.ms", Long, Some("600000"), Some(-1)),
    // KIP-368: a SASL session's lifetime; 0 (Kafka's default) never expires one.
    prop("connections.max.reauth.ms", Long, Some("0"), Some(0)),
    // The web console's login (moldau-console login.rs): always on when the console
    // is bound beyond loopback; the token is a shared secret accepted besides users.
    prop("console.auth.enabled", Bool, Some("false"), None),
    prop("console.auth.token", Password, Some(""), None),
    prop(
        "console.session.timeout.ms",
        Long,
        Some("3600000"),
        Some(1000),
    ),
    prop("max.connections", Int, Some("2147483647"), Some(0)),
    prop("max.connections.per.ip", Int, Some("2147483647"), Some(0)),
    prop("max.connections.per.ip.overrides", Str, Some(""), None),
    prop("queued.max.requests", Int, Some("500"), Some(1)),
    // Not a Kafka property: the console's /metrics has one series per topic for
    // partition sizes, offsets and group lag unless this asks for one per partition.
    prop("metrics.partition.level", Bool, Some("false"), None),
    prop(
        "log.retention.check.interval.ms",
        Long,
        Some("300000"),
        Some(1),
    ),
    prop("fetch.max.bytes", Int, Some("57671680"), Some(1024)),
    // Client telemetry (KIP-714): Kafka's limit on one push, and what Moldau asks
    // every client for (Kafka sets these per client-metrics resource): metric name
    // prefixes (empty: nothing) and the push interval.
    prop("telemetry.max.bytes", Int, Some("1048576"), Some(1)),
    prop("telemetry.metrics", List, Some("org.apache.kafka."), None),
    prop("telemetry.push.interval.ms", Int, Some("300000"), Some(100)),
    // Idle idempotent producers are forgotten after this (checked in the log's
    // background pass, every log.retention.check.interval.ms).
    prop("producer.id.expiration.ms", Int, Some("86400000"), Some(1)),
    // Record bytes committed to the metadata log between two snapshots (20 MiB).
    prop(
        "metadata.log.max.record.bytes.between.snapshots",
        Long,
        Some("20971520"),
        Some(1),
    ),
    // Broker-level synonyms of topic configs; the topic name is in topic_config.rs.
    dynamic(prop("message.max.bytes", Int, Some("1048588"), Some(0))),
    dynamic(prop(
        "log.segment.bytes",
        Int,
        Some("1073741824"),
        Some(SEGMENT_BYTES_MIN as i64),
    )),
    dynamic(prop("log.roll.ms", Long, None, Some(1))),
    prop("log.roll.hours", Int, Some("168"), Some(1)),
    dynamic(prop("log.retention.ms", Long, None, Some(-1))),
    prop("log.retention.minutes", Int, None, Some(-1)),
    prop("log.retention.hours", Int, Some("168"), Some(-1)),
    dynamic(prop("log.retention.bytes", Long, Some("-1"), Some(-1))),
    dynamic(prop("log.cleanup.policy", List, Some("delete"), None)),
    dynamic(prop("log.index.interval.bytes", Int, Some("4096"), Some(0))),
    dynamic(prop(
        "log.index.size.max.bytes",
        Int,
        Some("10485760"),
        Some(SEGMENT_INDEX_BYTES_MIN as i64),
    )),
    dynamic(prop(
        "log.flush.interval.messages",
        Long,
        Some(LONG_MAX),
        Some(1),
    )),
    dynamic(prop("log.flush.interval.ms", Long, None, Some(0))),
    dynamic(prop(
        "log.message.timestamp.type",
        Str,
        Some("CreateTime"),
        None,
    )),
    dynamic(prop(
        "log.message.timestamp.before.max.ms",
        Long,
        Some(LONG_MAX),
        Some(0),
    )),
    // Kafka 4 moved this default from Long.MAX to one hour (KIP-1030).
    dynamic(prop(
        "log.message.timestamp.after.max.ms",
        Long,
        Some("3600000"),
        Some(0),
    )),
    dynamic(prop(
        "log.cleaner.delete.retention.ms",
        Long,
        Some("86400000"),
        Some(0),
    )),
    dynamic(prop(
        "log.cleaner.min.compaction.lag.ms",
        Long,
        Some("0"),
        Some(0),
    )),
    dynamic(prop(
        "log.cleaner.max.compaction.lag.ms",
        Long,
        Some(LONG_MAX),
        Some(1),
    )),
    dynamic(prop(
        "log.cleaner.min.cleanable.ratio",
        Double,
        Some("0.5"),
        None,
    )),
    dynamic(prop(
        "log.segment.delete.delay.ms",
        Long,
        Some("60000"),
        Some(0),
    )),
    dynamic(prop("min.insync.replicas", Int, Some("1"), Some(1))),
    dynamic(prop("compression.type", Str, Some("producer"), None)),
    dynamic(prop(
        "unclean.leader.election.enable",
        Bool,
        Some("false"),
        None,
    )),
];

/// Kafka properties Moldau refuses, with the reason: accepting them would leave them
/// silently ignored. (Every property in `BROKER_PROPERTIES` is honoured; where one is
/// honoured only in part, `validate_cross` refuses the rest.)
pub const REFUSED_PROPERTIES: &[(&str, &str)] = &[
    (
        "num.network.threads",
        "Moldau serves connections on its async runtime (one worker per core); there is no network thread pool to size",
    ),
    (
        "num.io.threads",
        "Moldau handles requests on its async runtime (one worker per core); there is no request thread pool to size",
    ),
    (
        "num.recovery.threads.per.data.dir",
        "Moldau opens and recovers partitions on a fixed number of threads",
    ),
];

/// Looks a broker property up by name.
pub fn broker_property(name: &str) -> Option<&'static PropertyDef> {
    BROKER_PROPERTIES.iter().find(|p| p.name == name)
}

/// A property name or value that cannot be accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown property '{0}'")]
    Unknown(String),
    #[error("property '{name}' is not supported: {reason}; remove it")]
    Refused { name: String, reason: String },
    #[error("invalid value '{value}' for '{name}': {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// `name` is a property Moldau does not take, for `reason`.
pub(crate) fn refused(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Refused {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// `value` is not acceptable for `name`, for `reason`.
pub(crate) fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Checks one value against its definition.
pub fn validate_value(def: &PropertyDef, value: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: def.name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let numeric = match def.kind {
        Int => Some(
            value
                .trim()
                .parse::<i32>()
                .map_err(|_| invalid("not a 32-bit integer"))? as i64,
        ),
        Long => Some(
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| invalid("not a 64-bit integer"))?,
        ),
        Double => {
            let v: f64 = value.trim().parse().map_err(|_| invalid("not a number"))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid("must be between 0 and 1"));
            }
            None
        }
        Bool => {
            if !matches!(value.trim(), "true" | "false") {
                return Err(invalid("must be true or false"));
            }
            None
        }
        Str | List | Password => None,
    };
    if let (Some(v), Some(min)) = (numeric, def.min) {
        if v < min {
            return Err(invalid(&format!("must be at least {min}")));
        }
    }
    // Topic configs and their broker-level synonyms: the log's own limits, so that no
    // accepted value can stop a partition from opening.
    crate::topic_config::check_topic_value(def.name, value).map_err(|r| invalid(&r))
}

/// Checks a broker property by name, as start-up and AlterConfigs on a broker do.
pub fn validate_property(name: &str, value: &str) -> Result<(), ConfigError> {
    if let Some((_, reason)) = REFUSED_PROPERTIES.iter().find(|(n, _)| *n == name) {
        return Err(ConfigError::Refused {
            name: name.to_string(),
            reason: reason.to_string(),
        });
    }
    if let Some((listener, property)) = crate::listener_security::split_listener_property(name) {
        return crate::listener_security::validate_listener_property(listener, property, value);
    }
    let def = broker_property(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    validate_value(def, value)
}

/// A validated set of broker properties with typed accessors.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    values: BTreeMap<String, String>,
    /// Identity, roles, quorum and listeners, resolved once.
    pub node: NodeConfig,
    /// The settings requests consult, resolved once.
    pub settings: RequestSettings,
    /// Each listener's TLS and SASL settings, resolved once.
    pub security: crate::listener_security::SecuritySettings,
    /// The ACL authorizer; None when `authorizer.class.name` is empty.
    pub authorizer: Option<moldau_security::Authorizer>,
}

impl BrokerConfig {
    /// Validates every property; the first bad one is the error.
    pub fn from_properties(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        for (name, value) in &props {
            validate_property(name, value)?;
        }
        let mut config = BrokerConfig {
            values: props,
            node: NodeConfig::placeholder(),
            settings: RequestSettings::placeholder(),
            security: Default::default(),
            authorizer: None,
        };
        config.validate_cross()?;
        config.node = NodeConfig::resolve(&config)?;
        config.settings = RequestSettings::resolve(&config)?;
        config.security = crate::listener_security::SecuritySettings::resolve(&config)?;
        config.authorizer = crate::authorizer_config::resolve(&config)?;
        Ok(config)
    }

    fn validate_cross(&self) -> Result<(), ConfigError> {
        let dirs = self.log_dirs();
        for (i, dir) in dirs.iter().enumerate() {
            if dirs[..i].contains(dir) {
                return Err(ConfigError::Invalid {
                    name: "log.dirs".into(),
                    value: self.string("log.dirs"),
                    reason: format!("{dir} is listed twice"),
                });
            }
        }
        // default.replication.factor and the internal topics' factors need no such
        // check: CreateTopics refuses a factor above the number of brokers, as Kafka
        // does (internal_topic_shape says how an unset one is capped).
        if let Some(id) = self.explicit("cluster.id") {
            if moldau_log::properties_file::uuid_from_kafka_string(id).is_none() {
                return Err(ConfigError::Invalid {
                    name: "cluster.id".into(),
                    value: id.to_string(),
                    reason: "not a Kafka uuid (22 characters of URL-safe base64, as `moldau storage random-uuid` prints)".into(),
                });
            }
        }
        let ts = self.string("log.message.timestamp.type");
        if ts != "CreateTime" && ts != "LogAppendTime" {
            return Err(ConfigError::Invalid {
                name: "log.message.timestamp.type".into(),
                value: ts,
                reason: "must be CreateTime or LogAppendTime".into(),
            });
        }
        crate::topic_config::parse_cleanup_policy(&self.string("log.cleanup.policy")).map_err(
            |reason| ConfigError::Invalid {
                name: "log.cleanup.policy".into(),
                value: self.string("log.cleanup.policy"),
                reason,
            },
        )?;
        let compression = self.string("compression.type");
        if crate::topic_config::validate_topic_config("compression.type", &compression).is_err() {
            return Err(ConfigError::Invalid {
                name: "compression.type".into(),
                value: compression,
                reason: "must be producer, uncompressed, gzip, snappy, lz4 or zstd".into(),
            });
        }
        self.validate_consumer_groups()?;
        self.validate_connection_limits()
    }

    /// KIP-848 settings: interval and session timeout inside their bounds (as Kafka
    /// requires at start-up), known assignors, and a known migration policy.
    fn validate_consumer_groups(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, reason: String| ConfigError::Invalid {
            name: name.into(),
            value: self.string(name),
            reason,
        };
        for what in ["heartbeat.interval", "session.timeout"] {
            let name = format!("group.consumer.{what}.ms");
            let min_name = format!("group.consumer.min.{what}.ms");
            let max_name = format!("group.consumer.max.{what}.ms");
            let (value, min, max) = (self.int(&name), self.int(&min_name), self.int(&max_name));
            if min > max {
                return Err(invalid(
                    &min_name,
                    format!("must not exceed {max_name} ({max})"),
                ));
            }
            if value < min || value > max {
                return Err(invalid(
                    &name,
                    format!("must be between {min_name} ({min}) and {max_name} ({max})"),
                ));
            }
        }
        if self.int("group.consumer.heartbeat.interval.ms")
            >= self.int("group.consumer.session.timeout.ms")
        {
            return Err(invalid(
                "group.consumer.heartbeat.interval.ms",
                "must be less than group.consumer.session.timeout.ms".into(),
            ));
        }
        let assignors = self.string("group.consumer.assignors");
        let names = list_items(&assignors);
        if names.is_empty() || names.iter().any(|a| consumer_assignor_name(a).is_none()) {
            return Err(invalid(
                "group.consumer.assignors",
                "Moldau's server-side assignors are uniform and range (or Kafka's UniformAssignor and RangeAssignor class names)".into(),
            ));
        }
        if MigrationPolicy::parse(&self.string("group.consumer.migration.policy")).is_none() {
            return Err(invalid(
                "group.consumer.migration.policy",
                "must be one of bidirectional, upgrade, downgrade, disabled".into(),
            ));
        }
        Ok(())
    }

    /// `group.consumer.migration.policy` (validated at start-up).
    pub fn consumer_migration_policy(&self) -> MigrationPolicy {
        MigrationPolicy::parse(&self.string("group.consumer.migration.policy")).unwrap_or_default()
    }

    /// `group.consumer.assignors` as the short names the coordinator knows.
    pub fn consumer_assignors(&self) -> Vec<String> {
        list_items(&self.string("group.consumer.assignors"))
            .into_iter()
            .filter_map(consumer_assignor_name)
            .map(str::to_string)
            .collect()
    }

    fn validate_connection_limits(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, reason: String| ConfigError::Invalid {
            name: name.into(),
            value: self.string(name),
            reason,
        };
        if self.long("connections.max.idle.ms") == 0 {
            return Err(invalid(
                "connections.max.idle.ms",
                "0 would close every connection at once; -1 keeps idle connections".into(),
            ));
        }
        let overrides = crate::connection_limits::parse_per_ip_overrides(
            &self.string("max.connections.per.ip.overrides"),
        )
        .map_err(|reason| invalid("max.connections.per.ip.overrides", reason))?;
        if self.int("max.connections.per.ip") == 0 && overrides.is_empty() {
            return Err(invalid(
                "max.connections.per.ip",
                "0 is allowed only with max.connections.per.ip.overrides".into(),
            ));
        }
        Ok(())
    }

    /// The explicitly set value, if any.
    pub fn explicit(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value in force: explicit, else the default ("" when there is neither).
    pub fn string(&self, name: &str) -> String {
        self.explicit(name)
            .map(str::to_string)
            .or_else(|| broker_property(name).and_then(|d| d.default.map(str::to_string)))
            .unwrap_or_default()
    }

    fn number(&self, name: &str) -> i64 {
        // Values were validated on construction; defaults are valid by definition.
        self.string(name).trim().parse().unwrap_or(0)
    }

    pub fn int(&self, name: &str) -> i32 {
        self.number(name) as i32
    }
    pub fn long(&self, name: &str) -> i64 {
        self.number(name)
    }
    pub fn bool(&self, name: &str) -> bool {
        self.string(name).trim() == "true"
    }

    pub fn node_id(&self) -> i32 {
        match self.explicit("node.id").or(self.explicit("broker.id")) {
            Some(v) => v.trim().parse().unwrap_or(1),
            None => 1,
        }
    }

    /// The first log directory.
    pub fn data_dir(&self) -> String {
        self.log_dirs().swap_remove(0)
    }

    /// Every log directory: `log.dirs` (comma-separated), else `log.dir`.
    pub fn log_dirs(&self) -> Vec<String> {
        let dirs = self.string("log.dirs");
        let listed: Vec<String> = list_items(&dirs).into_iter().map(str::to_string).collect();
        if listed.is_empty() {
            vec![self.string("log.dir")]
        } else {
            listed
        }
    }

    /// Where the metadata log lives: `metadata.log.dir`, else the first log directory.
    pub fn metadata_log_dir(&self) -> String {
        match self.explicit("metadata.log.dir").map(str::trim) {
            Some(dir) if !dir.is_empty() => dir.to_string(),
            _ => self.data_dir(),
        }
    }

    /// Kafka's log.retention.ms, falling back to minutes, then hours.
    pub fn retention_ms(&self) -> i64 {
        if let Some(v) = self.explicit("log.retention.ms") {
            return v.trim().parse().unwrap_or(-1);
        }
        if let Some(v) = self.explicit("log.retention.minutes") {
            let m: i64 = v.trim().parse().unwrap_or(-1);
            return if m < 0 { -1 } else { m * 60_000 };
        }
        let h = self.long("log.retention.hours");
        if h < 0 {
            -1
        } else {
            h * 3_600_000
        }
    }

    /// Kafka's log.roll.ms, falling back to hours.
    pub fn roll_ms(&self) -> i64 {
        match self.explicit("log.roll.ms") {
            Some(v) => v.trim().parse().unwrap_or(604_800_000),
            None => self.long("log.roll.hours") * 3_600_000,
        }
    }

    pub fn all_explicit(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

/// The non-empty items of a comma-separated list.
/// A server-side assignor by short name or Kafka's class name.
fn consumer_assignor_name(name: &str) -> Option<&'static str> {
    match name.trim() {
        "uniform" | "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => {
            Some("uniform")
        }
        "range" | "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => Some("range"),
        _ => None,
    }
}

fn list_items(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn consumer_group_settings_are_checked_together() {
        let ok = |pairs: &[(&str, &str)]| BrokerConfig::from_properties(props(pairs));
        let c = ok(&[]).unwrap();
        assert_eq!(c.consumer_assignors(), ["uniform", "range"]);
        let c = ok(&[(
            "group.consumer.assignors",
            "org.apache.kafka.coordinator.group.assignor.RangeAssignor",
        )])
        .unwrap();
        assert_eq!(c.consumer_assignors(), ["range"]);
        assert!(ok(&[("group.consumer.assignors", "sticky")]).is_err());
        // Below the minimum, above the maximum, not shorter than the session.
        assert!(ok(&[("group.consumer.session.timeout.ms", "6000")]).is_err());
        assert!(ok(&[("group.consumer.heartbeat.interval.ms", "20000")]).is_err());
        let short = ok(&[
            ("group.consumer.session.timeout.ms", "6000"),
            ("group.consumer.min.session.timeout.ms", "1000"),
            ("group.consumer.heartbeat.interval.ms", "500"),
            ("group.consumer.min.heartbeat.interval.ms", "100"),
        ]);
        assert!(short.is_ok());
        assert!(ok(&[
            ("group.consumer.session.timeout.ms", "45000"),
            ("group.consumer.heartbeat.interval.ms", "15000"),
            ("group.consumer.max.heartbeat.interval.ms", "50000"),
            ("group.consumer.max.session.timeout.ms", "50000"),
            ("group.consumer.min.session.timeout.ms", "15000"),
        ])
        .is_ok());
        for policy in ["bidirectional", "upgrade", "downgrade", "disabled"] {
            let c = ok(&[("group.consumer.migration.policy", policy)]);
            assert!(c.is_ok(), "{policy}");
        }
        assert!(matches!(
            ok(&[("group.consumer.migration.policy", "sideways")]),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn defaults_follow_kafka() {
        let c = BrokerConfig::from_properties(BTreeMap::new()).unwrap();
        assert_eq!(c.int("num.partitions"), 1);
        assert!(c.bool("auto.create.topics.enable"));
        assert_eq!(c.int("offsets.topic.num.partitions"), 50);
        assert_eq!(c.int("message.max.bytes"), 1_048_588);
        assert_eq!(c.retention_ms(), 168 * 3_600_000);
        assert_eq!(
            c.node.listeners.listeners[0].bind_address(),
            "127.0.0.1:9092"
        );
        assert_eq!(c.node.voters, []);
        assert_eq!(c.data_dir(), "./moldau-data");
        assert_eq!(c.node_id(), 1);
    }

    #[test]
    fn unknown_and_bad_values_are_named() {
        assert_eq!(
            BrokerConfig::from_properties(props(&[("no.such.thing", "1")])).unwrap_err(),
            ConfigError::Unknown("no.such.thing".into())
        );
        let err = BrokerConfig::from_properties(props(&[("num.partitions", "zero")])).unwrap_err();
        assert!(err.to_string().contains("num.partitions"));
        let err = BrokerConfig::from_properties(props(&[("num.partitions", "0")])).unwrap_err();
        assert!(err.to_string().contains("at least 1"));
        let err =
            BrokerConfig::from_properties(props(&[("log.message.timestamp.type", "Sometime")]))
                .unwrap_err();
        assert!(err.to_string().contains("log.message.timestamp.type"));
    }

    #[test]
    fn ignored_settings_are_refused_by_name() {
        for pairs in [
            [("num.io.threads", "8")],
            [("listener.name.ssl.ssl.keystore.type", "JKS")],
        ] {
            let err = BrokerConfig::from_properties(props(&pairs)).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Refused { name, .. } if name == pairs[0].0),
                "{err}"
            );
        }
        assert!(BrokerConfig::from_properties(props(&[("log.dirs", "/a")])).is_ok());
        let c = BrokerConfig::from_properties(props(&[
            ("transaction.state.log.replication.factor", "3"),
            ("transaction.state.log.min.isr", "2"),
            ("offsets.topic.replication.factor", "2"),
            ("transaction.max.timeout.ms", "60000"),
        ]))
        .unwrap();
        assert_eq!(c.int("transaction.max.timeout.ms"), 60_000);
        assert_eq!(c.int("transaction.state.log.num.partitions"), 50);
    }

    #[test]
    fn several_log_dirs_as_kafka() {
        let c = BrokerConfig::from_properties(props(&[("log.dirs", " /a, /b ,/c")])).unwrap();
        assert_eq!(c.log_dirs(), ["/a", "/b", "/c"]);
        assert_eq!(c.data_dir(), "/a");
        assert_eq!(c.metadata_log_dir(), "/a");
        let c = BrokerConfig::from_properties(props(&[
            ("log.dirs", "/a,/b"),
            ("metadata.log.dir", "/m"),
        ]))
        .unwrap();
        assert_eq!(c.metadata_log_dir(), "/m");
        let c = BrokerConfig::from_properties(props(&[("log.dir", "/only")])).unwrap();
        assert_eq!(c.log_dirs(), ["/only"]);
        let err = BrokerConfig::from_properties(props(&[("log.dirs", "/a,/b,/a")])).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn connection_limits_are_checked_at_start_up() {
        let refused = |pairs: &[(&str, &str)]| {
            BrokerConfig::from_properties(props(pairs))
                .unwrap_err()
                .to_string()
        };
        assert!(refused(&[("connections.max.idle.ms", "0")]).contains("-1"));
        assert!(refused(&[("max.connections.per.ip", "0")]).contains("overrides"));
        assert!(
            refused(&[("max.connections.per.ip.overrides", "broker1:3")])
                .contains("max.connections.per.ip.overrides")
        );
        assert!(refused(&[("queued.max.requests", "0")]).contains("at least 1"));
        let c = BrokerConfig::from_properties(props(&[
            ("max.connections.per.ip", "0"),
            ("max.connections.per.ip.overrides", "127.0.0.1:4"),
            ("connections.max.idle.ms", "-1"),
        ]))
        .unwrap();
        assert_eq!(c.int("queued.max.requests"), 500);
    }

    #[test]
    fn unknown_compression_type_is_refused() {
        let err =
            BrokerConfig::from_properties(props(&[("compression.type", "brotli")])).unwrap_err();
        assert!(err.to_string().contains("compression.type"));
        assert!(BrokerConfig::from_properties(props(&[("compression.type", "lz4")])).is_ok());
    }

    #[test]
    fn retention_fallbacks() {
        let c = BrokerConfig::from_properties(props(&[("log.retention.minutes", "2")])).unwrap();
        assert_eq!(c.retention_ms(), 120_000);
        let c = BrokerConfig::from_properties(props(&[("log.retention.ms", "-1")])).unwrap();
        assert_eq!(c.retention_ms(), -1);
    }
}
