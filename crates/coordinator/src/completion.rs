//! What happens when an append to `__consumer_offsets` completes or is abandoned.

use crate::codes;
use crate::consumer_group::undo::failure_code;
use crate::coordinator::GroupCoordinator;
use crate::effect::{AppendId, Effect};
use crate::group::GroupState;
use crate::join::finish_static_rejoin;
use crate::pending::PendingAppend;
use crate::rebalance::{
    maybe_prepare_rebalance, reset_and_propagate_assignment_error, set_and_propagate_assignment,
};
use crate::request::GroupResponse;
use crate::responses::JoinAnswer;

impl GroupCoordinator {
    /// The append behind `kind` finished with `error` (0 = durable).
    pub(crate) fn complete_pending(
        &mut self,
        now_ms: i64,
        id: AppendId,
        kind: PendingAppend,
        error: i16,
        out: &mut Vec<Effect>,
    ) {
        match kind {
            PendingAppend::SyncAssignment {
                group_id,
                generation,
                assignments,
            } => {
                let Some((g, mut io)) = self.group_io(&group_id, now_ms, out) else {
                    return;
                };
                // Another member may have started a new rebalance meanwhile: then the
                // assignment is stale and is dropped.
                if g.is(GroupState::CompletingRebalance) && g.generation == generation {
                    if error == codes::NONE {
                        set_and_propagate_assignment(g, &assignments, &mut io);
                        g.transition(GroupState::Stable, now_ms);
                    } else {
                        reset_and_propagate_assignment_error(
                            g,
                            codes::store_group_error(error),
                            &mut io,
                        );
                        maybe_prepare_rebalance(g, &mut io);
                    }
                }
            }
            PendingAppend::StaticRejoin(rejoin) => {
                let group_id = rejoin.group_id.clone();
                if let Some((g, mut io)) = self.group_io(&group_id, now_ms, out) {
                    finish_static_rejoin(g, *rejoin, error, &mut io);
                }
            }
            PendingAppend::OffsetCommit {
                group_id,
                reply,
                commits,
                mut response,
            } => {
                if let Some(g) = self.groups.get_mut(&group_id) {
                    for c in commits {
                        let tp = (c.topic, c.partition);
                        if let Some(n) = g.pending_commits.get_mut(&tp) {
                            *n -= 1;
                            if *n == 0 {
                                g.pending_commits.remove(&tp);
                            }
                        }
                        let newer_exists = g.offset_writes.get(&tp).is_some_and(|w| *w > id);
                        if error == codes::NONE && !newer_exists {
                            g.offset_writes.insert(tp.clone(), id);
                            g.offsets.insert(tp, c.value);
                        }
                    }
                }
                if error != codes::NONE {
                    let mapped = codes::store_offsets_error(error);
                    for t in &mut response.topics {
                        for p in &mut t.partitions {
                            if p.error_code == codes::NONE {
                                p.error_code = mapped;
                            }
                        }
                    }
                }
                Self::reply(out, reply, GroupResponse::OffsetCommit(response));
            }
            PendingAppend::TxnOffsetCommit {
                group_id,
                producer_id,
                reply,
                partitions,
                mut response,
            } => {
                if let Some(g) = self.groups.get_mut(&group_id) {
                    g.txn_offsets_written(producer_id, id, &partitions, error == codes::NONE);
                }
                if error != codes::NONE {
                    let mapped = codes::store_offsets_error(error);
                    for t in &mut response.topics {
                        for p in &mut t.partitions {
                            if p.error_code == codes::NONE {
                                p.error_code = mapped;
                            }
                        }
                    }
                }
                Self::reply(out, reply, GroupResponse::TxnOffsetCommit(response));
            }
            PendingAppend::DeleteGroups { barrier, groups } => {
                self.complete_barrier(barrier, &groups, error, out);
            }
            PendingAppend::OffsetDelete {
                reply,
                mut response,
            } => {
                if error != codes::NONE {
                    response.error_code = codes::store_group_error(error);
                    response.topics.clear();
                }
                Self::reply(out, reply, GroupResponse::OffsetDelete(response));
            }
            PendingAppend::Background => {}
            PendingAppend::ConsumerHeartbeat {
                reply,
                response,
                undo,
            } => {
                if error == codes::NONE && undo.reverted.is_none() {
                    Self::reply(out, reply, *response);
                } else {
                    let code = failure_code(&undo, error);
                    if undo.reverted.is_none() {
                        self.revert_consumer_change(now_ms, id, *undo, error);
                    }
                    Self::reply(out, reply, failed_answer(&response, code));
                }
            }
            PendingAppend::ConsumerChange { undo } => {
                if error != codes::NONE && undo.reverted.is_none() {
                    self.revert_consumer_change(now_ms, id, *undo, error);
                }
            }
        }
    }

