//! Group membership with the KIP-848 consumer protocol (`group.protocol=consumer`):
//! the broker computes the assignment; the member heartbeats (ConsumerGroupHeartbeat)
//! with its epoch on the interval the broker sets, and reconciles towards what an
//! answer assigns: it revokes what it lost (commit, listener) before it takes anything
//! new, and only then says so, with a heartbeat sent at once. Heartbeats carry only
//! the fields that changed since the last answered one; a join, or any failure, sends
//! them all again. Commits carry the member epoch (OffsetCommit v9).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use moldau_protocol::kafka::error::ResponseError;
use moldau_protocol::kafka::messages::consumer_group_heartbeat_request::TopicPartitions;
use moldau_protocol::kafka::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use uuid::Uuid;

use super::group::GroupState;
use super::{Consumer, Inner};
use crate::cluster::is_network;
use crate::coordinator::is_coordinator_moved;
use crate::error::{check_code, Error, Result};
use crate::metadata::ClusterMetadata;
use crate::record::TopicPartition;

/// Epoch that joins (or rejoins) the group.
const JOIN_EPOCH: i32 = 0;
/// Epoch that leaves it.
const LEAVE_EPOCH: i32 = -1;
/// Epoch a static member leaves with: the broker keeps its partitions until its
/// session ends, for a restart under the same `group.instance.id`.
const LEAVE_STATIC_EPOCH: i32 = -2;
/// Heartbeats one `poll` sends to join and reconcile before it lets the application
/// run (each answer may move the member one step).
const RECONCILE_ROUNDS_MAX: u32 = 20;
/// Shortest pause between background heartbeats, whatever the broker says.
const HEARTBEAT_INTERVAL_MIN: Duration = Duration::from_millis(10);

/// Partitions by topic id, as the protocol carries them.
pub(crate) type IdAssignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What the last answered heartbeat carried (KIP-848: later heartbeats send a field
/// only when it changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentFields {
    topics: Vec<String>,
    regex: Option<String>,
    assignor: Option<String>,
    owned: IdAssignment,
}

/// Which heartbeat to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// Join when out of the group, else heartbeat: only `poll` does this.
    JoinOrStay,
    /// Heartbeat if in the group; nothing otherwise (the background loop).
    Stay,
    /// Leave with this epoch.
    Leave(i32),
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A member id of the client's own (KIP-1082): random, kept for the consumer's
/// life in the group, including rejoins after being fenced.
fn new_member_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The owned partitions by topic id. A topic metadata no longer knows is left out:
/// the broker then sees it given up, which it is about to be.
fn owned_by_id(inner: &Inner) -> IdAssignment {
    let owned = inner.state.lock().map(|s| s.assigned()).unwrap_or_default();
    let md = inner.cluster.metadata();
    let mut out = IdAssignment::new();
    for tp in owned {
        if let Some(t) = md.topics.get(&tp.topic) {
            out.entry(Uuid::from_bytes(t.topic_id))
                .or_default()
                .insert(tp.partition);
        }
    }
    out
}

/// The heartbeat to send. `full` carries every field (joining, or after a failure);
/// otherwise fields equal to what `sent` carried stay null.
fn request(
    inner: &Inner,
    member_id: &str,
    epoch: i32,
    fields: &SentFields,
    sent: Option<&SentFields>,
) -> ConsumerGroupHeartbeatRequest {
    let config = &inner.config;
    let group = inner
        .coordinator
        .as_ref()
        .map(|c| c.group_id().to_string())
        .unwrap_or_default();
    let full = epoch == JOIN_EPOCH || sent.is_none();
    let changed =
        |same: fn(&SentFields, &SentFields) -> bool| full || sent.is_none_or(|s| !same(s, fields));
    let mut req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(&group)))
        .with_member_id(sb(member_id))
        .with_member_epoch(epoch)
        .with_instance_id(config.group_instance_id.as_deref().map(sb))
        .with_rebalance_timeout_ms(-1);
    if epoch < JOIN_EPOCH {
        return req;
    }
    if full {
        req = req
            .with_rack_id(config.client_rack.as_deref().map(sb))
            .with_rebalance_timeout_ms(
                i32::try_from(config.max_poll_interval.as_millis()).unwrap_or(i32::MAX),
            );
    }
    // Names or a regular expression, whichever the member subscribed with.
    match &fields.regex {
        Some(regex) if changed(|a, b| a.regex == b.regex) => {
            req = req.with_subscribed_topic_regex(Some(sb(regex)));
        }
        Some(_) => {}
        None if changed(|a, b| a.topics == b.topics) => {
            req = req.with_subscribed_topic_names(Some(
                fields.topics.iter().map(|t| TopicName(sb(t))).collect(),
            ));
        }
        None => {}
    }
    if changed(|a, b| a.assignor == b.assignor) {
        req = req.with_server_assignor(fields.assignor.as_deref().map(sb));
    }
    if changed(|a, b| a.owned == b.owned) {
        req = req.with_topic_partitions(Some(
            fields
                .owned
                .iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*t)
                        .with_partitions(ps.iter().copied().collect())
                })
                .collect(),
        ));
    }
    req
}

