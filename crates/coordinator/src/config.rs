//! Group coordinator settings, named after Kafka's broker properties.

use crate::consumer_group::MigrationPolicy;

/// Settings of the group coordinator. `Default` gives Kafka's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: smallest session timeout a member may ask for.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: largest session timeout a member may ask for.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (0 = no wait).
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: most members a group may hold.
    pub group_max_size: i32,
    /// `offsets.retention.minutes`: how long an empty group keeps its committed offsets.
    pub offsets_retention_minutes: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are looked for.
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// `offset.metadata.max.bytes`: longest metadata string an OffsetCommit may carry.
    pub offset_metadata_max_bytes: usize,
    /// How long a new member may wait in JoinGroup before it is dropped (Kafka's
    /// `NewMemberJoinTimeoutMs`, not configurable there either).
    pub new_member_join_timeout_ms: i64,
    /// `group.consumer.heartbeat.interval.ms`: how often consumer-protocol members
    /// heartbeat (the broker tells them).
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.session.timeout.ms`: a consumer-protocol member that has not
    /// heartbeated for this long is removed.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.max.size`: most members of a consumer group.
    pub consumer_max_size: i32,
    /// `group.consumer.assignors`: server-side assignors in order of preference (the
    /// first is the default); the broker accepts `uniform` and `range`.
    pub consumer_assignors: Vec<String>,
    /// `group.consumer.migration.policy`: online upgrade/downgrade between classic
    /// and consumer groups.
    pub consumer_migration_policy: MigrationPolicy,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_num_partitions: 50,
            offset_metadata_max_bytes: 4_096,
            new_member_join_timeout_ms: 300_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_session_timeout_ms: 45_000,
            consumer_max_size: i32::MAX,
            consumer_assignors: vec!["uniform".into(), "range".into()],
            consumer_migration_policy: MigrationPolicy::Bidirectional,
        }
    }
}

impl GroupConfig {
    /// `offsets.retention.minutes` in milliseconds.
    pub fn offsets_retention_ms(&self) -> i64 {
        self.offsets_retention_minutes.saturating_mul(60_000)
    }
}
