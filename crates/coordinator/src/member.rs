//! One member of a classic group.

use bytes::Bytes;

use crate::effect::ReplyId;

/// A request parked until the group can answer it (JoinGroup during a rebalance,
/// SyncGroup until the leader's assignment is durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub reply: ReplyId,
    /// Version of the parked request, so the response is shaped for it.
    pub version: i16,
}

/// A member as the coordinator tracks it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// Supported protocols with their metadata, in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<Waiter>,
    pub sync_waiter: Option<Waiter>,
    /// Joined in the rebalance under way and has not yet got its first JoinGroup answer;
    /// such a member is bounded by the new-member join timeout, not the session timeout.
    pub is_new: bool,
    /// When the member is dropped unless it heartbeats (or is waiting in a rebalance).
    pub heartbeat_deadline_ms: i64,
}

impl Member {
    pub fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    pub fn is_awaiting_sync(&self) -> bool {
        self.sync_waiter.is_some()
    }

    /// The deadline at which the member expires, if its session can expire now:
    /// members parked in JoinGroup or SyncGroup are covered by the rebalance timers
    /// instead (Kafka's `hasSatisfiedHeartbeat`), except new members.
    pub fn expiry_deadline_ms(&self) -> Option<i64> {
        if self.is_new || !(self.is_awaiting_join() || self.is_awaiting_sync()) {
            Some(self.heartbeat_deadline_ms)
        } else {
            None
        }
    }

    /// Same protocols with the same metadata in the same order.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Metadata for `protocol`, empty when the member does not support it.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// The member's first choice among `candidates` (Kafka's `vote`).
    pub fn vote<'a>(&'a self, candidates: &[String]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| candidates.iter().any(|c| c == name))
    }
}