/// Sends one heartbeat and applies its answer. Membership errors (fenced, unknown
/// member) are handled here: the member is marked lost and rejoins on the next poll.
/// Other errors go to the caller; every failure makes the next heartbeat full.
async fn heartbeat(inner: &Arc<Inner>, beat: Beat) -> Result<()> {
    let Some(coord) = inner.coordinator.clone() else {
        return Err(Error::Config("subscribe needs group.id".into()));
    };
    let _one_at_a_time = inner.heartbeat_lock.lock().await;
    let (member_id, epoch, sent) = {
        let mut g = inner.group.lock().map_err(|_| Error::Closed)?;
        let epoch = match beat {
            Beat::Leave(_) if g.member_id.is_empty() => return Ok(()),
            Beat::Leave(e) => e,
            // Out of the group: only `poll` joins (after reporting the loss).
            Beat::Stay if g.generation <= JOIN_EPOCH => return Ok(()),
            Beat::Stay => g.generation,
            Beat::JoinOrStay => g.generation.max(JOIN_EPOCH),
        };
        if g.member_id.is_empty() {
            // KIP-1082: the member names itself, once; v0 brokers take the name too.
            g.member_id = new_member_id();
        }
        (g.member_id.clone(), epoch, g.sent.clone())
    };
    let topics = inner
        .subscription
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .unwrap_or_default();
    let regex = inner.subscription_regex.lock().ok().and_then(|r| r.clone());
    let fields = SentFields {
        topics,
        regex,
        assignor: inner.config.group_remote_assignor.clone(),
        // A joining member owns nothing (the broker refuses anything else).
        owned: if epoch == JOIN_EPOCH {
            IdAssignment::new()
        } else {
            owned_by_id(inner)
        },
    };
    let req = request(inner, &member_id, epoch, &fields, sent.as_ref());
    let answer = coord
        .send_with(ApiKey::ConsumerGroupHeartbeat, None, |_| req.clone())
        .await;
    let resp: ConsumerGroupHeartbeatResponse = match answer {
        Ok(r) => r,
        Err(e) => {
            forget_sent(inner);
            coord.should_retry(&e);
            return Err(e);
        }
    };
    if matches!(beat, Beat::Leave(_)) {
        return check_code(resp.error_code, resp.error_message.as_deref());
    }
    let result = check_code(resp.error_code, resp.error_message.as_deref());
    let mut g = inner.group.lock().map_err(|_| Error::Closed)?;
    if g.member_id != member_id {
        return Ok(()); // the member left (or was reset) while this was on its way
    }
    match result {
        Ok(()) => {
            apply_answer(&mut g, resp, fields);
            Ok(())
        }
        Err(e)
            if e.is(ResponseError::FencedMemberEpoch) || e.is(ResponseError::UnknownMemberId) =>
        {
            // KIP-848: give everything up (as lost: commits would be refused) and
            // rejoin with epoch 0 under the same member id.
            tracing::info!(error = %e, "fenced by the group coordinator; rejoining");
            fence(&mut g);
            inner.poll_wake.notify_one();
            Ok(())
        }
        Err(e) => {
            g.sent = None;
            if is_coordinator_moved(&e) || e.is(ResponseError::CoordinatorLoadInProgress) {
                coord.should_retry(&e);
                return Err(Error::Rebalance(format!("ConsumerGroupHeartbeat: {e}")));
            }
            Err(e)
        }
    }
}

fn forget_sent(inner: &Inner) {
    if let Ok(mut g) = inner.group.lock() {
        g.sent = None;
    }
}

/// Membership is gone: the owned partitions are lost, the next poll rejoins.
fn fence(g: &mut GroupState) {
    g.generation = -1;
    g.stable = false;
    g.lost = true;
    g.rejoin_needed = true;
    g.target = None;
    g.sent = None;
}

