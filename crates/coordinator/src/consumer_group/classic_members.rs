//! Classic members of a consumer group (KIP-848's online migration): members that
//! still speak JoinGroup/SyncGroup/Heartbeat/LeaveGroup after their group became a
//! consumer group. Their assignment comes from the broker's target assignment; a
//! change reaches them as REBALANCE_IN_PROGRESS on Heartbeat, so that they rejoin,
//! and their JoinGroup reconciles them (an eager member has let go of everything
//! when it rejoins) while SyncGroup hands out the partitions they now own.

use bytes::Bytes;
use moldau_protocol::kafka::messages::{HeartbeatRequest, JoinGroupRequest, SyncGroupRequest};

use super::assignment::{self, Assignment};
use super::changes::Changes;
use super::describe::classic_assignment;
use super::group::ConsumerGroup;
use super::heartbeat::{bump_and_assign, configured_assignors, remove_member, Context};
use super::member::{
    ClassicMemberMetadata, ConsumerMember, MemberAssignment, MemberState, MemberSubscription,
};
use super::reconciliation::reconcile;
use super::sync_classic_view;
use super::topic_catalog::TopicCatalog;
use super::undo::{ConsumerUndo, GroupBefore};
use crate::codes;
use crate::consumer_protocol::{subscription_details, subscription_topics, CONSUMER_PROTOCOL_TYPE};
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::group::Group;
use crate::pending::PendingAppend;
use crate::request::RequestContext;
use crate::responses::{sync_error, sync_response, JoinAnswer};

/// JoinGroup v4 introduced MEMBER_ID_REQUIRED for members without an id.
const MEMBER_ID_REQUIRED_VERSION: i16 = 4;

/// Partitions named in a subscription, by topic id (unknown topics drop out).
fn by_topic_id(named: &[(String, Vec<i32>)], catalog: &TopicCatalog) -> Assignment {
    let mut out = Assignment::new();
    for (topic, partitions) in named {
        if let Some(t) = catalog.get(topic) {
            for p in partitions {
                assignment::insert(&mut out, t.id, *p);
            }
        }
    }
    out
}

/// The assignment version a member reads: that of the subscription it sent.
fn assignment_version(m: &ConsumerMember) -> i16 {
    m.subscription
        .classic
        .as_ref()
        .map_or(0, ClassicMemberMetadata::assignment_version)
}

/// Kafka's waitingOnUnreleasedPartition: a partition of the member's target is still
/// held by another member.
fn waiting_on_unreleased(cg: &ConsumerGroup, member_id: &str) -> bool {
    cg.target.get(member_id).is_some_and(|target| {
        assignment::pairs(target).any(|(t, p)| cg.owned_by_other(member_id, &t, p))
    })
}

/// The classic member `member_id` (by instance id when given), or why not.
fn classic_member<'a>(
    cg: &'a ConsumerGroup,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<&'a ConsumerMember, i16> {
    if let Some(instance) = instance_id {
        match cg.static_members.get(instance) {
            Some(id) if id != member_id => return Err(codes::FENCED_INSTANCE_ID),
            Some(_) => {}
            None => return Err(codes::UNKNOWN_MEMBER_ID),
        }
    }
    match cg.members.get(member_id) {
        Some(m) if m.is_classic() => Ok(m),
        _ => Err(codes::UNKNOWN_MEMBER_ID),
    }
}

