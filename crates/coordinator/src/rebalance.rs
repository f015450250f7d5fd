//! Rebalance transitions of one group, as Kafka's GroupCoordinator makes them:
//! preparing a rebalance, completing the join phase, propagating the assignment,
//! removing members, and the timers that drive all of it.

use std::collections::HashMap;

use bytes::Bytes;

use crate::codes;
use crate::group::{Group, GroupState, InitialDelay};
use crate::pending::{Io, PendingAppend};
use crate::records::GroupMetadataKey;
use crate::responses::{sync_error, sync_response, JoinAnswer};

/// Starts a rebalance unless one is already preparing (or the group is dead).
pub(crate) fn maybe_prepare_rebalance(g: &mut Group, io: &mut Io) {
    if matches!(
        g.state,
        GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
    ) {
        prepare_rebalance(g, io);
    }
}

/// Moves to PreparingRebalance: members waiting in SyncGroup are told to rejoin, and
/// the join phase gets its deadline (the initial delay for an empty group, else the
/// longest rebalance timeout).
pub(crate) fn prepare_rebalance(g: &mut Group, io: &mut Io) {
    if g.is(GroupState::CompletingRebalance) {
        reset_and_propagate_assignment_error(g, codes::REBALANCE_IN_PROGRESS, io);
    }
    g.pending_sync.clear();
    g.sync_deadline_ms = None;
    if g.is(GroupState::Empty) {
        let delay_ms = i64::from(io.config.group_initial_rebalance_delay_ms.max(0));
        g.initial_delay = Some(InitialDelay {
            delay_ms,
            remaining_ms: (g.rebalance_timeout_ms() - delay_ms).max(0),
        });
        g.join_deadline_ms = Some(io.now_ms.saturating_add(delay_ms));
    } else {
        g.initial_delay = None;
        g.join_deadline_ms = Some(io.now_ms.saturating_add(g.rebalance_timeout_ms()));
    }
    tracing::info!(
        group = %g.id,
        generation = g.generation,
        members = g.members.len(),
        "preparing to rebalance"
    );
    g.transition(GroupState::PreparingRebalance, io.now_ms);
    try_complete_join(g, io);
}

/// Completes the join phase early once every known member has rejoined (never during
/// the initial delay, which always runs its course).
pub(crate) fn try_complete_join(g: &mut Group, io: &mut Io) {
    if g.is(GroupState::PreparingRebalance)
        && g.initial_delay.is_none()
        && g.has_all_members_joined()
    {
        complete_join(g, io);
    }
}

/// The join deadline passed: extend the initial delay if members keep arriving, else
/// complete the join phase with whoever has rejoined.
pub(crate) fn on_join_deadline(g: &mut Group, io: &mut Io) {
    if let Some(delay) = g.initial_delay {
        if g.new_member_added && delay.remaining_ms > 0 {
            g.new_member_added = false;
            let configured = i64::from(io.config.group_initial_rebalance_delay_ms.max(0));
            let next = configured.min(delay.remaining_ms);
            g.initial_delay = Some(InitialDelay {
                delay_ms: next,
                remaining_ms: (delay.remaining_ms - delay.delay_ms).max(0),
            });
            g.join_deadline_ms = Some(io.now_ms.saturating_add(next));
            return;
        }
    }
    complete_join(g, io);
}

