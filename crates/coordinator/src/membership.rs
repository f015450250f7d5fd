//! SyncGroup, Heartbeat and LeaveGroup, and the per-group glue for timers, loading
//! and unloading.

use std::collections::HashMap;

use bytes::Bytes;
use moldau_protocol::kafka::messages::leave_group_response::MemberResponse;
use moldau_protocol::kafka::messages::{
    HeartbeatRequest, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
};

use crate::codes;
use crate::consumer_group::classic_heartbeat;
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::group::{Group, GroupState};
use crate::member::Waiter;
use crate::pending::{Io, PendingAppend};
use crate::rebalance::{
    fire_timers, prepare_rebalance, remove_member_and_update, store_group, try_complete_join,
    unload_group,
};
use crate::request::{GroupResponse, RequestContext};
use crate::responses::{heartbeat_response, str, sync_error, sync_response};

/// LeaveGroup v3 moved from one member id to a batch of member identities.
const LEAVE_BATCH_VERSION: i16 = 3;

impl GroupCoordinator {
    pub(crate) fn sync_group(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: SyncGroupRequest,
        out: &mut Vec<Effect>,
    ) {
        let group_id = req.group_id.as_str().to_string();
        let member_id = req.member_id.as_str().to_string();
        let error = match self.group_status(&group_id, false) {
            // The rebalance state was lost with the previous coordinator: start over
            // at JoinGroup (older clients do not know COORDINATOR_LOAD_IN_PROGRESS here).
            Err(codes::COORDINATOR_LOAD_IN_PROGRESS) => Some(codes::REBALANCE_IN_PROGRESS),
            Err(error) => Some(error),
            Ok(_) if !self.groups.contains_key(&group_id) => Some(codes::UNKNOWN_MEMBER_ID),
            Ok(_) => None,
        };
        if let Some(error) = error {
            return Self::reply(out, reply, sync_error(error));
        }
        if self
            .groups
            .get(&group_id)
            .is_some_and(|g| g.consumer.is_some())
        {
            return self.classic_sync_to_consumer_group(now_ms, reply, &req, out);
        }
        let Some((g, mut io)) = self.group_io(&group_id, now_ms, out) else {
            return;
        };
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        let validation = g
            .validate_current_member(&member_id, instance_id)
            .or_else(|| {
                if req.generation_id != g.generation {
                    Some(codes::ILLEGAL_GENERATION)
                } else if req
                    .protocol_type
                    .as_ref()
                    .is_some_and(|t| g.protocol_type.as_deref() != Some(t.as_str()))
                    || req
                        .protocol_name
                        .as_ref()
                        .is_some_and(|n| g.protocol_name.as_deref() != Some(n.as_str()))
                {
                    Some(codes::INCONSISTENT_GROUP_PROTOCOL)
                } else {
                    None
                }
            });
        if let Some(error) = validation {
            return io.reply(reply, sync_error(error));
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => {
                io.reply(reply, sync_error(codes::UNKNOWN_MEMBER_ID))
            }
            GroupState::PreparingRebalance => {
                io.reply(reply, sync_error(codes::REBALANCE_IN_PROGRESS))
            }
            GroupState::CompletingRebalance => {
                let waiter = Waiter {
                    reply,
                    version: ctx.api_version,
                };
                if let Some(m) = g.members.get_mut(&member_id) {
                    if let Some(old) = m.sync_waiter.replace(waiter) {
                        io.reply(old.reply, sync_error(codes::REBALANCE_IN_PROGRESS));
                    }
                }
                remove_pending_sync(g, &member_id);
                if g.is_leader(&member_id) {
                    let assignments: HashMap<String, Bytes> = req
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.as_str().to_string(), a.assignment.clone()))
                        .collect();
                    let kind = PendingAppend::SyncAssignment {
                        group_id: g.id.clone(),
                        generation: g.generation,
                        assignments: assignments.clone(),
                    };
                    if let Err(error) = store_group(g, Some(&assignments), kind, &mut io) {
                        crate::rebalance::reset_and_propagate_assignment_error(g, error, &mut io);
                        crate::rebalance::maybe_prepare_rebalance(g, &mut io);
                    }
                }
            }
            GroupState::Stable => {
                remove_pending_sync(g, &member_id);
                if let Some(m) = g.members.get_mut(&member_id) {
                    m.heartbeat_deadline_ms =
                        now_ms.saturating_add(i64::from(m.session_timeout_ms));
                    let response = sync_response(
                        codes::NONE,
                        g.protocol_type.as_deref(),
                        g.protocol_name.as_deref(),
                        m.assignment.clone(),
                    );
                    io.reply(reply, response);
                }
            }
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        req: HeartbeatRequest,
        out: &mut Vec<Effect>,
    ) {
        let group_id = req.group_id.as_str().to_string();
        let error = match self.group_status(&group_id, false) {
            // Loading: answer blindly, as Kafka does; the member learns the truth later.
            Err(codes::COORDINATOR_LOAD_IN_PROGRESS) => codes::NONE,
            Err(error) => error,
            Ok(_) => match self.groups.get_mut(&group_id) {
                None => codes::UNKNOWN_MEMBER_ID,
                Some(g) if g.consumer.is_some() => {
                    self.deadlines.mark(&group_id);
                    let session_ms = self.config.consumer_session_timeout_ms;
                    classic_heartbeat(g, &req, now_ms, session_ms)
                }
                Some(g) => {
                    self.deadlines.mark(&group_id);
                    heartbeat_group(g, &req, now_ms)
                }
            },
        };
        Self::reply(out, reply, heartbeat_response(error));
    }

    pub(crate) fn leave_group(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: LeaveGroupRequest,
        out: &mut Vec<Effect>,
    ) {
        let batched = ctx.api_version >= LEAVE_BATCH_VERSION;
        let group_id = req.group_id.as_str().to_string();
        let leaving: Vec<(String, Option<String>)> = if batched {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.as_str().to_string(),
                        m.group_instance_id.as_ref().map(|s| s.as_str().to_string()),
                    )
                })
                .collect()
        } else {
            vec![(req.member_id.as_str().to_string(), None)]
        };
        let consumer_group = self
            .groups
            .get(&group_id)
            .is_some_and(|g| g.consumer.is_some());
        let (top_error, results) = match self.group_status(&group_id, false) {
            Err(error) => (error, Vec::new()),
            Ok(_) if consumer_group => (
                codes::NONE,
                self.classic_leave_to_consumer_group(now_ms, &group_id, &leaving, out),
            ),
            Ok(_) => match self.group_io(&group_id, now_ms, out) {
                None => (
                    codes::NONE,
                    leaving.iter().map(|_| codes::UNKNOWN_MEMBER_ID).collect(),
                ),
                Some((g, mut io)) => {
                    let results = leaving
                        .iter()
                        .map(|(member_id, instance_id)| {
                            leave_one(g, member_id, instance_id.as_deref(), &mut io)
                        })
                        .collect();
                    (codes::NONE, results)
                }
            },
        };
        let response = if batched {
            let members = leaving
                .iter()
                .zip(results)
                .map(|((member_id, instance_id), error)| {
                    MemberResponse::default()
                        .with_member_id(str(member_id))
                        .with_group_instance_id(instance_id.as_deref().map(str))
                        .with_error_code(error)
                })
                .collect();
            LeaveGroupResponse::default()
                .with_error_code(top_error)
                .with_members(members)
        } else {
            // Before v3 the single member's error is the response's error.
            let error = results.first().copied().unwrap_or(top_error);
            LeaveGroupResponse::default().with_error_code(if top_error != codes::NONE {
                top_error
            } else {
                error
            })
        };
        Self::reply(out, reply, GroupResponse::LeaveGroup(response));
    }

    /// Fires the due timers of one group.
    pub(crate) fn fire_group_timers(&mut self, group_id: &str, now_ms: i64, out: &mut Vec<Effect>) {
        if self.fire_consumer_timers(group_id, now_ms, out) {
            return;
        }
        if let Some((g, mut io)) = self.group_io(group_id, now_ms, out) {
            fire_timers(g, &mut io);
        }
    }

    /// A group just replayed from the log: sessions restart now, and a group above
    /// group.max.size rebalances so that the extra members can be turned away.
    pub(crate) fn on_group_loaded(&mut self, group_id: &str, now_ms: i64, out: &mut Vec<Effect>) {
        if let Some((g, mut io)) = self.group_io(group_id, now_ms, out) {
            for m in g.members.values_mut() {
                m.heartbeat_deadline_ms = now_ms.saturating_add(i64::from(m.session_timeout_ms));
            }
            let max = usize::try_from(io.config.group_max_size.max(0)).unwrap_or(usize::MAX);
            if g.members.len() > max {
                prepare_rebalance(g, &mut io);
            }
        }
    }

    pub(crate) fn unload_group(group: Group, out: &mut Vec<Effect>) {
        unload_group(group, out);
    }
}

