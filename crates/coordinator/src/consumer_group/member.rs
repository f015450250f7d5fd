//! One member of a consumer group (KIP-848).

use super::assignment::Assignment;

/// Epoch a member sends to leave the group.
pub(crate) const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// Epoch a static member sends to leave for now: it keeps its assignment until its
/// session times out, so that a restart under the same instance id takes it back.
pub(crate) const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;
/// Epoch a member sends to join.
pub(crate) const JOIN_GROUP_MEMBER_EPOCH: i32 = 0;

/// Where a member stands in reconciling towards its target assignment; the values
/// are Kafka's (stored in ConsumerGroupCurrentMemberAssignment records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    /// Has its target assignment at the group's assignment epoch.
    Stable,
    /// Must first give up partitions (pending revocation) before it moves on.
    UnrevokedPartitions,
    /// Waits for partitions still owned by other members.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    pub fn from_code(code: i8) -> Self {
        match code {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

/// What the member told us about itself (stored in ConsumerGroupMemberMetadata).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MemberSubscription {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: Vec<String>,
    pub topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
}

/// Its reconciliation state (stored in ConsumerGroupCurrentMemberAssignment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// Partitions the member owns (or may start owning).
    pub assigned: Assignment,
    /// Partitions it must give up before getting anything new.
    pub pending_revocation: Assignment,
}

impl Default for MemberAssignment {
    fn default() -> Self {
        MemberAssignment {
            member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            previous_member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }
}

/// A consumer-protocol member.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerMember {
    pub id: String,
    pub subscription: MemberSubscription,
    pub current: MemberAssignment,
    /// Dropped unless it heartbeats by then.
    pub session_deadline_ms: i64,
    /// Dropped unless it has revoked its pending partitions by then.
    pub revocation_deadline_ms: Option<i64>,
}

impl ConsumerMember {
    pub fn next_deadline_ms(&self) -> i64 {
        self.revocation_deadline_ms
            .map_or(self.session_deadline_ms, |r| {
                r.min(self.session_deadline_ms)
            })
    }
}