/// Ends the join phase (Kafka's onCompleteJoin): dynamic members that did not rejoin
/// are dropped, the next generation starts, and every waiting member gets its
/// JoinGroup answer (the leader with all members' metadata).
pub(crate) fn complete_join(g: &mut Group, io: &mut Io) {
    g.join_deadline_ms = None;
    g.initial_delay = None;
    g.new_member_added = false;
    let not_rejoined: Vec<String> = g
        .members
        .values()
        .filter(|m| !m.is_awaiting_join() && m.instance_id.is_none())
        .map(|m| m.id.clone())
        .collect();
    if !not_rejoined.is_empty() {
        tracing::info!(group = %g.id, removed = ?not_rejoined, "removed members that did not rejoin in time");
    }
    for id in not_rejoined {
        if let Some(m) = g.remove_member(&id) {
            if let Some(w) = m.sync_waiter {
                io.reply(w.reply, sync_error(codes::UNKNOWN_MEMBER_ID));
            }
        }
    }
    if !g.maybe_elect_new_joined_leader() && !g.members.is_empty() {
        // Only static members that have not rejoined remain: wait for them (their
        // session timeout removes them if they are gone).
        g.join_deadline_ms = Some(io.now_ms.saturating_add(g.rebalance_timeout_ms().max(1)));
        return;
    }
    g.init_next_generation(io.now_ms);
    tracing::info!(
        group = %g.id,
        generation = g.generation,
        members = g.members.len(),
        protocol = g.protocol_name.as_deref().unwrap_or(""),
        "completed join phase"
    );
    if g.is(GroupState::Empty) {
        // Nobody waits for this write; a failure only means an older generation is
        // replayed after a restart, which has no live members either.
        let _ = store_group(g, None, PendingAppend::Background, io);
        return;
    }
    let leader = g.leader.clone().unwrap_or_default();
    let all_members = g.current_member_metadata();
    let session_end = |timeout: i32| io.now_ms.saturating_add(i64::from(timeout));
    let mut answers = Vec::new();
    for m in g.members.values_mut() {
        if let Some(w) = m.join_waiter.take() {
            let answer = JoinAnswer {
                error: codes::NONE,
                member_id: m.id.clone(),
                generation: g.generation,
                protocol_type: g.protocol_type.clone(),
                protocol_name: g.protocol_name.clone(),
                leader: leader.clone(),
                members: if m.id == leader {
                    all_members.clone()
                } else {
                    Vec::new()
                },
                skip_assignment: false,
            };
            answers.push((w, answer));
        }
        m.heartbeat_deadline_ms = session_end(m.session_timeout_ms);
        m.is_new = false;
        g.pending_sync.insert(m.id.clone());
    }
    for (w, answer) in answers {
        io.reply(w.reply, answer.into_response(w.version));
    }
    g.sync_deadline_ms = Some(io.now_ms.saturating_add(g.rebalance_timeout_ms()));
}

/// Members that got their JoinGroup answer but never sent SyncGroup within the
/// rebalance timeout are removed, and the group rebalances without them.
pub(crate) fn on_sync_deadline(g: &mut Group, io: &mut Io) {
    g.sync_deadline_ms = None;
    if !matches!(
        g.state,
        GroupState::CompletingRebalance | GroupState::Stable
    ) || g.pending_sync.is_empty()
    {
        return;
    }
    let missing: Vec<String> = g.pending_sync.drain().collect();
    tracing::info!(group = %g.id, removed = ?missing, "removed members that never sent SyncGroup");
    for id in missing {
        if let Some(m) = g.remove_member(&id) {
            if let Some(w) = m.join_waiter {
                io.reply(
                    w.reply,
                    JoinAnswer::error("", codes::UNKNOWN_MEMBER_ID).into_response(w.version),
                );
            }
        }
    }
    prepare_rebalance(g, io);
}

/// Clears every assignment and answers members waiting in SyncGroup with `error`.
pub(crate) fn reset_and_propagate_assignment_error(g: &mut Group, error: i16, io: &mut Io) {
    let now = io.now_ms;
    for m in g.members.values_mut() {
        m.assignment = Bytes::new();
        if let Some(w) = m.sync_waiter.take() {
            io.reply(w.reply, sync_error(error));
            m.heartbeat_deadline_ms = now.saturating_add(i64::from(m.session_timeout_ms));
        }
    }
}

