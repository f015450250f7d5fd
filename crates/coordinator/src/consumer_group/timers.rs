//! Consumer group timers (session and revocation timeouts) and topic changes: both
//! move the group epoch without any member asking.

use super::changes::Changes;
use super::downgrade::maybe_downgrade;
use super::heartbeat::{
    bump_and_assign, configured_assignors, remove_member, sync_classic_view, Context,
};
use super::topic_catalog::TopicCatalog;
use super::undo::{ConsumerUndo, GroupBefore};
use crate::coordinator::GroupCoordinator;
use crate::effect::Effect;
use crate::pending::{Io, PendingAppend};

impl GroupCoordinator {
    /// Removes the members of a consumer group whose session or revocation deadline
    /// has passed. False when `group_id` is not a consumer group.
    pub(crate) fn fire_consumer_timers(
        &mut self,
        group_id: &str,
        now_ms: i64,
        out: &mut Vec<Effect>,
    ) -> bool {
        let hb = Context {
            config: &self.config,
            catalog: &self.topics,
            assignors: configured_assignors(&self.config),
            now_ms,
        };
        let Some(g) = self.groups.get_mut(group_id) else {
            return false;
        };
        let partition = g.partition;
        if g.consumer.is_none() {
            return false;
        }
        self.deadlines.mark(group_id);
        let before = GroupBefore::of(Some(g));
        let Some(cg) = g.consumer.as_deref_mut() else {
            return false;
        };
        let expired: Vec<(String, &'static str)> = cg
            .members
            .values()
            .filter(|m| m.next_deadline_ms() <= now_ms)
            .map(|m| {
                let why = if m.session_deadline_ms <= now_ms {
                    "session timeout"
                } else {
                    "revocation (rebalance) timeout"
                };
                (m.id.clone(), why)
            })
            .collect();
        if expired.is_empty() {
            return true;
        }
        let mut changes = Changes::default();
        let mut consumer_member_left = false;
        for (member, why) in expired {
            tracing::info!(
                group = group_id,
                member,
                "consumer group member removed: {why}"
            );
            consumer_member_left |= cg.members.get(&member).is_some_and(|m| !m.is_classic());
            remove_member(cg, group_id, &hb, &member, &mut changes);
        }
        sync_classic_view(g, now_ms);
        if consumer_member_left {
            let mut io = Io {
                config: hb.config,
                now_ms,
                appender: &mut self.appender,
                out,
            };
            maybe_downgrade(g, hb.catalog, &mut changes, &mut io);
        }
        if !changes.records.is_empty() {
            let undo = ConsumerUndo::new(group_id, before);
            self.appender.append(
                partition,
                changes.records,
                PendingAppend::ConsumerChange { undo },
                out,
            );
        }
        true
    }

    /// The broker's topics changed: consumer groups whose subscribed topics appeared,
    /// grew or went away get a new epoch and target assignment (their members learn
    /// it at their next heartbeat, without rejoining).
    pub fn update_topics(&mut self, now_ms: i64, catalog: TopicCatalog) -> Vec<Effect> {
        let mut out = Vec::new();
        if catalog == self.topics {
            return out;
        }
        self.topics = catalog;
        let hb = Context {
            config: &self.config,
            catalog: &self.topics,
            assignors: configured_assignors(&self.config),
            now_ms,
        };
        for g in self.groups.values_mut() {
            let partition = g.partition;
            let group_id = g.id.clone();
            let Some(cg) = g.consumer.as_deref_mut() else {
                continue;
            };
            if cg.members.is_empty() {
                continue;
            }
            let metadata = cg.compute_subscribed_metadata(&self.topics);
            if cg.subscribed_metadata.as_ref() == Some(&metadata) {
                continue;
            }
            let mut changes = Changes::default();
            let before = GroupBefore::of(Some(g));
            let Some(cg) = g.consumer.as_deref_mut() else {
                continue;
            };
            bump_and_assign(cg, &group_id, &hb, &mut changes);
            sync_classic_view(g, now_ms);
            self.appender.append(
                partition,
                changes.records,
                PendingAppend::ConsumerChange {
                    undo: ConsumerUndo::new(&group_id, before),
                },
                &mut out,
            );
        }
        out
    }
}
