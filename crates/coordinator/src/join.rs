//! JoinGroup: new members, rejoining members and static members.

use bytes::Bytes;
use moldau_protocol::kafka::messages::JoinGroupRequest;

use crate::codes;
use crate::consumer_group::undo::{ConsumerUndo, GroupBefore};
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::group::{Group, GroupState};
use crate::member::{Member, Waiter};
use crate::pending::{Io, PendingAppend, StaticRejoin};
use crate::rebalance::{
    maybe_prepare_rebalance, prepare_rebalance, store_group, try_complete_join,
};
use crate::request::RequestContext;
use crate::responses::JoinAnswer;

/// JoinGroup v4 introduced MEMBER_ID_REQUIRED for members without an id.
const MEMBER_ID_REQUIRED_VERSION: i16 = 4;
/// JoinGroup v9 lets a rejoining static leader skip the assignment.
const SKIP_ASSIGNMENT_VERSION: i16 = 9;

/// A JoinGroup, unpacked.
struct Join {
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    waiter: Waiter,
}

impl Join {
    fn answer(&self, io: &mut Io, member_id: &str, error: i16) {
        io.reply(
            self.waiter.reply,
            JoinAnswer::error(member_id, error).into_response(self.waiter.version),
        );
    }

    fn new_member(&self, id: String, now_ms: i64, join_timeout_ms: i64) -> Member {
        Member {
            id,
            instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            session_timeout_ms: self.session_timeout_ms,
            protocol_type: self.protocol_type.clone(),
            protocols: self.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(self.waiter),
            sync_waiter: None,
            is_new: true,
            heartbeat_deadline_ms: now_ms.saturating_add(join_timeout_ms),
        }
    }
}

impl GroupCoordinator {
    pub(crate) fn join_group(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: JoinGroupRequest,
        out: &mut Vec<Effect>,
    ) {
        let version = ctx.api_version;
        let group_id = req.group_id.0.as_str().to_string();
        let join = Join {
            member_id: req.member_id.as_str().to_string(),
            instance_id: req
                .group_instance_id
                .as_ref()
                .map(|s| s.as_str().to_string()),
            client_id: ctx.client_id.clone(),
            client_host: ctx.client_host.clone(),
            // v0 had no rebalance timeout: the session timeout served as both. A
            // negative one (never valid) counts as none.
            rebalance_timeout_ms: if version == 0 {
                req.session_timeout_ms
            } else {
                req.rebalance_timeout_ms.max(0)
            },
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type.as_str().to_string(),
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
                .collect(),
            waiter: Waiter { reply, version },
        };
        let partition = match self.group_status(&group_id, false) {
            Ok(p) => p,
            Err(error) => {
                let (_, mut io) = self.io(now_ms, out);
                return join.answer(&mut io, &join.member_id, error);
            }
        };
        if join.session_timeout_ms < self.config.group_min_session_timeout_ms
            || join.session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            let (_, mut io) = self.io(now_ms, out);
            return join.answer(&mut io, &join.member_id, codes::INVALID_SESSION_TIMEOUT);
        }
        let unknown = join.member_id.is_empty();
        if !self.groups.contains_key(&group_id) {
            if !unknown {
                let (_, mut io) = self.io(now_ms, out);
                return join.answer(&mut io, &join.member_id, codes::UNKNOWN_MEMBER_ID);
            }
            self.groups.insert(
                group_id.clone(),
                Group::new(group_id.clone(), partition, now_ms),
            );
        }
        if let Some(g) = self.groups.get_mut(&group_id) {
            if let Some(cg) = g.consumer.as_deref() {
                if !cg.members.is_empty() {
                    // A classic member of a consumer group (online migration).
                    return self.classic_join_to_consumer_group(now_ms, ctx, reply, &req, out);
                }
                // An empty consumer group becomes a classic group: its consumer records go.
                let mut changes = crate::consumer_group::changes::Changes::default();
                changes.group_removed(&group_id);
                let before = GroupBefore::of(Some(g));
                g.consumer = None;
                let undo = ConsumerUndo::new(&group_id, before);
                self.appender.append(
                    partition,
                    changes.records,
                    PendingAppend::ConsumerChange { undo },
                    out,
                );
            }
        }
        // Drawn before borrowing the group; unused when the member already has an id.
        let new_member_id = if unknown {
            let prefix = join.instance_id.as_deref().unwrap_or(&join.client_id);
            format!("{prefix}-{}", self.member_ids.next_suffix())
        } else {
            String::new()
        };
        let Some((group, mut io)) = self.group_io(&group_id, now_ms, out) else {
            return;
        };
        // A static member coming back under a known instance id takes its old place.
        let known_instance = join
            .instance_id
            .as_deref()
            .and_then(|i| group.static_member_id(i))
            .map(str::to_string);
        let seat = known_instance.as_deref().unwrap_or(&join.member_id);
        if !accept_joining_member(group, seat, io.config.group_max_size) {
            group.remove_member(&join.member_id);
            join.answer(&mut io, "", codes::GROUP_MAX_SIZE_REACHED);
        } else if unknown {
            new_member_join(group, join, new_member_id, &mut io);
        } else {
            existing_member_join(group, join, &mut io);
        }
        try_complete_join(group, &mut io);
    }
}