/// Installs the leader's assignment (members it left out get an empty one) and
/// answers everyone waiting in SyncGroup with their own part.
pub(crate) fn set_and_propagate_assignment(
    g: &mut Group,
    assignments: &HashMap<String, Bytes>,
    io: &mut Io,
) {
    let now = io.now_ms;
    for m in g.members.values_mut() {
        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
        if let Some(w) = m.sync_waiter.take() {
            io.reply(
                w.reply,
                sync_response(
                    codes::NONE,
                    g.protocol_type.as_deref(),
                    g.protocol_name.as_deref(),
                    m.assignment.clone(),
                ),
            );
            m.heartbeat_deadline_ms = now.saturating_add(i64::from(m.session_timeout_ms));
        }
    }
}

/// Removes a member for good (left, expired, fenced out) and lets the group react:
/// a stable group rebalances, a preparing one may now complete.
pub(crate) fn remove_member_and_update(g: &mut Group, member_id: &str, io: &mut Io) {
    let Some(m) = g.remove_member(member_id) else {
        return;
    };
    if let Some(w) = m.join_waiter {
        io.reply(
            w.reply,
            JoinAnswer::error("", codes::UNKNOWN_MEMBER_ID).into_response(w.version),
        );
    }
    if let Some(w) = m.sync_waiter {
        io.reply(w.reply, sync_error(codes::UNKNOWN_MEMBER_ID));
    }
    match g.state {
        GroupState::Dead | GroupState::Empty => {}
        GroupState::Stable | GroupState::CompletingRebalance => maybe_prepare_rebalance(g, io),
        GroupState::PreparingRebalance => try_complete_join(g, io),
    }
}

/// Writes the group's metadata record (with `assignments` if given). Fails only when
/// a field cannot be encoded (a string longer than a record string can hold).
pub(crate) fn store_group(
    g: &Group,
    assignments: Option<&HashMap<String, Bytes>>,
    kind: PendingAppend,
    io: &mut Io,
) -> Result<(), i16> {
    let key = GroupMetadataKey {
        group: g.id.clone(),
    }
    .encode();
    let value = g.metadata_value(assignments).encode();
    match (key, value) {
        (Ok(key), Ok(value)) => {
            io.append(g.partition, vec![(key, Some(value))], kind);
            Ok(())
        }
        _ => Err(codes::UNKNOWN_SERVER_ERROR),
    }
}

/// Fires this group's timers that are due: lapsed pending members, expired sessions,
/// the join deadline and the SyncGroup deadline.
pub(crate) fn fire_timers(g: &mut Group, io: &mut Io) {
    let now = io.now_ms;
    let lapsed: Vec<String> = g
        .pending_members
        .iter()
        .filter(|(_, deadline)| **deadline <= now)
        .map(|(id, _)| id.clone())
        .collect();
    if !lapsed.is_empty() {
        for id in &lapsed {
            g.pending_members.shift_remove(id);
        }
        try_complete_join(g, io);
    }
    let expired: Vec<String> = g
        .members
        .values()
        .filter(|m| m.expiry_deadline_ms().is_some_and(|d| d <= now))
        .map(|m| m.id.clone())
        .collect();
    for id in expired {
        tracing::info!(group = %g.id, member = %id, "member session expired");
        remove_member_and_update(g, &id, io);
    }
    if g.join_deadline_ms.is_some_and(|d| d <= now) {
        on_join_deadline(g, io);
    }
    if g.sync_deadline_ms.is_some_and(|d| d <= now) {
        on_sync_deadline(g, io);
    }
}

/// Answers every request parked on a group that this node stops serving.
pub(crate) fn unload_group(g: Group, out: &mut Vec<crate::effect::Effect>) {
    for m in g.members.into_values() {
        if let Some(w) = m.join_waiter {
            out.push(crate::effect::Effect::Reply {
                id: w.reply,
                response: JoinAnswer::error(&m.id, codes::NOT_COORDINATOR).into_response(w.version),
            });
        }
        if let Some(w) = m.sync_waiter {
            out.push(crate::effect::Effect::Reply {
                id: w.reply,
                response: sync_error(codes::NOT_COORDINATOR),
            });
        }
    }
}
