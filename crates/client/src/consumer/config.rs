//! Consumer settings, named after the Java client's properties, and their builder.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::assignor::AssignmentStrategy;
use super::listener::RebalanceListener;
use crate::cluster::ClientConfig;
use crate::codec::DECOMPRESSED_BATCH_BYTES_MAX_DEFAULT;
use crate::error::{Error, Result};
use crate::property;

/// Java's `session.timeout.ms` default.
pub const SESSION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(45);
/// Java's `heartbeat.interval.ms` default.
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(3);
/// Java's `max.poll.interval.ms` default.
pub const MAX_POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(300);
/// Java's `auto.commit.interval.ms` default.
pub const AUTO_COMMIT_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// Java's `max.poll.records` default.
pub const MAX_POLL_RECORDS_DEFAULT: usize = 500;
/// Java's `fetch.min.bytes` default.
pub const FETCH_MIN_BYTES_DEFAULT: i32 = 1;
/// Java's `fetch.max.bytes` default.
pub const FETCH_MAX_BYTES_DEFAULT: i32 = 50 * 1024 * 1024;
/// Java's `fetch.max.wait.ms` default.
pub const FETCH_MAX_WAIT_DEFAULT: Duration = Duration::from_millis(500);
/// Java's `max.partition.fetch.bytes` default.
pub const MAX_PARTITION_FETCH_BYTES_DEFAULT: i32 = 1024 * 1024;

/// `auto.offset.reset`: where to start when there is no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The oldest offset still in the log.
    Earliest,
    /// The end of the log (only records written from now on).
    #[default]
    Latest,
    /// Fail with [`Error::NoOffset`].
    None,
}

impl OffsetReset {
    /// Parses `earliest`, `latest` or `none`.
    pub fn from_name(s: &str) -> Result<OffsetReset> {
        match s {
            "earliest" | "smallest" | "beginning" => Ok(OffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(OffsetReset::Latest),
            "none" | "error" => Ok(OffsetReset::None),
            other => Err(Error::Config(format!("unknown auto.offset.reset {other}"))),
        }
    }
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything, including records of open or aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only committed transactional records, up to the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The value on the wire.
    pub fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// Which group protocol the consumer speaks (`group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// JoinGroup / SyncGroup with a leader member running the assignor.
    #[default]
    Classic,
    /// KIP-848: ConsumerGroupHeartbeat; the broker assigns.
    Consumer,
}

impl GroupProtocol {
    /// Parses Kafka's names (`classic`, `consumer`, any case).
    pub fn from_name(name: &str) -> Result<GroupProtocol> {
        match name.to_ascii_lowercase().as_str() {
            "classic" => Ok(GroupProtocol::Classic),
            "consumer" => Ok(GroupProtocol::Consumer),
            other => Err(Error::Config(format!("unknown group.protocol {other}"))),
        }
    }
}

/// Every consumer setting.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// Connection and metadata settings.
    pub client: ClientConfig,
    /// `group.id`; required for `subscribe` and commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: makes the member static.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: longest gap between polls before the member leaves.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, in order of preference.
    pub assignment_strategies: Vec<AssignmentStrategy>,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`; also how much is prefetched per partition.
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `check.crcs`.
    pub check_crcs: bool,
    /// `client.rack`.
    pub client_rack: Option<String>,
    /// `group.protocol`: classic (JoinGroup/SyncGroup) or consumer (KIP-848).
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor`: the broker-side assignor to ask for (consumer
    /// protocol only; the broker's default when unset).
    pub group_remote_assignor: Option<String>,
    /// Largest size one batch may decompress to, in bytes.
    pub decompressed_batch_bytes_max: usize,
    /// Called around rebalances.
    pub rebalance_listener: Option<Arc<dyn RebalanceListener>>,
    /// The settings only the classic protocol takes that were named (through `set`
    /// or the builder), whatever their value: the consumer protocol refuses them,
    /// as Kafka's consumer refuses them when configured at all.
    pub classic_settings_named: BTreeSet<&'static str>,
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("client", &self.client)
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("assignment_strategies", &self.assignment_strategies)
            .field("enable_auto_commit", &self.enable_auto_commit)
            .field("auto_offset_reset", &self.auto_offset_reset)
            .finish_non_exhaustive()
    }
}

const SESSION_TIMEOUT_KEY: &str = "session.timeout.ms";
const HEARTBEAT_INTERVAL_KEY: &str = "heartbeat.interval.ms";
const ASSIGNMENT_STRATEGY_KEY: &str = "partition.assignment.strategy";

