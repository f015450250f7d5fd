//! The metadata quorum as clients are told about it (Metadata's and DescribeCluster's
//! controller id, DescribeQuorum, `moldau cluster describe`): the active controller,
//! its epoch, and how far each voter and observer has got in the metadata log.
//!
//! Built from openraft's metrics of this node's seat in the quorum.

use crate::broker::Broker;
use moldau_metadata::raft::NodeId;
use moldau_metadata::MetadataImage;
use openraft::{BasicNode, RaftMetrics};

/// No known leader (Kafka's -1).
pub const NO_LEADER_ID: i32 = -1;

/// One replica of the metadata log and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaProgress {
    pub replica_id: i32,
    /// The offset after its last entry, -1 when unknown (only the leader knows the
    /// others' progress).
    pub log_end_offset: i64,
    /// Its controller listener (`host:port`), when the quorum knows it.
    pub address: Option<String>,
}

/// The quorum as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    /// The active controller, or [`NO_LEADER_ID`] during an election.
    pub leader_id: i32,
    /// The Raft term, which KRaft calls the leader epoch.
    pub leader_epoch: i32,
    /// The offset after the last committed entry known here.
    pub high_watermark: i64,
    pub voters: Vec<ReplicaProgress>,
    pub observers: Vec<ReplicaProgress>,
}

impl QuorumView {
    /// A quorum of one voter, this node, whose metadata log ends at `log_end_offset`:
    /// what a node without a Raft quorum is.
    pub fn single_voter(node_id: i32, log_end_offset: i64) -> Self {
        assert!(log_end_offset >= 0, "a log end offset is never negative");
        QuorumView {
            leader_id: node_id,
            leader_epoch: 0,
            high_watermark: log_end_offset,
            voters: vec![ReplicaProgress {
                replica_id: node_id,
                log_end_offset,
                address: None,
            }],
            observers: Vec::new(),
        }
    }

    /// From a node's Raft metrics: the leader's metrics hold every replica's matched
    /// log id; another node knows only its own log end.
    pub fn from_raft_metrics(m: &RaftMetrics<NodeId, BasicNode>) -> Self {
        let id = |n: NodeId| i32::try_from(n).unwrap_or(NO_LEADER_ID);
        let own_end = m.last_log_index.map_or(0, |i| i as i64 + 1);
        let membership = m.membership_config.membership();
        let progress = |n: NodeId| {
            let log_end_offset = if n == m.id {
                own_end
            } else {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&n))
                    .map_or(-1, |matched| matched.map_or(0, |l| l.index as i64 + 1))
            };
            ReplicaProgress {
                replica_id: id(n),
                log_end_offset,
                address: membership.get_node(&n).map(|node| node.addr.clone()),
            }
        };
        QuorumView {
            leader_id: m.current_leader.map_or(NO_LEADER_ID, id),
            leader_epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
            high_watermark: m.last_applied.map_or(0, |l| l.index as i64 + 1),
            voters: membership.voter_ids().map(progress).collect(),
            observers: membership.learner_ids().map(progress).collect(),
        }
    }

    /// True when `node_id` is the active controller, which alone knows every
    /// replica's progress.
    pub fn is_leader(&self, node_id: i32) -> bool {
        self.leader_id == node_id
    }

    /// The controller id clients are given: the active controller when it is a
    /// live broker they can reach, else `fallback` (a live broker, as KRaft brokers
    /// answer, since they forward admin requests themselves).
    pub fn controller_for_clients(&self, image: &MetadataImage, fallback: i32) -> i32 {
        let reachable = image.broker(self.leader_id).is_some_and(|b| !b.fenced);
        if reachable {
            self.leader_id
        } else {
            fallback
        }
    }
}

impl Broker {
    /// The metadata quorum as this node sees it (its Raft metrics).
    pub fn quorum_view(&self) -> QuorumView {
        let metrics = self.metadata.raft().metrics().borrow().clone();
        QuorumView::from_raft_metrics(&metrics)
    }

    /// The controller id Metadata and DescribeCluster answer with: this node, as
    /// KRaft brokers answer (any broker forwards admin requests to the active
    /// controller, so a client never waits on a controller it cannot reach; with
    /// no quorum leader it gets this node's clear error instead). The active
    /// controller itself is in DescribeQuorum.
    pub fn controller_for_clients(&self, _image: &MetadataImage) -> i32 {
        self.node_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{broker, image_of};
    use openraft::{CommittedLeaderId, LogId, Membership, ServerState, StoredMembership};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    /// Node `id`'s metrics in a quorum of voters 1..=3 and learner 4, led by 1 in term 7.
    fn metrics(id: NodeId) -> RaftMetrics<NodeId, BasicNode> {
        let voters = BTreeSet::from([1, 2, 3]);
        let nodes: BTreeMap<NodeId, BasicNode> = (1..=4)
            .map(|n| (n, BasicNode::new(format!("127.0.0.1:{}", 9000 + n))))
            .collect();
        let membership = Membership::new(vec![voters], nodes);
        let mut m = RaftMetrics::new_initial(id);
        m.current_term = 7;
        m.current_leader = Some(1);
        m.last_log_index = Some(41);
        m.last_applied = Some(log_id(7, 40));
        m.membership_config = Arc::new(StoredMembership::new(Some(log_id(1, 0)), membership));
        if id == 1 {
            m.state = ServerState::Leader;
            m.replication = Some(BTreeMap::from([
                (1, Some(log_id(7, 41))),
                (2, Some(log_id(7, 39))),
                (3, None),
                (4, Some(log_id(7, 10))),
            ]));
        }
        m
    }

    #[test]
    fn the_leader_knows_every_replicas_progress() {
        let view = QuorumView::from_raft_metrics(&metrics(1));
        assert_eq!(view.leader_id, 1);
        assert_eq!(view.leader_epoch, 7);
        assert_eq!(view.high_watermark, 41);
        let ends = |v: &[ReplicaProgress]| {
            v.iter()
                .map(|r| (r.replica_id, r.log_end_offset))
                .collect::<Vec<_>>()
        };
        assert_eq!(ends(&view.voters), vec![(1, 42), (2, 40), (3, 0)]);
        assert_eq!(ends(&view.observers), vec![(4, 11)]);
        assert_eq!(view.voters[1].address.as_deref(), Some("127.0.0.1:9002"));
    }

    #[test]
    fn a_follower_knows_only_its_own_progress() {
        let view = QuorumView::from_raft_metrics(&metrics(2));
        assert_eq!(view.leader_id, 1);
        let ends: Vec<i64> = view.voters.iter().map(|r| r.log_end_offset).collect();
        assert_eq!(ends, vec![-1, 42, -1]);
    }

    #[test]
    fn clients_are_given_a_controller_they_can_reach() {
        let image = image_of(&[broker(1, 9092, None, false), broker(2, 9093, None, true)]);
        let mut view = QuorumView::single_voter(1, 5);
        assert_eq!(view.controller_for_clients(&image, 7), 1);
        view.leader_id = 2;
        assert_eq!(view.controller_for_clients(&image, 7), 7, "2 is fenced");
        view.leader_id = 3;
        assert_eq!(
            view.controller_for_clients(&image, 7),
            7,
            "3 is a controller only"
        );
        view.leader_id = NO_LEADER_ID;
        assert_eq!(view.controller_for_clients(&image, 7), 7);
    }
}
