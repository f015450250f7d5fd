//! ConsumerGroupHeartbeat (KIP-848): joins, leaves, subscription changes and the
//! reconciliation of the sending member, all in one request. Records go to
//! `__consumer_offsets` before the answer does.

use moldau_protocol::kafka::messages::consumer_group_heartbeat_response::Assignment as ResponseAssignment;
use moldau_protocol::kafka::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};

use super::assignment;
use super::assignor::ServerAssignor;
use super::changes::Changes;
use super::downgrade::maybe_downgrade;
use super::group::{compile_topic_regex, ConsumerGroup, SUBSCRIBED_TOPIC_REGEX_BYTES_MAX};
use super::member::{
    ConsumerMember, MemberAssignment, MemberState, MemberSubscription, JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
use super::reconciliation::reconcile;
use super::topic_catalog::TopicCatalog;
use super::undo::{ConsumerUndo, GroupBefore};
use super::upgrade::{upgrade, upgrade_refusal};
use crate::codes;
use crate::config::GroupConfig;
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::group::{Group, GroupState};
use crate::member_id::MemberIdSource;
use crate::pending::{Io, PendingAppend};
use crate::request::{GroupResponse, RequestContext};
use crate::responses::str;
use crate::wire::STRING_BYTES_MAX;

/// From v1 the client chooses its member id (KIP-1082).
const CLIENT_MEMBER_ID_VERSION: i16 = 1;
/// Most topic names one subscription may list.
const SUBSCRIBED_TOPIC_NAMES_MAX: usize = 10_000;

/// An error answer: code and message.
type Refusal = (i16, String);

fn refuse(code: i16, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

/// The configured assignors, those Moldau knows (the broker refuses others at start).
pub(crate) fn configured_assignors(config: &GroupConfig) -> Vec<ServerAssignor> {
    config
        .consumer_assignors
        .iter()
        .filter_map(|a| ServerAssignor::parse(a))
        .collect()
}

/// Kafka's request checks, before the group is looked at.
fn validate(
    req: &ConsumerGroupHeartbeatRequest,
    version: i16,
    assignors: &[ServerAssignor],
) -> Result<(), Refusal> {
    let invalid = |m: &str| Err(refuse(codes::INVALID_REQUEST, m));
    let empty = |s: &Option<moldau_protocol::kafka::protocol::StrBytes>| {
        s.as_ref().is_some_and(|s| s.is_empty())
    };
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if empty(&req.instance_id) {
        return invalid("InstanceId can't be empty.");
    }
    if empty(&req.rack_id) {
        return invalid("RackId can't be empty.");
    }
    if (version >= CLIENT_MEMBER_ID_VERSION || req.member_epoch > 0) && req.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    let too_long = [
        Some(req.member_id.as_str()),
        req.instance_id.as_deref(),
        req.rack_id.as_deref(),
        req.server_assignor.as_deref(),
    ]
    .into_iter()
    .flatten()
    .chain(
        req.subscribed_topic_names
            .iter()
            .flatten()
            .map(|t| t.0.as_str()),
    )
    .any(|s| s.len() > STRING_BYTES_MAX);
    if too_long {
        return invalid("A string field is longer than the coordinator can store.");
    }
    if req
        .subscribed_topic_names
        .as_ref()
        .is_some_and(|t| t.len() > SUBSCRIBED_TOPIC_NAMES_MAX)
    {
        return invalid("SubscribedTopicNames lists too many topics.");
    }
    match req.member_epoch {
        JOIN_GROUP_MEMBER_EPOCH => {
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
                return invalid(
                    "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
                );
            }
        }
        LEAVE_GROUP_STATIC_MEMBER_EPOCH if req.instance_id.is_none() => {
            return invalid("InstanceId can't be null.");
        }
        e if e < LEAVE_GROUP_STATIC_MEMBER_EPOCH => return invalid("MemberEpoch is invalid."),
        _ => {}
    }
    if let Some(regex) = req
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        if regex.len() > SUBSCRIBED_TOPIC_REGEX_BYTES_MAX || compile_topic_regex(regex).is_none() {
            return Err(refuse(
                codes::INVALID_REGULAR_EXPRESSION,
                format!("SubscribedTopicRegex `{regex}` is not a valid regular expression."),
            ));
        }
    }
    if let Some(name) = req.server_assignor.as_deref() {
        if !assignors.iter().any(|a| a.name() == name) {
            let names: Vec<&str> = assignors.iter().map(|a| a.name()).collect();
            return Err(refuse(
                codes::UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: {}.",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn error_response(refusal: Refusal) -> GroupResponse {
    GroupResponse::ConsumerGroupHeartbeat(
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(refusal.0)
            .with_error_message(Some(str(&refusal.1)))
            .with_member_epoch(-1),
    )
}

/// What one heartbeat does to the group.
struct Outcome {
    response: ConsumerGroupHeartbeatResponse,
    changes: Changes,
}

/// Everything a heartbeat needs besides the group.
pub(crate) struct Context<'a> {
    pub config: &'a GroupConfig,
    pub catalog: &'a TopicCatalog,
    pub assignors: Vec<ServerAssignor>,
    pub now_ms: i64,
}

impl GroupCoordinator {
    pub(crate) fn consumer_group_heartbeat(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: ConsumerGroupHeartbeatRequest,
        out: &mut Vec<Effect>,
    ) {
        let assignors = configured_assignors(&self.config);
        if let Err(refusal) = validate(&req, ctx.api_version, &assignors) {
            return Self::reply(out, reply, error_response(refusal));
        }
        let group_id = req.group_id.as_str().to_string();
        let partition = match self.group_status(&group_id, false) {
            Ok(p) => p,
            Err(code) => return Self::reply(out, reply, error_response((code, String::new()))),
        };
        let before = GroupBefore::of(self.groups.get(&group_id));
        // Records of a classic group's upgrade, written before the heartbeat's own.
        let mut upgraded = Changes::default();
        match self.groups.get_mut(&group_id) {
            Some(g)
                if g.consumer.is_none() && !(g.members.is_empty() && g.is(GroupState::Empty)) =>
            {
                // A classic group with members: upgraded online when a member joins
                // and the policy allows it (Kafka's getOrMaybeCreateConsumerGroup).
                let refusal = if req.member_epoch == JOIN_GROUP_MEMBER_EPOCH {
                    upgrade_refusal(g, &self.config)
                } else {
                    Some("the member is not joining")
                };
                if let Some(why) = refusal {
                    tracing::info!(group = group_id, "classic group not upgraded: {why}");
                    return Self::reply(
                        out,
                        reply,
                        error_response(refuse(
                            codes::GROUP_ID_NOT_FOUND,
                            format!("Group {group_id} is not a consumer group."),
                        )),
                    );
                }
                upgrade(g, &self.topics, now_ms, &mut upgraded, out);
            }
            Some(g) if g.consumer.is_none() => {
                // An empty classic group simply becomes a consumer group.
                g.consumer = Some(Box::default());
                g.protocol_type = Some(crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE.into());
            }
            Some(_) => {}
            None if req.member_epoch == JOIN_GROUP_MEMBER_EPOCH => {
                let mut g = Group::new(group_id.clone(), partition, now_ms);
                g.consumer = Some(Box::default());
                g.protocol_type = Some(crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE.into());
                self.groups.insert(group_id.clone(), g);
            }
            None => {
                return Self::reply(
                    out,
                    reply,
                    error_response(refuse(
                        codes::GROUP_ID_NOT_FOUND,
                        format!("Consumer group {group_id} not found."),
                    )),
                );
            }
        }
        self.deadlines.mark(&group_id);
        let hb = Context {
            config: &self.config,
            catalog: &self.topics,
            assignors,
            now_ms,
        };
        let Some(g) = self.groups.get_mut(&group_id) else {
            return;
        };
        let result = heartbeat(g, &hb, ctx, &req, self.member_ids.as_mut());
        match result {
            Err(refusal) => {
                if !upgraded.records.is_empty() {
                    // Refused after all: the upgrade did not happen either.
                    before.restore(g);
                }
                Self::reply(out, reply, error_response(refusal))
            }
            Ok(mut outcome) => {
                sync_classic_view(g, now_ms);
                if req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH {
                    let mut io = Io {
                        config: &self.config,
                        now_ms,
                        appender: &mut self.appender,
                        out,
                    };
                    maybe_downgrade(g, &self.topics, &mut outcome.changes, &mut io);
                }
                upgraded.records.append(&mut outcome.changes.records);
                outcome.changes.records = upgraded.records;
                let response = GroupResponse::ConsumerGroupHeartbeat(outcome.response);
                if outcome.changes.records.is_empty() {
                    Self::reply(out, reply, response);
                } else {
                    self.appender.append(
                        partition,
                        outcome.changes.records,
                        PendingAppend::ConsumerHeartbeat {
                            reply,
                            response: Box::new(response),
                            undo: ConsumerUndo::new(&group_id, before),
                        },
                        out,
                    );
                }
            }
        }
    }
}

/// Keeps the classic fields the shared code reads (state for deletion and offset
/// expiry, subscribed topics) in step with the consumer group.
pub(crate) fn sync_classic_view(g: &mut Group, now_ms: i64) {
    let Some(cg) = g.consumer.as_deref() else {
        return;
    };
    let state = if cg.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    let topics = cg.subscribed_topic_names();
    if g.state != state {
        g.transition(state, now_ms);
    }
    g.subscribed_topics = Some(topics);
}

fn heartbeat(
    g: &mut Group,
    hb: &Context<'_>,
    ctx: &RequestContext,
    req: &ConsumerGroupHeartbeatRequest,
    member_ids: &mut dyn MemberIdSource,
) -> Result<Outcome, Refusal> {
    let group_id = g.id.clone();
    let Some(cg) = g.consumer.as_deref_mut() else {
        return Err(refuse(codes::GROUP_ID_NOT_FOUND, "not a consumer group"));
    };
    let mut changes = Changes::default();
    let member_id = if req.member_epoch == JOIN_GROUP_MEMBER_EPOCH && req.member_id.is_empty() {
        // v0: the coordinator names the member.
        format!("{}-{}", ctx.client_id, member_ids.next_suffix())
    } else {
        req.member_id.as_str().to_string()
    };
    let instance_id = req.instance_id.as_deref().map(str::to_string);
    if req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
        || req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
    {
        return leave(cg, &group_id, hb, &member_id, instance_id.as_deref(), req);
    }
    let mut bump = false;
    let mut send_assignment = false;
    if req.member_epoch == JOIN_GROUP_MEMBER_EPOCH {
        send_assignment = true;
        bump |= join(cg, &group_id, hb, ctx, req, &member_id, &mut changes)?;
    } else {
        check_member(cg, &member_id, instance_id.as_deref(), req)?;
    }
    // The principal's DESCRIBE check filters what its regex resolves to.
    match &ctx.topic_describe {
        Some(check) => {
            cg.describe_checks.insert(member_id.clone(), check.clone());
        }
        None => {
            cg.describe_checks.remove(&member_id);
        }
    }
    // Subscription changes (null fields keep what the member had).
    if let Some(m) = cg.members.get_mut(&member_id) {
        let before = m.subscription.clone();
        update_subscription(&mut m.subscription, req);
        if m.subscription != before {
            bump |= m.subscription.topic_names != before.topic_names
                || m.subscription.topic_regex != before.topic_regex
                || m.subscription.server_assignor != before.server_assignor
                || m.subscription.rack_id != before.rack_id;
            changes.member_metadata(&group_id, m);
        }
        m.session_deadline_ms = hb
            .now_ms
            .saturating_add(i64::from(hb.config.consumer_session_timeout_ms));
    }
    // What the member's regex resolves to may have changed with its ACLs.
    let has_regex = cg
        .members
        .get(&member_id)
        .is_some_and(|m| m.subscription.topic_regex.is_some());
    if !bump && has_regex && cg.resolution_changed(&member_id, hb.catalog) {
        bump = true;
    }
    // The topics behind the subscriptions may have changed too.
    let metadata = cg.compute_subscribed_metadata(hb.catalog);
    if cg.subscribed_metadata.as_ref() != Some(&metadata) {
        if cg.subscribed_metadata.is_some() {
            bump = true;
        } else if !bump {
            // Just loaded: this is what the stored target was computed from.
            cg.subscribed_metadata = Some(metadata);
        }
    }
    if bump {
        bump_and_assign(cg, &group_id, hb, &mut changes);
    }
    // Reconcile the member towards its target.
    let owned = req
        .topic_partitions
        .as_ref()
        .map(|t| assignment::from_request(t));
    let Some(member) = cg.members.get(&member_id) else {
        return Err(refuse(codes::UNKNOWN_MEMBER_ID, "member vanished"));
    };
    let target = cg.target.get(&member_id).cloned().unwrap_or_default();
    let next = reconcile(
        &member.current,
        cg.assignment_epoch,
        &target,
        owned.as_ref(),
        |t, p| cg.owned_by_other(&member_id, t, p),
    );
    if next != member.current {
        send_assignment = true;
        let entering_revocation = next.state == MemberState::UnrevokedPartitions
            && member.current.state != MemberState::UnrevokedPartitions;
        let timeout = i64::from(member.subscription.rebalance_timeout_ms.max(0));
        cg.set_current(&member_id, next);
        if let Some(m) = cg.members.get_mut(&member_id) {
            if m.current.state != MemberState::UnrevokedPartitions {
                m.revocation_deadline_ms = None;
            } else if entering_revocation {
                m.revocation_deadline_ms = Some(hb.now_ms.saturating_add(timeout));
            }
            changes.current_assignment(&group_id, m);
        }
    }
    let Some(m) = cg.members.get(&member_id) else {
        return Err(refuse(codes::UNKNOWN_MEMBER_ID, "member vanished"));
    };
    send_assignment |= owned.as_ref().is_some_and(|o| *o != m.current.assigned);
    let mut response = ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(str(&member_id)))
        .with_member_epoch(m.current.member_epoch)
        .with_heartbeat_interval_ms(hb.config.consumer_heartbeat_interval_ms);
    if send_assignment {
        response = response.with_assignment(Some(
            ResponseAssignment::default()
                .with_topic_partitions(assignment::to_response(&m.current.assigned)),
        ));
    }
    Ok(Outcome { response, changes })
}

/// Bumps the group epoch and recomputes the target assignment.
pub(crate) fn bump_and_assign(
    cg: &mut ConsumerGroup,
    group_id: &str,
    hb: &Context<'_>,
    changes: &mut Changes,
) {
    cg.group_epoch += 1;
    changes.group_epoch(group_id, cg.group_epoch);
    let changed = cg.compute_target(hb.catalog, &hb.assignors);
    changes.target(group_id, cg, &changed);
}

/// A member (re)joins with epoch 0. Returns whether the group epoch must move.
fn join(
    cg: &mut ConsumerGroup,
    group_id: &str,
    hb: &Context<'_>,
    ctx: &RequestContext,
    req: &ConsumerGroupHeartbeatRequest,
    member_id: &str,
    changes: &mut Changes,
) -> Result<bool, Refusal> {
    let instance_id = req.instance_id.as_deref();
    if let Some(instance) = instance_id {
        if let Some(old_id) = cg.static_members.get(instance).cloned() {
            if old_id != member_id {
                let old_epoch = cg.members.get(&old_id).map(|m| m.current.member_epoch);
                if old_epoch != Some(LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
                    return Err(refuse(
                        codes::UNRELEASED_INSTANCE_ID,
                        format!(
                            "Static member {old_id} with instance id {instance} is not released yet."
                        ),
                    ));
                }
                replace_static_member(cg, group_id, hb, ctx, req, &old_id, member_id, changes);
                return Ok(false);
            }
        }
    }
    if let Some(m) = cg.members.get(member_id) {
        // A known member rejoining has let go of everything it had.
        if m.current != MemberAssignment::default() {
            cg.set_current(member_id, MemberAssignment::default());
            if let Some(m) = cg.members.get(member_id) {
                changes.current_assignment(group_id, m);
            }
        }
        return Ok(false);
    }
    let max = usize::try_from(hb.config.consumer_max_size.max(0)).unwrap_or(usize::MAX);
    if cg.members.len() >= max {
        return Err(refuse(
            codes::GROUP_MAX_SIZE_REACHED,
            format!("The consumer group has reached its maximum capacity of {max} members."),
        ));
    }
    let member = ConsumerMember {
        id: member_id.to_string(),
        subscription: MemberSubscription {
            instance_id: instance_id.map(str::to_string),
            client_id: ctx.client_id.clone(),
            client_host: ctx.client_host.clone(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            ..MemberSubscription::default()
        },
        current: MemberAssignment::default(),
        session_deadline_ms: hb
            .now_ms
            .saturating_add(i64::from(hb.config.consumer_session_timeout_ms)),
        revocation_deadline_ms: None,
    };
    cg.add_member(member);
    if let Some(m) = cg.members.get(member_id) {
        // Written even if the subscription below is unchanged from the defaults.
        changes.member_metadata(group_id, m);
    }
    Ok(true)
}

/// A restarted static member takes over its predecessor's assignment at once.
#[allow(clippy::too_many_arguments)]
fn replace_static_member(
    cg: &mut ConsumerGroup,
    group_id: &str,
    hb: &Context<'_>,
    ctx: &RequestContext,
    req: &ConsumerGroupHeartbeatRequest,
    old_id: &str,
    new_id: &str,
    changes: &mut Changes,
) {
    let target = cg.target.get(old_id).cloned().unwrap_or_default();
    let Some(old) = cg.remove_member(old_id) else {
        return;
    };
    changes.member_removed(group_id, old_id);
    let member = ConsumerMember {
        id: new_id.to_string(),
        subscription: MemberSubscription {
            client_id: ctx.client_id.clone(),
            client_host: ctx.client_host.clone(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            classic: None,
            ..old.subscription
        },
        current: MemberAssignment {
            member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            previous_member_epoch: JOIN_GROUP_MEMBER_EPOCH,
            state: MemberState::Stable,
            assigned: old.current.assigned,
            pending_revocation: old.current.pending_revocation,
        },
        session_deadline_ms: hb
            .now_ms
            .saturating_add(i64::from(hb.config.consumer_session_timeout_ms)),
        revocation_deadline_ms: None,
    };
    cg.add_member(member);
    cg.target.insert(new_id.to_string(), target.clone());
    changes.target_member(group_id, new_id, &target);
    if let Some(m) = cg.members.get(new_id) {
        changes.member_metadata(group_id, m);
        changes.current_assignment(group_id, m);
    }
}

/// Kafka's epoch checks for a member heartbeating with a positive epoch.
fn check_member(
    cg: &ConsumerGroup,
    member_id: &str,
    instance_id: Option<&str>,
    req: &ConsumerGroupHeartbeatRequest,
) -> Result<(), Refusal> {
    if let Some(instance) = instance_id {
        match cg.static_members.get(instance) {
            Some(id) if id != member_id => {
                return Err(refuse(
                    codes::FENCED_INSTANCE_ID,
                    format!("Static member {member_id} with instance id {instance} was fenced by member {id}."),
                ))
            }
            _ => {}
        }
    }
    let Some(m) = cg.members.get(member_id) else {
        return Err(refuse(
            codes::UNKNOWN_MEMBER_ID,
            format!("Member {member_id} is not a member of the group."),
        ));
    };
    let known = m.current.member_epoch;
    let received = req.member_epoch;
    if received > known {
        return Err(refuse(
            codes::FENCED_MEMBER_EPOCH,
            format!("The consumer group member has a greater member epoch ({received}) than the one known by the group coordinator ({known}). The member must abandon all its partitions and rejoin."),
        ));
    }
    if received < known {
        let owned = req
            .topic_partitions
            .as_ref()
            .map(|t| assignment::from_request(t));
        let owned_ok = owned
            .as_ref()
            .is_none_or(|o| assignment::is_subset(o, &m.current.assigned));
        if received != m.current.previous_member_epoch || !owned_ok {
            return Err(refuse(
                codes::FENCED_MEMBER_EPOCH,
                format!("The consumer group member has a smaller member epoch ({received}) than the one known by the group coordinator ({known}). The member must abandon all its partitions and rejoin."),
            ));
        }
    }
    Ok(())
}

fn update_subscription(s: &mut MemberSubscription, req: &ConsumerGroupHeartbeatRequest) {
    if let Some(rack) = &req.rack_id {
        s.rack_id = Some(rack.to_string());
    }
    if req.rebalance_timeout_ms > 0 {
        s.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if let Some(names) = &req.subscribed_topic_names {
        let mut names: Vec<String> = names.iter().map(|t| t.0.to_string()).collect();
        names.sort();
        names.dedup();
        s.topic_names = names;
    }
    if let Some(regex) = &req.subscribed_topic_regex {
        s.topic_regex = Some(regex.to_string()).filter(|r| !r.is_empty());
    }
    if let Some(assignor) = &req.server_assignor {
        s.server_assignor = Some(assignor.to_string());
    }
}

/// Epoch -1 leaves for good; -2 (static members) keeps the assignment until the
/// session times out, for a restart under the same instance id.
fn leave(
    cg: &mut ConsumerGroup,
    group_id: &str,
    hb: &Context<'_>,
    member_id: &str,
    instance_id: Option<&str>,
    req: &ConsumerGroupHeartbeatRequest,
) -> Result<Outcome, Refusal> {
    let member_id = match instance_id {
        Some(instance) => match cg.static_members.get(instance) {
            Some(id) if id == member_id => id.clone(),
            Some(id) => {
                return Err(refuse(
                    codes::FENCED_INSTANCE_ID,
                    format!("Static member {member_id} with instance id {instance} was fenced by member {id}."),
                ))
            }
            None => {
                return Err(refuse(
                    codes::UNKNOWN_MEMBER_ID,
                    format!("Instance id {instance} is unknown."),
                ))
            }
        },
        None => member_id.to_string(),
    };
    if !cg.members.contains_key(&member_id) {
        return Err(refuse(
            codes::UNKNOWN_MEMBER_ID,
            format!("Member {member_id} is not a member of the group."),
        ));
    }
    let mut changes = Changes::default();
    if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        let mut current = cg.members[&member_id].current.clone();
        current.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
        cg.set_current(&member_id, current);
        if let Some(m) = cg.members.get(&member_id) {
            changes.current_assignment(group_id, m);
        }
    } else {
        remove_member(cg, group_id, hb, &member_id, &mut changes);
    }
    let response = ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(str(&member_id)))
        .with_member_epoch(req.member_epoch);
    Ok(Outcome { response, changes })
}

/// Drops a member (left, or fenced by a timer) and reassigns its partitions.
pub(crate) fn remove_member(
    cg: &mut ConsumerGroup,
    group_id: &str,
    hb: &Context<'_>,
    member_id: &str,
    changes: &mut Changes,
) {
    if cg.remove_member(member_id).is_some() {
        changes.member_removed(group_id, member_id);
        bump_and_assign(cg, group_id, hb, changes);
    }
}
