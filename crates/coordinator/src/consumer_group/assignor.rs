//! Server-side assignors (`group.consumer.assignors`): a member may name one with
//! `server_assignor`; otherwise the first configured one is used.

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
    ) -> BTreeMap<String, Assignment> {
        let out = match self {
            ServerAssignor::Uniform => super::uniform_assignor::assign(members, partitions),
            ServerAssignor::Range => super::range_assignor::assign(members, partitions),
        };
        debug_assert!(out.keys().all(|m| members.contains_key(m)));
        out
    }
}