impl GroupCoordinator {
    /// JoinGroup to a consumer group with members (Kafka's
    /// classicGroupJoinToConsumerGroup). Answered once its records are durable.
    pub(crate) fn classic_join_to_consumer_group(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: &JoinGroupRequest,
        out: &mut Vec<Effect>,
    ) {
        let version = ctx.api_version;
        let group_id = req.group_id.0.as_str().to_string();
        let error = |member_id: &str, code: i16| JoinAnswer::error(member_id, code);
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
            .collect();
        let instance_id = req.group_instance_id.as_deref().map(str::to_string);
        let unknown = req.member_id.is_empty();
        let member_id = if unknown {
            let prefix = instance_id.as_deref().unwrap_or(&ctx.client_id);
            format!("{prefix}-{}", self.member_ids.next_suffix())
        } else {
            req.member_id.as_str().to_string()
        };
        let Some(first) = protocols
            .first()
            .cloned()
            .filter(|_| req.protocol_type.as_str() == CONSUMER_PROTOCOL_TYPE)
        else {
            let answer = error(&req.member_id, codes::INCONSISTENT_GROUP_PROTOCOL);
            return Self::reply(out, reply, answer.into_response(version));
        };
        if unknown && instance_id.is_none() && version >= MEMBER_ID_REQUIRED_VERSION {
            let answer = error(&member_id, codes::MEMBER_ID_REQUIRED);
            return Self::reply(out, reply, answer.into_response(version));
        }
        let hb = Context {
            config: &self.config,
            catalog: &self.topics,
            assignors: configured_assignors(&self.config),
            now_ms,
        };
        let Some(g) = self.groups.get_mut(&group_id) else {
            let answer = error(&req.member_id, codes::UNKNOWN_MEMBER_ID);
            return Self::reply(out, reply, answer.into_response(version));
        };
        self.deadlines.mark(&group_id);
        let partition = g.partition;
        let before = GroupBefore::of(Some(g));
        let Some(cg) = g.consumer.as_deref_mut() else {
            return;
        };
        let mut changes = Changes::default();
        // Who joins: a known member, a new one, or a static member's new incarnation.
        let known_static = instance_id
            .as_deref()
            .and_then(|i| cg.static_members.get(i).cloned());
        let refusal = match (&known_static, unknown) {
            (Some(old), true) => {
                // A restarted static member replaces its predecessor.
                remove_member(cg, &group_id, &hb, old, &mut changes);
                None
            }
            (Some(_), false) => classic_member(cg, &member_id, instance_id.as_deref()).err(),
            // A static member must be known by its instance id.
            (None, false) if instance_id.is_some() => Some(codes::UNKNOWN_MEMBER_ID),
            // A dynamic member: known ones must speak the classic protocol; an id
            // not known yet (the one MEMBER_ID_REQUIRED handed out) joins.
            (None, false) => cg
                .members
                .get(&member_id)
                .is_some_and(|m| !m.is_classic())
                .then_some(codes::UNKNOWN_MEMBER_ID),
            (None, true) => None,
        };
        let max = usize::try_from(hb.config.consumer_max_size.max(0)).unwrap_or(usize::MAX);
        let refusal = refusal.or_else(|| {
            (!cg.members.contains_key(&member_id) && cg.members.len() >= max)
                .then_some(codes::GROUP_MAX_SIZE_REACHED)
        });
        if let Some(code) = refusal {
            let answer = error(&req.member_id, code);
            return Self::reply(out, reply, answer.into_response(version));
        }
        let details = subscription_details(&first.1).unwrap_or_default();
        let mut topic_names = subscription_topics(&first.1).unwrap_or_default();
        topic_names.sort();
        topic_names.dedup();
        let subscription = MemberSubscription {
            instance_id: instance_id.clone(),
            rack_id: details.rack_id.clone(),
            client_id: ctx.client_id.clone(),
            client_host: ctx.client_host.clone(),
            topic_names,
            topic_regex: None,
            server_assignor: None,
            rebalance_timeout_ms: req.rebalance_timeout_ms.max(0),
            classic: Some(ClassicMemberMetadata {
                session_timeout_ms: req.session_timeout_ms,
                protocols: protocols.clone(),
            }),
        };
        let session_deadline_ms = now_ms.saturating_add(i64::from(req.session_timeout_ms));
        let mut bump = false;
        match cg.members.get_mut(&member_id) {
            Some(m) => {
                let before = std::mem::replace(&mut m.subscription, subscription);
                bump |= before.topic_names != m.subscription.topic_names
                    || before.rack_id != m.subscription.rack_id;
                if before != m.subscription {
                    changes.member_metadata(&group_id, m);
                }
                m.session_deadline_ms = session_deadline_ms;
            }
            None => {
                cg.add_member(ConsumerMember {
                    id: member_id.clone(),
                    subscription,
                    current: MemberAssignment::default(),
                    session_deadline_ms,
                    revocation_deadline_ms: None,
                });
                if let Some(m) = cg.members.get(&member_id) {
                    changes.member_metadata(&group_id, m);
                }
                bump = true;
            }
        }
        let metadata = cg.compute_subscribed_metadata(hb.catalog);
        if cg.subscribed_metadata.as_ref() != Some(&metadata) {
            bump |= cg.subscribed_metadata.is_some();
            if !bump {
                cg.subscribed_metadata = Some(metadata);
            }
        }
        if bump {
            bump_and_assign(cg, &group_id, &hb, &mut changes);
        }
        // What it still owns: nothing for an eager member, which let go before
        // rejoining; its owned partitions for a cooperative one.
        let owned = by_topic_id(&details.owned, hb.catalog);
        let target = cg.target.get(&member_id).cloned().unwrap_or_default();
        let Some(current) = cg.members.get(&member_id).map(|m| m.current.clone()) else {
            return;
        };
        let next = reconcile(
            &current,
            cg.assignment_epoch,
            &target,
            Some(&owned),
            |t, p| cg.owned_by_other(&member_id, t, p),
        );
        if next != current {
            cg.set_current(&member_id, next);
            if let Some(m) = cg.members.get(&member_id) {
                changes.current_assignment(&group_id, m);
            }
        }
        let Some(m) = cg.members.get_mut(&member_id) else {
            return;
        };
        // It must send SyncGroup within its rebalance timeout.
        m.revocation_deadline_ms =
            Some(now_ms.saturating_add(i64::from(m.subscription.rebalance_timeout_ms.max(0))));
        let answer = JoinAnswer {
            error: codes::NONE,
            member_id: member_id.clone(),
            generation: m.current.member_epoch,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
            protocol_name: Some(first.0),
            ..JoinAnswer::default()
        };
        let response = answer.into_response(version);
        sync_classic_view(g, now_ms);
        if changes.records.is_empty() {
            return Self::reply(out, reply, response);
        }
        self.appender.append(
            partition,
            changes.records,
            PendingAppend::ConsumerHeartbeat {
                reply,
                response: Box::new(response),
                undo: ConsumerUndo::new(&group_id, before),
            },
            out,
        );
    }

