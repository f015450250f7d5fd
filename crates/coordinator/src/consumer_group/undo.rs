//! Rolling back a consumer group when its records could not be written (Kafka keeps
//! timeline snapshots for this): every change that appends records keeps a copy of
//! the group as it was before, and a failed append puts that copy back, so memory
//! never says more than `__consumer_offsets` does. The copy leaves out what follows
//! from the rest (who owns which partition), which is rebuilt on the way back.
//!
//! Appends complete asynchronously, so later changes may already have been made on
//! top of the failed one; restoring the copy undoes them too, and their own appends
//! are marked reverted: their answers become the failure's error, as Kafka fails
//! every write after the one it reverts.

use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;

use super::ConsumerGroup;
use crate::codes;
use crate::coordinator::GroupCoordinator;
use crate::effect::AppendId;
use crate::group::{Group, GroupState};
use crate::member::Member;
use crate::pending::PendingAppend;

/// How long a timer (session or revocation timeout) whose records failed waits
/// before it fires again (Kafka's coordinator timer retry backoff).
const TIMER_RETRY_BACKOFF_MS: i64 = 500;

/// The parts of a group a consumer-group change touches, as they were before it.
#[derive(Debug, Clone)]
pub(crate) struct GroupBefore {
    /// False when the change created the group.
    existed: bool,
    consumer: Option<Box<ConsumerGroup>>,
    protocol_type: Option<String>,
    state: GroupState,
    state_timestamp_ms: Option<i64>,
    subscribed_topics: Option<BTreeSet<String>>,
    /// The classic side, which an upgrade empties and a downgrade fills.
    classic: ClassicBefore,
}

/// A group's classic membership (parked requests are not part of it: they were
/// answered when the group changed type).
#[derive(Debug, Clone, Default)]
struct ClassicBefore {
    generation: i32,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: IndexMap<String, Member>,
    static_members: HashMap<String, String>,
    join_deadline_ms: Option<i64>,
    sync_deadline_ms: Option<i64>,
}

impl ClassicBefore {
    fn of(g: &Group) -> Self {
        let mut members = g.members.clone();
        for m in members.values_mut() {
            m.join_waiter = None;
            m.sync_waiter = None;
        }
        ClassicBefore {
            generation: g.generation,
            protocol_name: g.protocol_name.clone(),
            leader: g.leader.clone(),
            members,
            static_members: g.static_members.clone(),
            join_deadline_ms: g.join_deadline_ms,
            sync_deadline_ms: g.sync_deadline_ms,
        }
    }

    fn restore(self, g: &mut Group) {
        g.generation = self.generation;
        g.protocol_name = self.protocol_name;
        g.leader = self.leader;
        g.members = self.members;
        g.static_members = self.static_members;
        g.join_deadline_ms = self.join_deadline_ms;
        g.sync_deadline_ms = self.sync_deadline_ms;
        g.pending_sync.clear();
    }
}

impl GroupBefore {
    /// `group` before a change (None: it does not exist yet).
    pub fn of(group: Option<&Group>) -> Self {
        match group {
            Some(g) => GroupBefore {
                existed: true,
                consumer: g.consumer.as_deref().map(|cg| Box::new(cg.rollback_copy())),
                protocol_type: g.protocol_type.clone(),
                state: g.state,
                state_timestamp_ms: g.state_timestamp_ms,
                subscribed_topics: g.subscribed_topics.clone(),
                classic: ClassicBefore::of(g),
            },
            None => GroupBefore {
                existed: false,
                consumer: None,
                protocol_type: None,
                state: GroupState::Empty,
                state_timestamp_ms: None,
                subscribed_topics: None,
                classic: ClassicBefore::default(),
            },
        }
    }

    /// Puts the copy back into `g`. Offsets are left alone: they have their own
    /// appends and are never part of a consumer-group change.
    pub fn restore(self, g: &mut Group) {
        g.consumer = self.consumer;
        if let Some(cg) = g.consumer.as_deref_mut() {
            cg.rebuild_owners();
        }
        g.protocol_type = self.protocol_type;
        g.state = self.state;
        g.state_timestamp_ms = self.state_timestamp_ms;
        g.subscribed_topics = self.subscribed_topics;
        self.classic.restore(g);
    }
}

/// What a failed consumer-group append undoes.
#[derive(Debug)]
pub(crate) struct ConsumerUndo {
    pub group_id: String,
    pub before: GroupBefore,
    /// Set when an earlier append of the same group failed and memory went back to
    /// before it: this append's changes are gone too, and its answer is this error.
    pub reverted: Option<i16>,
}

impl ConsumerUndo {
    pub fn new(group_id: &str, before: GroupBefore) -> Box<Self> {
        Box::new(ConsumerUndo {
            group_id: group_id.to_string(),
            before,
            reverted: None,
        })
    }
}

impl GroupCoordinator {
    /// Append `id` failed with `error`: the group goes back to what it was before the
    /// change behind it, and later appends of the group are marked reverted.
    pub(crate) fn revert_consumer_change(
        &mut self,
        now_ms: i64,
        id: AppendId,
        undo: ConsumerUndo,
        error: i16,
    ) {
        let ConsumerUndo {
            group_id, before, ..
        } = undo;
        for entry in self.appender.pending.range_mut(id..).map(|(_, e)| e) {
            let later = match &mut entry.kind {
                PendingAppend::ConsumerHeartbeat { undo, .. } => undo,
                PendingAppend::ConsumerChange { undo } => undo,
                _ => continue,
            };
            if later.group_id == group_id && later.reverted.is_none() {
                later.reverted = Some(error);
            }
        }
        self.deadlines.mark(&group_id);
        let Some(g) = self.groups.get_mut(&group_id) else {
            return;
        };
        let existed = before.existed;
        // Session timers are not part of the rollback (as in Kafka): a member that
        // heartbeated since keeps the later deadline.
        let sessions: Vec<(String, i64)> = g
            .consumer
            .iter()
            .flat_map(|cg| cg.members.values())
            .map(|m| (m.id.clone(), m.session_deadline_ms))
            .collect();
        before.restore(g);
        if let Some(cg) = g.consumer.as_deref_mut() {
            for (member_id, deadline) in sessions {
                if let Some(m) = cg.members.get_mut(&member_id) {
                    m.session_deadline_ms = m.session_deadline_ms.max(deadline);
                }
            }
            // A timer whose change was undone fires again after a pause, as Kafka
            // retries a failed timer, rather than at once against a failing log.
            let retry_ms = now_ms.saturating_add(TIMER_RETRY_BACKOFF_MS);
            for m in cg.members.values_mut() {
                if m.session_deadline_ms <= now_ms {
                    m.session_deadline_ms = retry_ms;
                }
                if let Some(r) = m.revocation_deadline_ms.as_mut().filter(|r| **r <= now_ms) {
                    *r = retry_ms;
                }
            }
        }
        tracing::warn!(
            group = group_id,
            error,
            "consumer group records not written; group state rolled back"
        );
        let unused = g.offsets.is_empty()
            && g.pending_commits.is_empty()
            && g.pending_txn_offsets.is_empty()
            && g.members.is_empty();
        if !existed && unused {
            self.groups.remove(&group_id);
        }
    }
}

/// The answer code for an append that failed with `error` (or was reverted).
pub(crate) fn failure_code(undo: &ConsumerUndo, error: i16) -> i16 {
    codes::store_group_error(undo.reverted.unwrap_or(error))
}
