//! One member of a consumer group (KIP-848).

use bytes::Bytes;

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

/// What a member speaking the classic protocol (JoinGroup/SyncGroup/Heartbeat) in a
/// consumer group keeps besides a consumer member's fields (Kafka's
/// ClassicMemberMetadata, tag 0 of ConsumerGroupMemberMetadata).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    /// Its JoinGroup protocols (assignor name, subscription), in its order.
    pub protocols: Vec<(String, Bytes)>,
}

/// Highest ConsumerProtocolAssignment version (versions 0 to 3 share one layout).
const ASSIGNMENT_VERSION_MAX: i16 = 3;

impl ClassicMemberMetadata {
    /// The ConsumerProtocolAssignment version the member reads: that of the
    /// subscription it sent first.
    pub fn assignment_version(&self) -> i16 {
        self.protocols
            .first()
            .and_then(|(_, metadata)| crate::consumer_protocol::subscription_details(metadata).ok())
            .map_or(0, |d| d.version.clamp(0, ASSIGNMENT_VERSION_MAX))
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
    /// Set when the member speaks the classic protocol.
    pub classic: Option<ClassicMemberMetadata>,
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
    pub fn is_classic(&self) -> bool {
        self.subscription.classic.is_some()
    }

    /// Its session timeout: the classic member's own, else the group's setting.
    pub fn session_timeout_ms(&self, consumer_session_timeout_ms: i32) -> i32 {
        self.subscription
            .classic
            .as_ref()
            .map_or(consumer_session_timeout_ms, |c| c.session_timeout_ms)
    }

    pub fn next_deadline_ms(&self) -> i64 {
        self.revocation_deadline_ms
            .map_or(self.session_deadline_ms, |r| {
                r.min(self.session_deadline_ms)
            })
    }
}
