//! What starting this node's metadata quorum needs: its node id, the voters and
//! their controller listeners, where the metadata log lives, and Raft's timings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use moldau_metadata::raft::NodeId;

use crate::metadata_quorum::error::QuorumError;

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
    /// Entries kept in the log below a snapshot (for slow followers).
    pub entries_kept_below_snapshot: u64,
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
            entries_kept_below_snapshot: 1000,
        }
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
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_after_entries),
            max_in_snapshot_log_to_keep: self.entries_kept_below_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))
    }
}

/// Parses `controller.quorum.voters`: `id@host:port` separated by commas.
pub fn parse_voters(text: &str) -> Result<BTreeMap<NodeId, String>, QuorumError> {
    let mut voters = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: &str| QuorumError::BadVoters(format!("{item:?}: {why}"));
        let (id, addr) = item
            .split_once('@')
            .ok_or_else(|| bad("expected id@host:port"))?;
        let id: NodeId = id.parse().map_err(|_| bad("the node id is not a number"))?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad("expected host:port"));
        }
        if voters.insert(id, addr.to_string()).is_some() {
            return Err(bad("node id named twice"));
        }
    }
    if voters.is_empty() {
        return Err(QuorumError::BadVoters("no voters".into()));
    }
    if voters.len() > QUORUM_VOTERS_MAX {
        return Err(QuorumError::BadVoters(format!(
            "{} voters, at most {QUORUM_VOTERS_MAX}",
            voters.len()
        )));
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_as_kafka_writes_them() {
        let v = parse_voters("1@127.0.0.1:9093, 2@localhost:9193,3@[::1]:9293").unwrap();
        assert_eq!(v[&1], "127.0.0.1:9093");
        assert_eq!(v[&2], "localhost:9193");
        assert_eq!(v[&3], "[::1]:9293");
        for bad in ["", "1", "x@h:1", "1@h", "1@h:99999", "1@:9", "1@h:1,1@h:2"] {
            assert!(parse_voters(bad).is_err(), "{bad:?} accepted");
        }
        let config = QuorumConfig::new(4, v, PathBuf::from("d"));
        assert!(matches!(config.validate(), Err(QuorumError::NotAVoter(4))));
    }
}