/// Kafka's acceptJoiningMember: room for a new member, counted by members that have
/// rejoined while a rebalance prepares (so that shrinking group.max.size works).
fn accept_joining_member(g: &Group, member_id: &str, max_size: i32) -> bool {
    let max = usize::try_from(max_size.max(0)).unwrap_or(usize::MAX);
    match g.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            g.members
                .get(member_id)
                .is_some_and(Member::is_awaiting_join)
                || g.num_awaiting_join() < max
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            g.members.contains_key(member_id) || g.members.len() < max
        }
    }
}

fn new_member_join(g: &mut Group, join: Join, new_id: String, io: &mut Io) {
    if !g.supports_protocols(&join.protocol_type, &join.protocols) {
        return join.answer(io, "", codes::INCONSISTENT_GROUP_PROTOCOL);
    }
    match join.instance_id.clone() {
        Some(instance) => match g.static_member_id(&instance).map(str::to_string) {
            Some(old_id) => {
                update_static_member_and_rebalance(g, join, &instance, &old_id, &new_id, io)
            }
            None => add_member_and_rebalance(g, &join, new_id, io),
        },
        None if join.waiter.version >= MEMBER_ID_REQUIRED_VERSION => {
            let deadline = io.now_ms.saturating_add(i64::from(join.session_timeout_ms));
            g.pending_members.insert(new_id.clone(), deadline);
            join.answer(io, &new_id, codes::MEMBER_ID_REQUIRED);
        }
        None => add_member_and_rebalance(g, &join, new_id, io),
    }
}

fn existing_member_join(g: &mut Group, join: Join, io: &mut Io) {
    let member_id = join.member_id.clone();
    if !g.supports_protocols(&join.protocol_type, &join.protocols) {
        return join.answer(io, &member_id, codes::INCONSISTENT_GROUP_PROTOCOL);
    }
    if g.pending_members.contains_key(&member_id) {
        return add_member_and_rebalance(g, &join, member_id, io);
    }
    if let Some(error) = g.validate_current_member(&member_id, join.instance_id.as_deref()) {
        return join.answer(io, &member_id, error);
    }
    let is_leader = g.is_leader(&member_id);
    let matches = g
        .members
        .get(&member_id)
        .is_some_and(|m| m.matches(&join.protocols));
    match g.state {
        GroupState::PreparingRebalance => update_member_and_rebalance(g, join, io),
        GroupState::CompletingRebalance if matches => {
            // Lost its JoinGroup answer: repeat the current generation's.
            let members = if is_leader {
                g.current_member_metadata()
            } else {
                Vec::new()
            };
            answer_current_generation(g, &join, members, io);
        }
        GroupState::Stable if matches && !is_leader => {
            answer_current_generation(g, &join, Vec::new(), io);
        }
        // A changed subscription, or the leader asking for a new assignment.
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member_and_rebalance(g, join, io)
        }
        GroupState::Empty | GroupState::Dead => {
            join.answer(io, &member_id, codes::UNKNOWN_MEMBER_ID)
        }
    }
}

fn answer_current_generation(
    g: &Group,
    join: &Join,
    members: Vec<moldau_protocol::kafka::messages::join_group_response::JoinGroupResponseMember>,
    io: &mut Io,
) {
    let answer = JoinAnswer {
        error: codes::NONE,
        member_id: join.member_id.clone(),
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol_name.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        members,
        skip_assignment: false,
    };
    io.reply(join.waiter.reply, answer.into_response(join.waiter.version));
}

fn add_member_and_rebalance(g: &mut Group, join: &Join, member_id: String, io: &mut Io) {
    if g.is(GroupState::PreparingRebalance) && g.generation == 0 {
        g.new_member_added = true;
    }
    let member = join.new_member(member_id, io.now_ms, io.config.new_member_join_timeout_ms);
    g.add_member(member);
    maybe_prepare_rebalance(g, io);
}

fn update_member_and_rebalance(g: &mut Group, join: Join, io: &mut Io) {
    if let Some(m) = g.members.get_mut(&join.member_id) {
        if let Some(old) = m.join_waiter.replace(join.waiter) {
            // The member asked again before its first JoinGroup was answered; that
            // one will never be read, but the broker still waits for an answer.
            io.reply(
                old.reply,
                JoinAnswer::error(&m.id, codes::REBALANCE_IN_PROGRESS).into_response(old.version),
            );
        }
        m.protocols = join.protocols;
        m.rebalance_timeout_ms = join.rebalance_timeout_ms;
        m.session_timeout_ms = join.session_timeout_ms;
    }
    maybe_prepare_rebalance(g, io);
}

