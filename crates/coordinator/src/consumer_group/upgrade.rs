//! Online upgrade (KIP-848): a classic group with members becomes a consumer group
//! when the first member with the consumer protocol joins. Its classic members stay,
//! now as classic members of the consumer group, at the classic generation as their
//! member epoch and with the partitions their last SyncGroup gave them.

use super::assignment::{self, Assignment};
use super::changes::Changes;
use super::group::ConsumerGroup;
use super::member::{
    ClassicMemberMetadata, ConsumerMember, MemberAssignment, MemberState, MemberSubscription,
};
use super::topic_catalog::TopicCatalog;
use crate::codes;
use crate::config::GroupConfig;
use crate::consumer_protocol::{
    assignment_partitions, subscription_topics, CONSUMER_PROTOCOL_TYPE,
};
use crate::effect::Effect;
use crate::group::{Group, GroupState};
use crate::member::Member;
use crate::request::GroupResponse;
use crate::responses::{sync_error, JoinAnswer};

/// Kafka's validateOnlineUpgrade: why `g` (a classic group with members) may not
/// become a consumer group, if it may not.
pub(crate) fn upgrade_refusal(g: &Group, config: &GroupConfig) -> Option<&'static str> {
    let max = usize::try_from(config.consumer_max_size.max(0)).unwrap_or(usize::MAX);
    if !config.consumer_migration_policy.upgrade_enabled() {
        Some("online upgrade is disabled (group.consumer.migration.policy)")
    } else if g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
        Some("the group does not use the consumer embedded protocol")
    } else if g.members.len() > max {
        Some("its size exceeds the consumer group maximum size")
    } else {
        None
    }
}

/// A classic member's partitions, by topic id (topics that no longer exist drop out).
fn assigned_partitions(m: &Member, catalog: &TopicCatalog) -> Assignment {
    let mut out = Assignment::new();
    for (topic, partitions) in assignment_partitions(&m.assignment).unwrap_or_default() {
        if let Some(t) = catalog.get(&topic) {
            for p in partitions
                .into_iter()
                .filter(|p| *p >= 0 && *p < t.partitions)
            {
                assignment::insert(&mut out, t.id, p);
            }
        }
    }
    out
}

/// Turns the classic group `g` into a consumer group (Kafka's convertToConsumerGroup):
/// requests parked in JoinGroup or SyncGroup are told to rejoin, and the records
/// written are the classic group's tombstone and the whole consumer group.
pub(crate) fn upgrade(
    g: &mut Group,
    catalog: &TopicCatalog,
    now_ms: i64,
    changes: &mut Changes,
    out: &mut Vec<Effect>,
) {
    let epoch = g.generation;
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let mut cg = ConsumerGroup {
        group_epoch: epoch,
        assignment_epoch: epoch,
        ..ConsumerGroup::default()
    };
    for m in g.members.values_mut() {
        let reply = |id, response: GroupResponse| Effect::Reply { id, response };
        if let Some(w) = m.join_waiter.take() {
            let answer = JoinAnswer::error(&m.id, codes::REBALANCE_IN_PROGRESS);
            out.push(reply(w.reply, answer.into_response(w.version)));
        }
        if let Some(w) = m.sync_waiter.take() {
            out.push(reply(w.reply, sync_error(codes::REBALANCE_IN_PROGRESS)));
        }
        let mut topic_names = subscription_topics(&m.metadata(&protocol)).unwrap_or_default();
        topic_names.sort();
        topic_names.dedup();
        let assigned = assigned_partitions(m, catalog);
        cg.target.insert(m.id.clone(), assigned.clone());
        cg.add_member(ConsumerMember {
            id: m.id.clone(),
            subscription: MemberSubscription {
                instance_id: m.instance_id.clone(),
                rack_id: None,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                topic_names,
                topic_regex: None,
                server_assignor: None,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                classic: Some(ClassicMemberMetadata {
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m.protocols.clone(),
                }),
            },
            current: MemberAssignment {
                member_epoch: epoch,
                previous_member_epoch: epoch,
                state: MemberState::Stable,
                assigned,
                pending_revocation: Assignment::new(),
            },
            session_deadline_ms: now_ms.saturating_add(i64::from(m.session_timeout_ms)),
            revocation_deadline_ms: None,
        });
    }
    tracing::info!(
        group = %g.id,
        members = cg.members.len(),
        epoch,
        "classic group upgraded to a consumer group"
    );
    changes.classic_group(&g.id, None);
    changes.whole_group(&g.id, &cg);
    g.members.clear();
    g.static_members.clear();
    g.pending_members.clear();
    g.pending_sync.clear();
    g.leader = None;
    g.protocol_name = None;
    g.join_deadline_ms = None;
    g.sync_deadline_ms = None;
    g.initial_delay = None;
    g.new_member_added = false;
    g.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.into());
    g.consumer = Some(Box::new(cg));
    g.transition(GroupState::Stable, now_ms);
}