    /// The append behind `kind` will never complete (this node resigned): answer
    /// whoever waits with `error`.
    pub(crate) fn fail_pending(&mut self, kind: PendingAppend, error: i16, out: &mut Vec<Effect>) {
        match kind {
            // Their groups are gone; the waiting members were answered on unload.
            PendingAppend::SyncAssignment { .. }
            | PendingAppend::Background
            | PendingAppend::ConsumerChange { .. } => {}
            PendingAppend::ConsumerHeartbeat {
                reply, response, ..
            } => {
                Self::reply(out, reply, failed_answer(&response, error));
            }
            PendingAppend::StaticRejoin(r) => {
                // Answered on unload if the group was dropped; otherwise answer here.
                if self.groups.contains_key(&r.group_id) {
                    Self::reply(
                        out,
                        r.waiter.reply,
                        JoinAnswer::error("", error).into_response(r.waiter.version),
                    );
                }
            }
            PendingAppend::OffsetCommit {
                reply,
                mut response,
                ..
            } => {
                for t in &mut response.topics {
                    for p in &mut t.partitions {
                        p.error_code = error;
                    }
                }
                Self::reply(out, reply, GroupResponse::OffsetCommit(response));
            }
            PendingAppend::TxnOffsetCommit {
                reply,
                mut response,
                ..
            } => {
                for t in &mut response.topics {
                    for p in &mut t.partitions {
                        p.error_code = error;
                    }
                }
                Self::reply(out, reply, GroupResponse::TxnOffsetCommit(response));
            }
            PendingAppend::DeleteGroups { barrier, groups } => {
                self.complete_barrier(barrier, &groups, error, out)
            }
            PendingAppend::OffsetDelete {
                reply,
                mut response,
            } => {
                response.error_code = error;
                response.topics.clear();
                Self::reply(out, reply, GroupResponse::OffsetDelete(response));
            }
        }
    }

    fn complete_barrier(
        &mut self,
        barrier: u64,
        groups: &[String],
        error: i16,
        out: &mut Vec<Effect>,
    ) {
        let Some(b) = self.barriers.get_mut(&barrier) else {
            return;
        };
        if error != codes::NONE {
            let mapped = codes::store_group_error(error);
            for r in &mut b.response.results {
                if groups.iter().any(|g| g.as_str() == r.group_id.as_str()) {
                    r.error_code = mapped;
                }
            }
        }
        b.remaining = b.remaining.saturating_sub(1);
        if b.remaining == 0 {
            if let Some(b) = self.barriers.remove(&barrier) {
                Self::reply(out, b.reply, GroupResponse::DeleteGroups(b.response));
            }
        }
    }
}

/// The answer, shaped like `response`, for records that could not be written
/// (ConsumerGroupHeartbeat, or JoinGroup from a classic member of a consumer group).
fn failed_answer(response: &GroupResponse, code: i16) -> GroupResponse {
    match response {
        GroupResponse::JoinGroup(r) => GroupResponse::JoinGroup(
            r.clone()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_members(Vec::new()),
        ),
        _ => consumer_heartbeat_error(code),
    }
}

/// A ConsumerGroupHeartbeat answer for records that could not be written.
fn consumer_heartbeat_error(code: i16) -> GroupResponse {
    GroupResponse::ConsumerGroupHeartbeat(
        moldau_protocol::kafka::messages::ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code)
            .with_member_epoch(-1),
    )
}
