//! Broker-wide settings that requests consult, resolved once at start-up so no request
//! looks a property up by name.

use crate::config::{BrokerConfig, ConfigError};
use crate::read_replica_selector::RACK_AWARE_REPLICA_SELECTOR;

/// The static broker settings handlers and the controller read per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSettings {
    /// `auto.create.topics.enable`: Metadata creates unknown topics it is asked for.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`: DeleteTopics is allowed.
    pub delete_topic_enable: bool,
    /// `num.partitions`: partitions of a topic created without a count.
    pub num_partitions: i32,
    /// `default.replication.factor`: replicas of a topic created without a factor.
    pub default_replication_factor: i16,
    /// `fetch.max.bytes`: the most one Fetch response carries, whatever the client asks.
    pub fetch_max_bytes: i32,
    /// `offsets.topic.num.partitions`: partitions `__consumer_offsets` is created with.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`: that topic's segment size.
    pub offsets_topic_segment_bytes: i32,
    /// `replica.selector.class` is Kafka's `RackAwareReplicaSelector`: leaders send a
    /// consumer naming its rack to a replica in that rack (KIP-392).
    pub rack_aware_replica_selector: bool,
    /// `offsets.commit.timeout.ms`: how long an offset commit waits for the ISR.
    pub offsets_commit_timeout_ms: i64,
    /// `transaction.state.log.num.partitions`: partitions `__transaction_state` is
    /// created with.
    pub transaction_state_num_partitions: i32,
    /// `transaction.max.timeout.ms`: the longest transaction timeout a producer may ask.
    pub transaction_max_timeout_ms: i32,
    /// `telemetry.metrics`: the metric name prefixes clients are asked to push (KIP-714).
    pub telemetry_metrics: Vec<String>,
    /// `telemetry.push.interval.ms`.
    pub telemetry_push_interval_ms: i32,
    /// `telemetry.max.bytes`: the largest push accepted.
    pub telemetry_max_bytes: i32,
}

impl RequestSettings {
    /// Reads the validated properties; a value the typed field cannot hold is refused.
    pub fn resolve(config: &BrokerConfig) -> Result<Self, ConfigError> {
        let factor = config.int("default.replication.factor");
        let default_replication_factor =
            i16::try_from(factor).map_err(|_| ConfigError::Invalid {
                name: "default.replication.factor".into(),
                value: factor.to_string(),
                reason: format!("must be at most {} (a replica count is 16 bits)", i16::MAX),
            })?;
        let selector = config.explicit("replica.selector.class").map(str::trim);
        let rack_aware_replica_selector = match selector {
            None | Some("") => false,
            Some(RACK_AWARE_REPLICA_SELECTOR) => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "replica.selector.class".into(),
                    value: other.to_string(),
                    reason: format!(
                        "Moldau runs no Java classes; the one selector it has is {RACK_AWARE_REPLICA_SELECTOR} (or leave it unset: consumers read from leaders)"
                    ),
                })
            }
        };
        Ok(RequestSettings {
            rack_aware_replica_selector,
            auto_create_topics_enable: config.bool("auto.create.topics.enable"),
            delete_topic_enable: config.bool("delete.topic.enable"),
            num_partitions: config.int("num.partitions"),
            default_replication_factor,
            fetch_max_bytes: config.int("fetch.max.bytes"),
            offsets_topic_num_partitions: config.int("offsets.topic.num.partitions"),
            offsets_topic_segment_bytes: config.int("offsets.topic.segment.bytes"),
            offsets_commit_timeout_ms: config.long("offsets.commit.timeout.ms"),
            transaction_state_num_partitions: config.int("transaction.state.log.num.partitions"),
            transaction_max_timeout_ms: config.int("transaction.max.timeout.ms"),
            telemetry_metrics: config
                .string("telemetry.metrics")
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
            telemetry_push_interval_ms: config.int("telemetry.push.interval.ms"),
            telemetry_max_bytes: config.int("telemetry.max.bytes"),
        })
    }

    /// Stands in while the properties themselves are checked, before `resolve`.
    pub(crate) fn placeholder() -> Self {
        RequestSettings {
            auto_create_topics_enable: false,
            delete_topic_enable: false,
            num_partitions: 0,
            default_replication_factor: 0,
            fetch_max_bytes: 0,
            offsets_topic_num_partitions: 0,
            offsets_topic_segment_bytes: 0,
            rack_aware_replica_selector: false,
            offsets_commit_timeout_ms: 0,
            transaction_state_num_partitions: 0,
            transaction_max_timeout_ms: 0,
            telemetry_metrics: Vec::new(),
            telemetry_push_interval_ms: 0,
            telemetry_max_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<RequestSettings, ConfigError> {
        let props = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>();
        BrokerConfig::from_properties(props).map(|c| c.settings)
    }

    #[test]
    fn defaults_and_overrides_are_typed() {
        let s = settings(&[]).unwrap();
        assert!(s.auto_create_topics_enable && s.delete_topic_enable);
        assert_eq!((s.num_partitions, s.default_replication_factor), (1, 1));
        assert_eq!(s.fetch_max_bytes, 57_671_680);
        assert_eq!(s.offsets_topic_num_partitions, 50);
        assert_eq!(s.transaction_state_num_partitions, 50);
        assert_eq!(s.transaction_max_timeout_ms, 900_000);
        assert_eq!(s.offsets_commit_timeout_ms, 5_000);
        let s = settings(&[
            ("num.partitions", "6"),
            ("auto.create.topics.enable", "false"),
        ])
        .unwrap();
        assert_eq!(s.num_partitions, 6);
        assert!(!s.auto_create_topics_enable);
    }

    #[test]
    fn only_kafkas_rack_aware_replica_selector_is_taken() {
        assert!(!settings(&[]).unwrap().rack_aware_replica_selector);
        let s = settings(&[("replica.selector.class", RACK_AWARE_REPLICA_SELECTOR)]).unwrap();
        assert!(s.rack_aware_replica_selector);
        let refused = settings(&[("replica.selector.class", "com.example.NearestSelector")]);
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("replica.selector.class")
                && message.contains("RackAwareReplicaSelector"),
            "{message}"
        );
    }

    #[test]
    fn a_replication_factor_beyond_16_bits_is_refused() {
        // It used to be truncated silently (70000 as i16 = 4464).
        let err = settings(&[("default.replication.factor", "70000")]).unwrap_err();
        assert!(
            err.to_string().contains("default.replication.factor"),
            "{err}"
        );
        assert_eq!(
            settings(&[("default.replication.factor", "3")])
                .unwrap()
                .default_replication_factor,
            3
        );
    }
}
