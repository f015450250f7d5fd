//! KRaft's cluster-id check on the controller listener: every request carries the
//! sender's cluster id (from its `meta.properties`), and a peer of another cluster is
//! refused (INCONSISTENT_CLUSTER_ID), so it can neither vote nor replicate. Which side
//! is wrong is not known from one refusal; when a majority of the voters belong to
//! another cluster, this node is the odd one out and says so (the broker then stops).

use std::collections::{BTreeMap, BTreeSet};

use moldau_metadata::raft::NodeId;
use parking_lot::Mutex;
use tokio::sync::watch;

/// This node found a majority of the voters formatted for another cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdConflict {
    /// This node's cluster id.
    pub ours: String,
    /// Each voter seen with another cluster id, and that id.
    pub theirs: BTreeMap<NodeId, String>,
}

pub struct ClusterIdCheck {
    cluster_id: String,
    local_id: NodeId,
    /// `controller.quorum.voters` (this node included).
    voters: BTreeSet<NodeId>,
    /// Voters seen with another cluster id, and theirs.
    strangers: Mutex<BTreeMap<NodeId, String>>,
    conflict: watch::Sender<Option<ClusterIdConflict>>,
}

impl ClusterIdCheck {
    pub fn new(cluster_id: String, local_id: NodeId, voters: BTreeSet<NodeId>) -> Self {
        assert!(voters.contains(&local_id), "this node is a voter");
        ClusterIdCheck {
            cluster_id,
            local_id,
            voters,
            strangers: Mutex::new(BTreeMap::new()),
            conflict: watch::channel(None).0,
        }
    }

    /// The id this node sends with every request.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn local_id(&self) -> NodeId {
        self.local_id
    }

    /// Set once a majority of the voters showed another cluster id.
    pub fn conflict(&self) -> watch::Receiver<Option<ClusterIdConflict>> {
        self.conflict.subscribe()
    }

    /// Peer `peer` spoke (or answered) with cluster id `theirs`: whether it is this
    /// node's cluster. Each stranger is logged once.
    pub fn observe(&self, peer: NodeId, theirs: &str) -> bool {
        if theirs == self.cluster_id {
            return true;
        }
        if peer == self.local_id || !self.voters.contains(&peer) {
            // Only the other voters' word counts (and only they are remembered).
            tracing::debug!(
                peer,
                peer_cluster_id = theirs,
                "request of another cluster refused"
            );
            return false;
        }
        let mut strangers = self.strangers.lock();
        let known = strangers.insert(peer, theirs.to_string()).is_some();
        if !known {
            tracing::error!(
                peer,
                peer_cluster_id = theirs,
                cluster_id = %self.cluster_id,
                "INCONSISTENT_CLUSTER_ID: controller {peer} belongs to cluster {theirs}, not to this node's cluster {}; Raft requests between us are refused",
                self.cluster_id
            );
        }
        let majority = self.voters.len() / 2 + 1;
        if strangers.len() >= majority && self.conflict.borrow().is_none() {
            self.conflict.send_replace(Some(ClusterIdConflict {
                ours: self.cluster_id.clone(),
                theirs: strangers.clone(),
            }));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_of_strangers_makes_this_node_the_odd_one_out() {
        let check = ClusterIdCheck::new("ours".into(), 3, BTreeSet::from([1, 2, 3]));
        assert!(check.observe(1, "ours"));
        assert!(!check.observe(1, "theirs"));
        // One stranger of three voters: maybe it is the wrong one.
        assert!(check.conflict().borrow().is_none());
        assert!(!check.observe(1, "theirs"));
        assert!(check.conflict().borrow().is_none());
        // A sender claiming to be this node, or no voter, counts for nothing.
        assert!(!check.observe(3, "theirs"));
        assert!(!check.observe(7, "theirs"));
        assert!(check.conflict().borrow().is_none());
        assert!(!check.observe(2, "theirs"));
        let conflict = check.conflict().borrow().clone().expect("a majority");
        assert_eq!(conflict.ours, "ours");
        assert_eq!(
            conflict.theirs,
            BTreeMap::from([(1, "theirs".to_string()), (2, "theirs".to_string())])
        );
    }

    #[test]
    fn a_voter_of_our_cluster_is_never_a_conflict() {
        let check = ClusterIdCheck::new("ours".into(), 1, (1..=5).collect());
        for peer in 2..=5 {
            assert!(check.observe(peer, "ours"));
        }
        assert!(!check.observe(2, "x"));
        assert!(!check.observe(3, "y"));
        assert!(check.conflict().borrow().is_none(), "2 of 5 is no majority");
        assert!(!check.observe(4, "z"));
        assert!(check.conflict().borrow().is_some());
    }
}