    /// SyncGroup from a classic member of a consumer group (Kafka's
    /// classicGroupSyncToConsumerGroup): its current assignment, as the consumer
    /// embedded protocol encodes it.
    pub(crate) fn classic_sync_to_consumer_group(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        req: &SyncGroupRequest,
        out: &mut Vec<Effect>,
    ) {
        let group_id = req.group_id.as_str();
        self.deadlines.mark(group_id);
        let catalog = &self.topics;
        let Some(cg) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.consumer.as_deref_mut())
        else {
            return Self::reply(out, reply, sync_error(codes::UNKNOWN_MEMBER_ID));
        };
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_deref();
        let group_epoch = cg.group_epoch;
        let checked = classic_member(cg, member_id, instance_id).and_then(|m| {
            let protocols = m
                .subscription
                .classic
                .as_ref()
                .map(|c| c.protocols.as_slice())
                .unwrap_or_default();
            if req.generation_id != m.current.member_epoch {
                Err(codes::ILLEGAL_GENERATION)
            } else if req
                .protocol_type
                .as_deref()
                .is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
                || req
                    .protocol_name
                    .as_deref()
                    .is_some_and(|n| !protocols.iter().any(|(name, _)| name == n))
            {
                Err(codes::INCONSISTENT_GROUP_PROTOCOL)
            } else if group_epoch > m.current.member_epoch
                && m.current.state != MemberState::UnrevokedPartitions
            {
                // A new epoch since its JoinGroup: rejoin to catch up.
                Err(codes::REBALANCE_IN_PROGRESS)
            } else {
                Ok(())
            }
        });
        let Some(m) = cg.members.get_mut(member_id) else {
            return Self::reply(out, reply, sync_error(codes::UNKNOWN_MEMBER_ID));
        };
        if let Err(code) = checked {
            if code == codes::REBALANCE_IN_PROGRESS && m.revocation_deadline_ms.is_none() {
                m.revocation_deadline_ms = Some(
                    now_ms.saturating_add(i64::from(m.subscription.rebalance_timeout_ms.max(0))),
                );
            }
            return Self::reply(out, reply, sync_error(code));
        }
        let session_ms = m.session_timeout_ms(self.config.consumer_session_timeout_ms);
        m.session_deadline_ms = now_ms.saturating_add(i64::from(session_ms));
        if m.current.state != MemberState::UnrevokedPartitions {
            m.revocation_deadline_ms = None;
        }
        let protocol_name = req
            .protocol_name
            .as_deref()
            .map(str::to_string)
            .or_else(|| {
                m.subscription
                    .classic
                    .as_ref()
                    .and_then(|c| c.protocols.first().map(|p| p.0.clone()))
            });
        let bytes = classic_assignment(&m.current.assigned, catalog, assignment_version(m));
        let response = sync_response(
            codes::NONE,
            Some(CONSUMER_PROTOCOL_TYPE),
            protocol_name.as_deref(),
            bytes,
        );
        Self::reply(out, reply, response);
    }

    /// LeaveGroup from classic members of a consumer group (Kafka's
    /// classicGroupLeaveToConsumerGroup): each leaving member's error code.
    pub(crate) fn classic_leave_to_consumer_group(
        &mut self,
        now_ms: i64,
        group_id: &str,
        leaving: &[(String, Option<String>)],
        out: &mut Vec<Effect>,
    ) -> Vec<i16> {
        let hb = Context {
            config: &self.config,
            catalog: &self.topics,
            assignors: configured_assignors(&self.config),
            now_ms,
        };
        let Some(g) = self.groups.get_mut(group_id) else {
            return leaving.iter().map(|_| codes::UNKNOWN_MEMBER_ID).collect();
        };
        self.deadlines.mark(group_id);
        let partition = g.partition;
        let before = GroupBefore::of(Some(g));
        let Some(cg) = g.consumer.as_deref_mut() else {
            return leaving.iter().map(|_| codes::UNKNOWN_MEMBER_ID).collect();
        };
        let mut changes = Changes::default();
        let results = leaving
            .iter()
            .map(|(member_id, instance_id)| {
                let resolved = match instance_id {
                    // Administrative removal by instance id alone.
                    Some(instance) if member_id.is_empty() => cg
                        .static_members
                        .get(instance)
                        .cloned()
                        .ok_or(codes::UNKNOWN_MEMBER_ID),
                    _ => {
                        classic_member(cg, member_id, instance_id.as_deref()).map(|m| m.id.clone())
                    }
                };
                match resolved {
                    Ok(id) => {
                        remove_member(cg, group_id, &hb, &id, &mut changes);
                        codes::NONE
                    }
                    Err(code) => code,
                }
            })
            .collect();
        sync_classic_view(g, now_ms);
        if !changes.records.is_empty() {
            self.appender.append(
                partition,
                changes.records,
                PendingAppend::ConsumerChange {
                    undo: ConsumerUndo::new(group_id, before),
                },
                out,
            );
        }
        results
    }
}

