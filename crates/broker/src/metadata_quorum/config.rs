//! What starting this node's metadata quorum needs: its node id, the voters and
//! their controller listeners, where the metadata log lives, and Raft's timings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use moldau_metadata::controller::LifecycleConfig;
use moldau_metadata::features::{production_levels, RELEASE_VERSION_LATEST};
use moldau_metadata::raft::NodeId;

use crate::metadata_quorum::error::QuorumError;
use crate::quorum_voters::QuorumVoter;
use crate::raft_transport::ControllerChannel;

/// Most voters `controller.quorum.voters` may name (Kafka clusters run 3 or 5).
pub const QUORUM_VOTERS_MAX: usize = 16;

#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// `node.id`.
    pub node_id: NodeId,
    /// `controller.quorum.voters`: node id -> controller listener "host:port".
    pub voters: BTreeMap<NodeId, String>,
    /// The data directory; the log is its `__cluster_metadata-0`.
    pub data_dir: PathBuf,
    /// How long `write` waits for the quorum to commit.
    pub write_timeout: Duration,
    /// Leader heartbeat period (ms).
    pub heartbeat_interval_ms: u64,
    /// A follower hearing no leader for a random time in this range starts an
    /// election (ms); Kafka's `controller.quorum.election.timeout.ms` is 1000.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_after_entries: u64,
    /// Or, when set, after this many record bytes since the last one
    /// (`metadata.log.max.record.bytes.between.snapshots`); the entry count is
    /// then not used.
    pub snapshot_after_bytes: Option<u64>,
    /// Entries kept in the log below a snapshot (for slow followers).
    pub entries_kept_below_snapshot: u64,
    /// The cluster id, session timeout and unclean election default the active
    /// controller's broker lifecycle decides with.
    pub lifecycle: LifecycleConfig,
    /// How the controller listener is secured (TLS, SASL), both ways.
    pub channel: ControllerChannel,
    /// The feature levels a new cluster starts at when the data directory has no
    /// `bootstrap.features` (Kafka 4.1's production levels).
    pub bootstrap_levels: Vec<(String, i16)>,
    /// What the active controller creates a topic with when the request leaves it
    /// to the defaults (its own `num.partitions` and `default.replication.factor`,
    /// as Kafka's controller uses its own).
    pub topic_defaults: TopicDefaults,
    /// This node's configuration, for the values a config inherits when the active
    /// controller decides an APPEND or SUBTRACT on it (None: only committed
    /// overrides count).
    pub broker_config: Option<std::sync::Arc<crate::config::BrokerConfig>>,
}

/// `num.partitions` and `default.replication.factor` of the deciding controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    pub partitions: i32,
    pub replication_factor: i16,
}

impl QuorumConfig {
    /// Defaults for everything but identity and placement.
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, data_dir: PathBuf) -> Self {
        QuorumConfig {
            node_id,
            voters,
            data_dir,
            write_timeout: Duration::from_secs(5),
            heartbeat_interval_ms: 150,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            snapshot_after_entries: 10_000,
            snapshot_after_bytes: None,
            entries_kept_below_snapshot: 1000,
            lifecycle: LifecycleConfig {
                cluster_id: String::new(),
                session_timeout_ms: 9000,
                unclean_leader_election: false,
                leader_rebalance: None,
                local_broker: None,
            },
            channel: ControllerChannel::default(),
            bootstrap_levels: production_levels(RELEASE_VERSION_LATEST),
            topic_defaults: TopicDefaults {
                partitions: 1,
                replication_factor: 1,
            },
            broker_config: None,
        }
    }

    /// From the node's typed configuration (`node.id`, `controller.quorum.voters`).
    pub fn from_voters(
        node_id: i32,
        voters: &[QuorumVoter],
        data_dir: PathBuf,
    ) -> Result<Self, QuorumError> {
        let id = |id: i32| {
            NodeId::try_from(id).map_err(|_| QuorumError::BadVoters(format!("node id {id}")))
        };
        let voters = voters
            .iter()
            .map(|v| Ok((id(v.id)?, voter_address(v))))
            .collect::<Result<BTreeMap<_, _>, QuorumError>>()?;
        let config = QuorumConfig::new(id(node_id)?, voters, data_dir);
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), QuorumError> {
        if !self.voters.contains_key(&self.node_id) {
            return Err(QuorumError::NotAVoter(self.node_id));
        }
        if self.voters.len() > QUORUM_VOTERS_MAX {
            return Err(QuorumError::BadVoters(format!(
                "{} voters, at most {QUORUM_VOTERS_MAX}",
                self.voters.len()
            )));
        }
        Ok(())
    }

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, QuorumError> {
        openraft::Config {
            cluster_name: "moldau-metadata".into(),
            heartbeat_interval: self.heartbeat_interval_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            // A snapshot chunk is JSON on the wire; give a loaded machine time.
            install_snapshot_timeout: self.election_timeout_max_ms,
            snapshot_policy: match self.snapshot_after_bytes {
                Some(_) => openraft::SnapshotPolicy::Never,
                None => openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_after_entries),
            },
            max_in_snapshot_log_to_keep: self.entries_kept_below_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))
    }
}

/// The address a voter's controller listener is dialled at (IPv6 in brackets).
fn voter_address(voter: &QuorumVoter) -> String {
    if voter.host.contains(':') {
        format!("[{}]:{}", voter.host, voter.port)
    } else {
        format!("{}:{}", voter.host, voter.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum_voters::parse_voters;

    #[test]
    fn voters_come_from_the_node_config() {
        let voters = parse_voters("1@127.0.0.1:9093, 2@localhost:9193,3@[::1]:9293").unwrap();
        let config = QuorumConfig::from_voters(2, &voters, PathBuf::from("d")).unwrap();
        assert_eq!(config.node_id, 2);
        assert_eq!(config.voters[&1], "127.0.0.1:9093");
        assert_eq!(config.voters[&2], "localhost:9193");
        assert_eq!(config.voters[&3], "[::1]:9293");
        assert!(matches!(
            QuorumConfig::from_voters(4, &voters, PathBuf::from("d")),
            Err(QuorumError::NotAVoter(4))
        ));
        assert!(QuorumConfig::from_voters(-1, &voters, PathBuf::from("d")).is_err());
    }
}