/// Java's `partition.assignment.strategy` default.
fn default_assignment_strategies() -> Vec<AssignmentStrategy> {
    vec![
        AssignmentStrategy::Range,
        AssignmentStrategy::CooperativeSticky,
    ]
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client: ClientConfig {
                allow_auto_topic_creation: false,
                ..ClientConfig::default()
            },
            group_id: None,
            group_instance_id: None,
            session_timeout: SESSION_TIMEOUT_DEFAULT,
            heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
            max_poll_interval: MAX_POLL_INTERVAL_DEFAULT,
            assignment_strategies: default_assignment_strategies(),
            enable_auto_commit: true,
            auto_commit_interval: AUTO_COMMIT_INTERVAL_DEFAULT,
            auto_offset_reset: OffsetReset::Latest,
            max_poll_records: MAX_POLL_RECORDS_DEFAULT,
            fetch_min_bytes: FETCH_MIN_BYTES_DEFAULT,
            fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
            fetch_max_wait: FETCH_MAX_WAIT_DEFAULT,
            max_partition_fetch_bytes: MAX_PARTITION_FETCH_BYTES_DEFAULT,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            client_rack: None,
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            decompressed_batch_bytes_max: DECOMPRESSED_BATCH_BYTES_MAX_DEFAULT,
            rebalance_listener: None,
            classic_settings_named: BTreeSet::new(),
        }
    }
}

impl ConsumerConfig {
    /// Checks the settings for values that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.max_poll_records == 0 {
            return Err(Error::Config("max.poll.records must be positive".into()));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(Error::Config(
                "heartbeat.interval.ms must be lower than session.timeout.ms".into(),
            ));
        }
        if self.assignment_strategies.is_empty() {
            return Err(Error::Config(
                "partition.assignment.strategy is empty".into(),
            ));
        }
        if self.max_partition_fetch_bytes <= 0 || self.fetch_max_bytes <= 0 {
            return Err(Error::Config("fetch sizes must be positive".into()));
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return Err(Error::Config("group.instance.id needs group.id".into()));
        }
        match self.group_protocol {
            GroupProtocol::Classic if self.group_remote_assignor.is_some() => {
                return Err(Error::Config(
                    "group.remote.assignor needs group.protocol=consumer".into(),
                ));
            }
            GroupProtocol::Consumer => {
                // As Kafka's consumer: with the consumer protocol the broker owns the
                // session, the heartbeat interval and the assignment.
                let broker_owned = [
                    (
                        SESSION_TIMEOUT_KEY,
                        self.session_timeout != SESSION_TIMEOUT_DEFAULT,
                    ),
                    (
                        HEARTBEAT_INTERVAL_KEY,
                        self.heartbeat_interval != HEARTBEAT_INTERVAL_DEFAULT,
                    ),
                    (
                        ASSIGNMENT_STRATEGY_KEY,
                        self.assignment_strategies != default_assignment_strategies(),
                    ),
                ];
                let set = |(name, changed): &(&str, bool)| {
                    *changed || self.classic_settings_named.contains(name)
                };
                if let Some((name, _)) = broker_owned.iter().find(|b| set(b)) {
                    return Err(Error::Config(format!(
                        "{name} is not supported with group.protocol=consumer (the broker decides it)"
                    )));
                }
            }
            GroupProtocol::Classic => {}
        }
        Ok(())
    }

    /// Applies one Kafka-style property (`auto.offset.reset=earliest`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        if let Some(outcome) = property::set_common(&mut self.client, key, value) {
            return outcome;
        }
        let ms = |v: &str| property::millis(key, v);
        let int = |v: &str| -> Result<i32> {
            v.parse::<i32>()
                .map_err(|_| Error::Config(format!("{key} must be an integer, not {v}")))
        };
        let boolean = |v: &str| property::boolean(key, v);
        match key {
            "group.id" => self.group_id = Some(value.to_string()),
            "group.instance.id" => self.group_instance_id = Some(value.to_string()),
            SESSION_TIMEOUT_KEY => {
                self.session_timeout = ms(value)?;
                self.classic_settings_named.insert(SESSION_TIMEOUT_KEY);
            }
            HEARTBEAT_INTERVAL_KEY => {
                self.heartbeat_interval = ms(value)?;
                self.classic_settings_named.insert(HEARTBEAT_INTERVAL_KEY);
            }
            "max.poll.interval.ms" => self.max_poll_interval = ms(value)?,
            ASSIGNMENT_STRATEGY_KEY => {
                self.assignment_strategies = value
                    .split(',')
                    .map(|s| AssignmentStrategy::from_name(s.trim()))
                    .collect::<Result<_>>()?;
                self.classic_settings_named.insert(ASSIGNMENT_STRATEGY_KEY);
            }
            "enable.auto.commit" => self.enable_auto_commit = boolean(value)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = ms(value)?,
            "auto.offset.reset" => self.auto_offset_reset = OffsetReset::from_name(value)?,
            "max.poll.records" => self.max_poll_records = int(value)?.max(0) as usize,
            "fetch.min.bytes" => self.fetch_min_bytes = int(value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = int(value)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = ms(value)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = int(value)?,
            "isolation.level" => {
                self.isolation_level = match value {
                    "read_committed" => IsolationLevel::ReadCommitted,
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    other => return Err(Error::Config(format!("unknown isolation.level {other}"))),
                }
            }
            "check.crcs" => self.check_crcs = boolean(value)?,
            "client.rack" => self.client_rack = Some(value.to_string()),
            "group.protocol" => self.group_protocol = GroupProtocol::from_name(value)?,
            "group.remote.assignor" => self.group_remote_assignor = Some(value.to_string()),
            other => return Err(Error::Config(format!("unknown consumer property {other}"))),
        }
        Ok(())
    }
}