fn apply_answer(g: &mut GroupState, resp: ConsumerGroupHeartbeatResponse, fields: SentFields) {
    if let Some(id) = resp.member_id.as_ref().filter(|id| !id.is_empty()) {
        g.member_id = id.to_string();
    }
    g.generation = resp.member_epoch;
    if let Ok(ms) = u64::try_from(resp.heartbeat_interval_ms) {
        if ms > 0 {
            g.heartbeat_interval = Some(Duration::from_millis(ms));
        }
    }
    if let Some(a) = resp.assignment {
        g.target = Some(
            a.topic_partitions
                .iter()
                .map(|t| (t.topic_id, t.partitions.iter().copied().collect()))
                .collect(),
        );
    }
    g.sent = Some(fields);
    g.stable = g.target.is_none();
    g.rejoin_needed = false;
}

/// The target's partitions by name, and whether some topic id is still unknown
/// (metadata is refreshed once for those before giving up until the next poll).
async fn resolve(c: &Consumer, target: &IdAssignment) -> (Vec<TopicPartition>, bool) {
    let find = |md: &ClusterMetadata| -> (Vec<TopicPartition>, bool) {
        let names: BTreeMap<Uuid, &str> = md
            .topics
            .values()
            .map(|t| (Uuid::from_bytes(t.topic_id), t.name.as_str()))
            .collect();
        let mut out = Vec::new();
        let mut missing = false;
        for (id, ps) in target {
            match names.get(id) {
                Some(name) => out.extend(ps.iter().map(|p| TopicPartition::new(*name, *p))),
                None => missing = true,
            }
        }
        (out, missing)
    };
    let found = find(&c.cluster().metadata());
    if !found.1 {
        return found;
    }
    // A regular expression names no topics: look at all of them.
    let topics = c.subscription().unwrap_or_default();
    let wanted = c
        .subscription_regex()
        .is_none()
        .then_some(topics.as_slice());
    match c.cluster().refresh(wanted).await {
        Ok(md) => find(&md),
        Err(_) => found,
    }
}

/// Brings the member into the group and its partitions up to the broker's answer:
/// reports lost partitions, joins when out, revokes before it assigns, and
/// acknowledges each step with a heartbeat at once.
pub(super) async fn ensure_active(c: &Consumer) -> Result<()> {
    for _ in 0..RECONCILE_ROUNDS_MAX {
        let (lost, need_beat, target) = match c.inner().group.lock() {
            Ok(mut g) => (
                std::mem::take(&mut g.lost),
                g.rejoin_needed || g.generation <= JOIN_EPOCH,
                g.target.take(),
            ),
            Err(_) => return Err(Error::Closed),
        };
        if lost {
            c.give_up_lost_partitions().await?;
        }
        if let Some(target) = target {
            if !reconcile(c, &target).await? {
                // Unknown topic ids: try again on the next poll, unless a newer
                // assignment arrives first.
                if let Ok(mut g) = c.inner().group.lock() {
                    g.target.get_or_insert(target);
                }
                return Ok(());
            }
            // Tell the broker what is owned now: it may take the next step.
            beat_or_backoff(c).await?;
            continue;
        }
        if !need_beat {
            return Ok(());
        }
        beat_or_backoff(c).await?;
    }
    Ok(())
}

