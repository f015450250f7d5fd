//! Server-side assignors (`group.consumer.assignors`): a member may name one with
//! `server_assignor`; otherwise the first configured one is used.
//!
//! Both are rack-aware where members set `client.rack` (the heartbeat's RackId) and
//! brokers `broker.rack`: a partition goes preferably to a member on a rack holding
//! one of its replicas (so it can fetch from a follower there), as KIP-881 does for
//! the client-side assignors; balance still comes first.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignment::Assignment;

/// What an assignor knows about one member.
#[derive(Debug, Clone)]
pub(crate) struct MemberSpec {
    /// Topics the member subscribes to that exist (names and regex resolved).
    pub topics: BTreeSet<Uuid>,
    /// The member's previous target assignment, to stay sticky.
    pub previous: Assignment,
    /// The member's `client.rack`.
    pub rack: Option<String>,
}

/// Racks holding a replica of each partition, by topic id (a topic or partition
/// missing here has no rack known).
pub(crate) type PartitionRacks = BTreeMap<Uuid, Vec<BTreeSet<String>>>;

/// Whether a member and a partition's replicas share a rack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RackMatch {
    /// The member has no rack, or the partition no rack known.
    Unknown,
    /// A replica lives on the member's rack.
    Same,
    /// Racks are known and none is the member's.
    Other,
}

pub(crate) fn rack_match(
    spec: &MemberSpec,
    racks: &PartitionRacks,
    topic: &Uuid,
    partition: i32,
) -> RackMatch {
    let Some(rack) = &spec.rack else {
        return RackMatch::Unknown;
    };
    let replicas = usize::try_from(partition)
        .ok()
        .and_then(|p| racks.get(topic)?.get(p))
        .filter(|r| !r.is_empty());
    match replicas {
        None => RackMatch::Unknown,
        Some(r) if r.contains(rack) => RackMatch::Same,
        Some(_) => RackMatch::Other,
    }
}

/// The assignors Kafka ships, by the names clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerAssignor {
    Uniform,
    Range,
}

impl ServerAssignor {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "uniform" => Some(ServerAssignor::Uniform),
            "range" => Some(ServerAssignor::Range),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ServerAssignor::Uniform => "uniform",
            ServerAssignor::Range => "range",
        }
    }

    /// Every partition of `partitions` (topic id -> count) subscribed by at least one
    /// member goes to exactly one member subscribed to its topic.
    pub fn assign(
        self,
        members: &BTreeMap<String, MemberSpec>,
        partitions: &BTreeMap<Uuid, i32>,
        racks: &PartitionRacks,
    ) -> BTreeMap<String, Assignment> {
        let out = match self {
            ServerAssignor::Uniform => super::uniform_assignor::assign(members, partitions, racks),
            ServerAssignor::Range => super::range_assignor::assign(members, partitions, racks),
        };
        debug_assert!(out.keys().all(|m| members.contains_key(m)));
        out
    }
}
