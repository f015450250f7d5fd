//! Which controller peers are not answering, so an outage is logged once when it
//! starts (WARN) and once when it ends (INFO), and each failed attempt in between only
//! at DEBUG: openraft retries an unreachable peer every few hundred milliseconds.
//! Shared by every client of this node's Raft network (openraft makes new ones per
//! replication stream and election).

use std::collections::BTreeMap;

use moldau_metadata::raft::NodeId;
use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct PeerOutages {
    /// Failed attempts in a row, by peer; absent while the peer answers.
    failing: Mutex<BTreeMap<NodeId, u64>>,
}

impl PeerOutages {
    /// A call to `peer` failed; true if that starts an outage.
    pub fn failed(&self, peer: NodeId) -> bool {
        let mut failing = self.failing.lock();
        let attempts = failing.entry(peer).or_insert(0);
        *attempts = attempts.saturating_add(1);
        *attempts == 1
    }

    /// `peer` answered; the failed attempts of the outage this ends, if one did.
    pub fn answered(&self, peer: NodeId) -> Option<u64> {
        self.failing.lock().remove(&peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_once_and_ends_with_its_attempt_count() {
        let outages = PeerOutages::default();
        assert_eq!(outages.answered(2), None, "no outage yet");
        assert!(outages.failed(2), "the first failure starts it");
        assert!(!outages.failed(2));
        assert!(!outages.failed(2));
        assert!(outages.failed(3), "peers are apart");
        assert_eq!(outages.answered(2), Some(3));
        assert_eq!(outages.answered(2), None);
        assert!(outages.failed(2), "a new outage");
    }
}