fn heartbeat_group(g: &mut Group, req: &HeartbeatRequest, now_ms: i64) -> i16 {
    let member_id = req.member_id.as_str();
    let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
    if let Some(error) = g.validate_current_member(member_id, instance_id) {
        return error;
    }
    if req.generation_id != g.generation {
        return codes::ILLEGAL_GENERATION;
    }
    if matches!(g.state, GroupState::Empty | GroupState::Dead) {
        return codes::UNKNOWN_MEMBER_ID;
    }
    if let Some(m) = g.members.get_mut(member_id) {
        m.heartbeat_deadline_ms = now_ms.saturating_add(i64::from(m.session_timeout_ms));
    }
    if g.is(GroupState::PreparingRebalance) {
        codes::REBALANCE_IN_PROGRESS
    } else {
        codes::NONE
    }
}

/// Removes one leaving member; its error code.
fn leave_one(g: &mut Group, member_id: &str, instance_id: Option<&str>, io: &mut Io) -> i16 {
    if member_id.is_empty() {
        // Administrative removal by group.instance.id alone.
        return match instance_id
            .and_then(|i| g.static_member_id(i))
            .map(str::to_string)
        {
            Some(current) => {
                remove_member_and_update(g, &current, io);
                codes::NONE
            }
            None => codes::UNKNOWN_MEMBER_ID,
        };
    }
    if g.pending_members.shift_remove(member_id).is_some() {
        try_complete_join(g, io);
        return codes::NONE;
    }
    match g.validate_current_member(member_id, instance_id) {
        Some(error) => error,
        None => {
            remove_member_and_update(g, member_id, io);
            codes::NONE
        }
    }
}

fn remove_pending_sync(g: &mut Group, member_id: &str) {
    g.pending_sync.remove(member_id);
    if g.pending_sync.is_empty() {
        g.sync_deadline_ms = None;
    }
}
