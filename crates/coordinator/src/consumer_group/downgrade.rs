//! Online downgrade (KIP-848): when the last member speaking the consumer protocol
//! leaves a group whose other members all speak the classic one, the group turns
//! back into a classic group and rebalances, so that its members agree on an
//! assignment among themselves again.

use super::changes::Changes;
use super::describe::classic_assignment;
use super::topic_catalog::TopicCatalog;
use crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::group::{Group, GroupState};
use crate::member::Member;
use crate::pending::Io;
use crate::rebalance::prepare_rebalance;

/// Kafka's validateOnlineDowngrade, once the leaving members are gone: every member
/// left speaks the classic protocol, there is one, the policy allows it, and the
/// group fits a classic group.
fn may_downgrade(g: &Group, io: &Io) -> bool {
    let Some(cg) = g.consumer.as_deref() else {
        return false;
    };
    let max = usize::try_from(io.config.group_max_size.max(0)).unwrap_or(usize::MAX);
    !cg.members.is_empty()
        && cg.members.values().all(|m| m.is_classic())
        && io.config.consumer_migration_policy.downgrade_enabled()
        && cg.members.len() <= max
}

/// Turns the consumer group `g` back into a classic group if [`may_downgrade`]
/// (Kafka's convertToClassicGroup): tombstones for the consumer group's records, the
/// classic group's record with each member's target assignment, and a rebalance.
/// True when it did.
pub(crate) fn maybe_downgrade(
    g: &mut Group,
    catalog: &TopicCatalog,
    changes: &mut Changes,
    io: &mut Io,
) -> bool {
    if !may_downgrade(g, io) {
        return false;
    }
    let Some(cg) = g.consumer.take() else {
        return false;
    };
    changes.whole_group_removed(&g.id, &cg);
    g.members.clear();
    g.static_members.clear();
    g.pending_members.clear();
    g.pending_sync.clear();
    g.leader = None;
    g.generation = cg.group_epoch;
    g.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.into());
    for m in cg.members.values() {
        let Some(classic) = m.subscription.classic.clone() else {
            continue;
        };
        let version = classic.assignment_version();
        let target = cg.target.get(&m.id).cloned().unwrap_or_default();
        g.add_member(Member {
            id: m.id.clone(),
            instance_id: m.subscription.instance_id.clone(),
            client_id: m.subscription.client_id.clone(),
            client_host: m.subscription.client_host.clone(),
            rebalance_timeout_ms: m.subscription.rebalance_timeout_ms,
            session_timeout_ms: classic.session_timeout_ms,
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols: classic.protocols,
            assignment: classic_assignment(&target, catalog, version),
            join_waiter: None,
            sync_waiter: None,
            is_new: false,
            heartbeat_deadline_ms: io
                .now_ms
                .saturating_add(i64::from(classic.session_timeout_ms)),
        });
    }
    g.protocol_name = g.select_protocol();
    g.subscribed_topics = g.compute_subscribed_topics();
    g.transition(GroupState::Stable, io.now_ms);
    changes.classic_group(&g.id, Some(&g.metadata_value(None)));
    tracing::info!(
        group = %g.id,
        members = g.members.len(),
        generation = g.generation,
        "consumer group downgraded to a classic group"
    );
    prepare_rebalance(g, io);
    true
}