/// A known static member came back with no member id (it restarted): it takes over
/// its old place under a new id. In a stable group whose protocol stays the same it
/// keeps its assignment without a rebalance, once the new id is durable.
fn update_static_member_and_rebalance(
    g: &mut Group,
    join: Join,
    instance: &str,
    old_id: &str,
    new_id: &str,
    io: &mut Io,
) {
    let previous_leader = g.leader.clone();
    // The old incarnation is fenced at once if it still waits for anything.
    if let Some(old) = g.members.get_mut(old_id) {
        if let Some(w) = old.join_waiter.take() {
            io.reply(
                w.reply,
                JoinAnswer::error(old_id, codes::FENCED_INSTANCE_ID).into_response(w.version),
            );
        }
        if let Some(w) = old.sync_waiter.take() {
            io.reply(
                w.reply,
                crate::responses::sync_error(codes::FENCED_INSTANCE_ID),
            );
        }
    }
    tracing::info!(
        group = %g.id,
        instance = %instance,
        old_member = %old_id,
        new_member = %new_id,
        "static member rejoined"
    );
    g.replace_static_member(instance, old_id, new_id);
    let Some(m) = g.members.get_mut(new_id) else {
        return;
    };
    m.heartbeat_deadline_ms = io.now_ms.saturating_add(i64::from(join.session_timeout_ms));
    let old_protocols = std::mem::replace(&mut m.protocols, join.protocols.clone());
    let old_rebalance_timeout_ms =
        std::mem::replace(&mut m.rebalance_timeout_ms, join.rebalance_timeout_ms);
    let old_session_timeout_ms =
        std::mem::replace(&mut m.session_timeout_ms, join.session_timeout_ms);
    m.join_waiter = Some(join.waiter);
    match g.state {
        GroupState::Stable => {
            if g.select_protocol() == g.protocol_name {
                let rejoin = StaticRejoin {
                    group_id: g.id.clone(),
                    instance_id: instance.to_string(),
                    old_member_id: old_id.to_string(),
                    new_member_id: new_id.to_string(),
                    old_protocols,
                    old_rebalance_timeout_ms,
                    old_session_timeout_ms,
                    previous_leader,
                    generation: g.generation,
                    waiter: join.waiter,
                };
                if let Err(error) =
                    store_group(g, None, PendingAppend::StaticRejoin(Box::new(rejoin)), io)
                {
                    if let Some(m) = g.members.get_mut(new_id) {
                        m.join_waiter = None;
                    }
                    join.answer(io, "", error);
                }
            } else {
                maybe_prepare_rebalance(g, io);
            }
        }
        // The leader may already be assigning with the old id: start over.
        GroupState::CompletingRebalance => prepare_rebalance(g, io),
        GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
    }
}

/// The static member's new id is durable (or failed to be): answer its JoinGroup.
pub(crate) fn finish_static_rejoin(g: &mut Group, r: StaticRejoin, append_error: i16, io: &mut Io) {
    let still_waiting = g.generation == r.generation
        && g.is(GroupState::Stable)
        && g.members
            .get(&r.new_member_id)
            .is_some_and(|m| m.join_waiter == Some(r.waiter));
    if !still_waiting {
        // Something else (a rebalance, a removal) has answered it already.
        return;
    }
    if append_error != codes::NONE {
        if let Some(m) = g.members.get_mut(&r.new_member_id) {
            m.join_waiter = None;
            m.protocols = r.old_protocols;
            m.rebalance_timeout_ms = r.old_rebalance_timeout_ms;
            m.session_timeout_ms = r.old_session_timeout_ms;
            m.heartbeat_deadline_ms = io.now_ms.saturating_add(i64::from(m.session_timeout_ms));
        }
        g.replace_static_member(&r.instance_id, &r.new_member_id, &r.old_member_id);
        let answer = JoinAnswer {
            error: codes::store_group_error(append_error),
            member_id: String::new(),
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            leader: r.previous_leader.unwrap_or_default(),
            members: Vec::new(),
            skip_assignment: false,
        };
        io.reply(r.waiter.reply, answer.into_response(r.waiter.version));
        return;
    }
    if let Some(m) = g.members.get_mut(&r.new_member_id) {
        m.join_waiter = None;
    }
    let is_leader = g.is_leader(&r.new_member_id);
    let answer = if r.waiter.version >= SKIP_ASSIGNMENT_VERSION {
        // The leader learns it leads, but skips the assignment of a stable group.
        JoinAnswer {
            error: codes::NONE,
            member_id: r.new_member_id.clone(),
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            leader: g.leader.clone().unwrap_or_default(),
            members: if is_leader {
                g.current_member_metadata()
            } else {
                Vec::new()
            },
            skip_assignment: is_leader,
        }
    } else {
        // Older clients see the previous leader id, so a rejoining leader acts as a
        // follower and does not compute an assignment the stable group would ignore.
        JoinAnswer {
            error: codes::NONE,
            member_id: r.new_member_id.clone(),
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            leader: r.previous_leader.unwrap_or_default(),
            members: Vec::new(),
            skip_assignment: false,
        }
    };
    io.reply(r.waiter.reply, answer.into_response(r.waiter.version));
}