/// Builds a [`crate::consumer::Consumer`].
#[derive(Debug, Clone, Default)]
pub struct ConsumerBuilder {
    config: ConsumerConfig,
}

impl ConsumerBuilder {
    /// Starts from the defaults with these bootstrap servers (comma separated).
    pub fn new(bootstrap_servers: &str) -> ConsumerBuilder {
        let mut config = ConsumerConfig::default();
        config.client.bootstrap_servers = bootstrap_servers
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        ConsumerBuilder { config }
    }
    /// Sets `group.id`.
    pub fn group_id(mut self, id: &str) -> Self {
        self.config.group_id = Some(id.to_string());
        self
    }
    /// Sets `group.instance.id` (static membership).
    pub fn group_instance_id(mut self, id: &str) -> Self {
        self.config.group_instance_id = Some(id.to_string());
        self
    }
    /// Sets `auto.offset.reset`.
    pub fn auto_offset_reset(mut self, r: OffsetReset) -> Self {
        self.config.auto_offset_reset = r;
        self
    }
    /// Sets `enable.auto.commit`.
    pub fn enable_auto_commit(mut self, on: bool) -> Self {
        self.config.enable_auto_commit = on;
        self
    }
    /// Sets `partition.assignment.strategy`.
    pub fn assignment_strategies(mut self, s: Vec<AssignmentStrategy>) -> Self {
        self.config.assignment_strategies = s;
        self.config
            .classic_settings_named
            .insert(ASSIGNMENT_STRATEGY_KEY);
        self
    }
    /// Sets `max.poll.records`.
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.config.max_poll_records = n;
        self
    }
    /// Sets `session.timeout.ms`.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.config.session_timeout = d;
        self.config
            .classic_settings_named
            .insert(SESSION_TIMEOUT_KEY);
        self
    }
    /// Sets `heartbeat.interval.ms`.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.config.heartbeat_interval = d;
        self.config
            .classic_settings_named
            .insert(HEARTBEAT_INTERVAL_KEY);
        self
    }
    /// Sets the rebalance listener.
    pub fn rebalance_listener(mut self, l: Arc<dyn RebalanceListener>) -> Self {
        self.config.rebalance_listener = Some(l);
        self
    }
    /// Sets `client.id`.
    pub fn client_id(mut self, id: &str) -> Self {
        self.config.client.connection.client_id = id.to_string();
        self
    }
    /// Sets any Kafka-style property by name.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ConsumerConfig) -> Self {
        self.config = config;
        self
    }
    /// Validates the settings and creates the consumer (its background tasks run on
    /// the current tokio runtime).
    pub fn build(self) -> Result<crate::consumer::Consumer> {
        crate::consumer::Consumer::new(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_and_validate() {
        let mut c = ConsumerConfig::default();
        c.set("group.id", "g").unwrap();
        c.set("auto.offset.reset", "earliest").unwrap();
        c.set(
            "partition.assignment.strategy",
            "roundrobin, cooperative-sticky",
        )
        .unwrap();
        c.set("enable.auto.commit", "false").unwrap();
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert_eq!(
            c.assignment_strategies,
            vec![
                AssignmentStrategy::RoundRobin,
                AssignmentStrategy::CooperativeSticky
            ]
        );
        assert!(!c.enable_auto_commit);
        c.validate().unwrap();
        assert!(c.set("enable.auto.commit", "maybe").is_err());
        c.heartbeat_interval = c.session_timeout;
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_consumer_protocol_refuses_what_the_broker_decides() {
        let mut c = ConsumerConfig::default();
        c.set("group.id", "g").unwrap();
        assert!(c.set("group.protocol", "bogus").is_err());
        c.set("group.remote.assignor", "range").unwrap();
        assert!(c.validate().is_err(), "remote assignor needs the protocol");
        c.set("group.protocol", "CONSUMER").unwrap();
        assert_eq!(c.group_protocol, GroupProtocol::Consumer);
        c.validate().unwrap();
        for (key, value) in [
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "100"),
            ("partition.assignment.strategy", "roundrobin"),
        ] {
            let mut bad = c.clone();
            bad.set(key, value).unwrap();
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        // Named at its default value: refused all the same, as Kafka's consumer does.
        let mut named = c.clone();
        named.set("session.timeout.ms", "45000").unwrap();
        assert!(named.validate().is_err());
    }
}