/// Heartbeat from a classic member of a consumer group (Kafka's
/// classicGroupHeartbeatToConsumerGroup): REBALANCE_IN_PROGRESS while it must rejoin
/// (the group epoch moved, it has partitions to give up, or partitions it waited for
/// were released).
pub(crate) fn classic_heartbeat(
    g: &mut Group,
    req: &HeartbeatRequest,
    now_ms: i64,
    consumer_session_timeout_ms: i32,
) -> i16 {
    let Some(cg) = g.consumer.as_deref_mut() else {
        return codes::UNKNOWN_MEMBER_ID;
    };
    let member_id = req.member_id.as_str();
    let checked = classic_member(cg, member_id, req.group_instance_id.as_deref()).and_then(|m| {
        if req.generation_id != m.current.member_epoch {
            Err(codes::ILLEGAL_GENERATION)
        } else {
            Ok(())
        }
    });
    if let Err(code) = checked {
        return code;
    }
    let rejoin = cg.members.get(member_id).is_some_and(|m| {
        m.current.member_epoch < cg.group_epoch
            || m.current.state == MemberState::UnrevokedPartitions
            || (m.current.state == MemberState::UnreleasedPartitions
                && !waiting_on_unreleased(cg, member_id))
    });
    let Some(m) = cg.members.get_mut(member_id) else {
        return codes::UNKNOWN_MEMBER_ID;
    };
    let session_ms = m.session_timeout_ms(consumer_session_timeout_ms);
    m.session_deadline_ms = now_ms.saturating_add(i64::from(session_ms));
    if !rejoin {
        return codes::NONE;
    }
    // It must rejoin within its rebalance timeout.
    if m.revocation_deadline_ms.is_none() {
        m.revocation_deadline_ms =
            Some(now_ms.saturating_add(i64::from(m.subscription.rebalance_timeout_ms.max(0))));
    }
    codes::REBALANCE_IN_PROGRESS
}
