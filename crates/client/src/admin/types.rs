//! The values the admin client takes and returns.

use crate::cluster::BrokerInfo;
use crate::offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::TopicPartition;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count; -1 takes the broker's `num.partitions`.
    pub partitions: i32,
    /// Replication factor; -1 takes the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic configs (`cleanup.policy` = `compact`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and the broker's default replication.
    pub fn new(name: impl Into<String>, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: -1,
            configs: Vec::new(),
        }
    }

    /// Sets the replication factor.
    pub fn replication_factor(mut self, rf: i16) -> Self {
        self.replication_factor = rf;
        self
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// Which offset `list_offsets` looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark).
    Latest,
    /// The first offset with a timestamp at or after this (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    /// The ListOffsets timestamp for this spec.
    pub fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => EARLIEST_TIMESTAMP,
            OffsetSpec::Latest => LATEST_TIMESTAMP,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// The cluster as DescribeCluster reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Active controller, -1 when unknown.
    pub controller_id: i32,
    /// Brokers, sorted by node id (fenced ones too, when the broker lists them).
    pub brokers: Vec<BrokerInfo>,
    /// The listed brokers that are fenced (registered but not serving).
    pub fenced_brokers: Vec<i32>,
}

/// One replica of the metadata log in a [`QuorumDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// The replica's node id.
    pub replica_id: i32,
    /// The offset after its last entry, -1 when the leader does not know it.
    pub log_end_offset: i64,
    /// When it last fetched from the leader, ms since the epoch, -1 when unknown.
    pub last_fetch_timestamp: i64,
}

/// The metadata quorum (DescribeQuorum), as its leader describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    /// The active controller, -1 during an election.
    pub leader_id: i32,
    /// The leader's epoch (the Raft term).
    pub leader_epoch: i32,
    /// The offset after the last committed entry.
    pub high_watermark: i64,
    /// The voters (controllers) and how far each has got.
    pub voters: Vec<QuorumReplica>,
    /// Replicas that follow the log without voting.
    pub observers: Vec<QuorumReplica>,
}

/// What a config belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic's configs.
    Topic(String),
    /// A broker's configs (by node id; "" for cluster-wide defaults).
    Broker(String),
    /// A consumer group's configs.
    Group(String),
}

impl ConfigResource {
    /// Kafka's resource type code.
    pub fn type_code(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) => 4,
            ConfigResource::Group(_) => 32,
        }
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        match self {
            ConfigResource::Topic(n) | ConfigResource::Broker(n) | ConfigResource::Group(n) => n,
        }
    }

    pub(crate) fn from_wire(type_code: i8, name: &str) -> Option<ConfigResource> {
        match type_code {
            2 => Some(ConfigResource::Topic(name.to_string())),
            4 => Some(ConfigResource::Broker(name.to_string())),
            32 => Some(ConfigResource::Group(name.to_string())),
            _ => None,
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set dynamically on this broker.
    DynamicBroker,
    /// Set dynamically as the default of all brokers.
    DynamicDefaultBroker,
    /// From the broker's config file.
    StaticBroker,
    /// The built-in default.
    Default,
    /// Anything else Kafka defines.
    Other(i8),
}

impl ConfigSource {
    pub(crate) fn from_wire(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            other => ConfigSource::Other(other),
        }
    }
}

/// One config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Property name.
    pub name: String,
    /// Value; `None` for sensitive or unset values.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// True when it cannot be changed at runtime.
    pub read_only: bool,
    /// True for passwords and the like.
    pub sensitive: bool,
}

/// An incremental config change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set `name` to `value`.
    Set(String, String),
    /// Remove the override of `name` (back to the default).
    Delete(String),
    /// Append `value` to a list config.
    Append(String, String),
    /// Remove `value` from a list config.
    Subtract(String, String),
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// State (`Stable`, `Empty`, ...), when the broker reports it.
    pub state: String,
}

/// A member as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host.
    pub host: String,
    /// Its partitions (decoded when the group uses the consumer protocol).
    pub assignment: Vec<TopicPartition>,
    /// Its epoch (KIP-848 consumer groups only).
    pub member_epoch: Option<i32>,
    /// The partitions it is moving towards (KIP-848 consumer groups only); those not
    /// in `assignment` yet are still owned elsewhere or not yet acknowledged.
    pub target_assignment: Option<Vec<TopicPartition>>,
    /// `consumer` or `classic`: the protocol the member speaks (KIP-848 consumer
    /// groups only; a classic member of such a group is `classic`).
    pub member_type: Option<String>,
    /// The topics it subscribed to by name (KIP-848 consumer groups only).
    pub subscribed_topics: Vec<String>,
    /// The regular expression it subscribed with (KIP-848 consumer groups only).
    pub subscribed_topic_regex: Option<String>,
}

/// A group as DescribeGroups (classic groups) or ConsumerGroupDescribe (KIP-848
/// consumer groups) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// `classic` or `consumer` (KIP-848).
    pub group_type: String,
    /// Group epoch (consumer groups only).
    pub group_epoch: Option<i32>,
    /// Epoch of the target assignment (consumer groups only).
    pub assignment_epoch: Option<i32>,
    /// State: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, `Dead`.
    pub state: String,
    /// Protocol type (`consumer`).
    pub protocol_type: String,
    /// Chosen assignor (`range`, ...).
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// Where `reset_group_offsets` moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Each partition's log start.
    Earliest,
    /// Each partition's log end.
    Latest,
    /// A fixed offset (clamped into the log's range).
    Offset(i64),
    /// The first offset at or after a timestamp (ms).
    Timestamp(i64),
    /// The committed offset moved by this many (negative goes back).
    ShiftBy(i64),
}

/// Lag of one partition of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The log end offset.
    pub end_offset: i64,
    /// `end_offset - committed` (the whole log when nothing is committed).
    pub lag: i64,
}