/// One heartbeat from `poll`; trouble that a retry fixes waits the backoff and is
/// not reported.
async fn beat_or_backoff(c: &Consumer) -> Result<()> {
    match heartbeat(c.inner(), Beat::JoinOrStay).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_retriable() || matches!(e, Error::Rebalance(_)) || is_network(&e) => {
            tracing::debug!(error = %e, "consumer group heartbeat failed; retrying");
            tokio::time::sleep(c.cluster().config().retry_backoff).await;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Moves the owned partitions to `target`: what is no longer assigned is revoked
/// first (committed when auto commit is on, listener told, dropped), then the new
/// partitions are added. False when some topic id could not be resolved yet (the
/// resolved part is applied).
async fn reconcile(c: &Consumer, target: &IdAssignment) -> Result<bool> {
    let (assigned, missing) = resolve(c, target).await;
    let assigned: BTreeSet<TopicPartition> = assigned.into_iter().collect();
    let owned: BTreeSet<TopicPartition> = c.assignment().into_iter().collect();
    let revoked: Vec<TopicPartition> = owned.difference(&assigned).cloned().collect();
    let added: Vec<TopicPartition> = assigned.difference(&owned).cloned().collect();
    if !revoked.is_empty() {
        // Committed in the current epoch, before the heartbeat that gives them up.
        c.auto_commit_now(&revoked).await;
        for l in c.listeners() {
            l.on_partitions_revoked(c, &revoked).await;
        }
        c.lock_state()?.remove(&revoked);
    }
    if !added.is_empty() {
        c.lock_state()?.add(&added);
        for l in c.listeners() {
            l.on_partitions_assigned(c, &added).await;
        }
        c.inner().fetch_wake.notify_one();
    }
    if !revoked.is_empty() || !added.is_empty() {
        tracing::info!(
            group = c.config().group_id.as_deref().unwrap_or(""),
            revoked = revoked.len(),
            added = added.len(),
            "consumer group assignment reconciled"
        );
    }
    Ok(!missing)
}

/// Leaves the group after revoking what the member owns: epoch -1, or -2 for a
/// static member.
pub(super) async fn leave(c: &Consumer) -> Result<()> {
    let owned = c.assignment();
    if !owned.is_empty() {
        c.auto_commit_now(&owned).await;
        for l in c.listeners() {
            l.on_partitions_revoked(c, &owned).await;
        }
        c.lock_state()?.remove(&owned);
    }
    let joined = c
        .inner()
        .group
        .lock()
        .map(|g| g.generation > JOIN_EPOCH && !g.member_id.is_empty())
        .map_err(|_| Error::Closed)?;
    if joined {
        if let Err(e) = heartbeat(c.inner(), Beat::Leave(leave_epoch(c.inner()))).await {
            tracing::debug!(error = %e, "leaving heartbeat failed");
        }
    }
    if let Ok(mut g) = c.inner().group.lock() {
        *g = GroupState::default();
    }
    Ok(())
}

fn leave_epoch(inner: &Inner) -> i32 {
    if inner.config.group_instance_id.is_some() {
        LEAVE_STATIC_EPOCH
    } else {
        LEAVE_EPOCH
    }
}

/// Heartbeats on the interval the broker gives while the member is in the group.
/// An answer with a new assignment, or a fence, wakes `poll`, which reconciles.
pub(super) async fn heartbeat_loop(weak: Weak<Inner>) {
    let mut interval = match weak.upgrade() {
        Some(inner) => inner.config.heartbeat_interval,
        None => return,
    };
    loop {
        tokio::time::sleep(interval.max(HEARTBEAT_INTERVAL_MIN)).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        interval = heartbeat_once(&inner).await;
    }
}

async fn heartbeat_once(inner: &Arc<Inner>) -> Duration {
    let interval = inner
        .group
        .lock()
        .ok()
        .and_then(|g| g.heartbeat_interval)
        .unwrap_or(inner.config.heartbeat_interval);
    if poll_timer_expired(inner) {
        leave_for_poll_timeout(inner).await;
        return interval;
    }
    match heartbeat(inner, Beat::Stay).await {
        Ok(()) => {}
        Err(e) if e.is_retriable() || matches!(e, Error::Rebalance(_)) || is_network(&e) => {
            tracing::debug!(error = %e, "consumer group heartbeat failed");
        }
        Err(e) => {
            tracing::warn!(error = %e, "consumer group heartbeat refused");
            inner.set_error(e);
        }
    }
    let wake = inner
        .group
        .lock()
        .map(|g| g.target.is_some() || g.lost)
        .unwrap_or(false);
    if wake {
        inner.poll_wake.notify_one();
    }
    interval
}

/// True when the application has not called `poll` for `max.poll.interval.ms`
/// while in the group (time spent inside `poll` counts as polling).
fn poll_timer_expired(inner: &Inner) -> bool {
    let joined = inner
        .group
        .lock()
        .map(|g| g.generation > JOIN_EPOCH)
        .unwrap_or(false);
    if !joined || inner.poll_lock.try_lock().is_err() {
        return false;
    }
    inner
        .last_poll
        .lock()
        .map(|t| t.elapsed() > inner.config.max_poll_interval)
        .unwrap_or(false)
}

/// As Kafka's consumer: a member that stopped polling leaves the group so its
/// partitions move on; the next poll reports them lost and rejoins.
async fn leave_for_poll_timeout(inner: &Arc<Inner>) {
    tracing::warn!("poll not called within max.poll.interval.ms; leaving the group");
    if let Err(e) = heartbeat(inner, Beat::Leave(leave_epoch(inner))).await {
        tracing::debug!(error = %e, "leaving heartbeat failed");
    }
    if let Ok(mut g) = inner.group.lock() {
        fence(&mut g);
    }
    inner.poll_wake.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(topics: &[&str], owned: &[(u128, i32)]) -> SentFields {
        let mut o = IdAssignment::new();
        for (t, p) in owned {
            o.entry(Uuid::from_u128(*t)).or_default().insert(*p);
        }
        SentFields {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            regex: None,
            assignor: None,
            owned: o,
        }
    }

    fn inner() -> Arc<Inner> {
        let c = super::super::ConsumerBuilder::new("127.0.0.1:1")
            .group_id("g")
            .set("group.protocol", "consumer")
            .unwrap()
            .set("group.instance.id", "i-1")
            .unwrap()
            .set("client.rack", "r1")
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _enter = rt.enter();
        let consumer = c.build().unwrap();
        consumer.inner().clone()
    }

    #[test]
    fn a_join_is_full_and_later_heartbeats_send_only_what_changed() {
        let inner = inner();
        let now = fields(&["a"], &[]);
        let join = request(&inner, "m", JOIN_EPOCH, &now, None);
        assert_eq!(join.member_epoch, 0);
        assert_eq!(join.instance_id.as_deref(), Some("i-1"));
        assert_eq!(join.rack_id.as_deref(), Some("r1"));
        assert!(join.rebalance_timeout_ms > 0);
        assert_eq!(join.subscribed_topic_names.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            join.topic_partitions,
            Some(Vec::new()),
            "joining owns nothing"
        );

        // Same fields as answered: only the identity goes.
        let same = request(&inner, "m", 5, &now, Some(&now));
        assert_eq!((same.member_id.as_str(), same.member_epoch), ("m", 5));
        assert_eq!(same.instance_id.as_deref(), Some("i-1"));
        assert_eq!(same.rebalance_timeout_ms, -1);
        assert!(same.rack_id.is_none());
        assert!(same.subscribed_topic_names.is_none());
        assert!(same.topic_partitions.is_none());

        // A revocation done: the owned partitions go, the subscription does not.
        let after = fields(&["a"], &[(7, 1)]);
        let ack = request(&inner, "m", 5, &after, Some(&now));
        assert_eq!(ack.topic_partitions.as_ref().map(Vec::len), Some(1));
        assert!(ack.subscribed_topic_names.is_none());

        // After a failure (nothing known as sent) everything goes again.
        let full = request(&inner, "m", 5, &after, None);
        assert!(full.subscribed_topic_names.is_some() && full.topic_partitions.is_some());
        assert!(full.rebalance_timeout_ms > 0);

        // A regular expression goes instead of names, and only when it changed.
        let by_regex = SentFields {
            regex: Some("^x-.*".into()),
            ..fields(&[], &[])
        };
        let join = request(&inner, "m", JOIN_EPOCH, &by_regex, None);
        assert_eq!(join.subscribed_topic_regex.as_deref(), Some("^x-.*"));
        assert!(join.subscribed_topic_names.is_none());
        let same = request(&inner, "m", 3, &by_regex, Some(&by_regex));
        assert!(same.subscribed_topic_regex.is_none());

        let leave = request(&inner, "m", LEAVE_STATIC_EPOCH, &after, Some(&now));
        assert_eq!(leave.member_epoch, -2);
        assert!(leave.topic_partitions.is_none() && leave.subscribed_topic_names.is_none());
    }

    #[test]
    fn an_answer_sets_epoch_interval_and_target_and_a_fence_forgets_them() {
        use moldau_protocol::kafka::messages::consumer_group_heartbeat_response::{
            Assignment, TopicPartitions as RespTopic,
        };
        let mut g = GroupState::default();
        let resp = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(sb("m-1")))
            .with_member_epoch(4)
            .with_heartbeat_interval_ms(250)
            .with_assignment(Some(Assignment::default().with_topic_partitions(vec![
                RespTopic::default()
                    .with_topic_id(Uuid::from_u128(9))
                    .with_partitions(vec![2, 0]),
            ])));
        apply_answer(&mut g, resp, fields(&["a"], &[]));
        assert_eq!((g.member_id.as_str(), g.generation), ("m-1", 4));
        assert_eq!(g.heartbeat_interval, Some(Duration::from_millis(250)));
        let target = g.target.clone().unwrap();
        assert_eq!(target[&Uuid::from_u128(9)], BTreeSet::from([0, 2]));
        assert!(g.sent.is_some());
        fence(&mut g);
        assert_eq!(g.generation, -1);
        assert!(g.lost && g.rejoin_needed && g.target.is_none() && g.sent.is_none());
        assert_eq!(g.member_id, "m-1", "rejoins under the same id");
    }
}
