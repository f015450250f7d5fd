//! Consumer-group membership: JoinGroup / SyncGroup rounds (the leader runs the
//! assignor), heartbeats in the background, eager and cooperative revocation, leave
//! on close, and static membership.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use moldau_protocol::kafka::error::ResponseError;
use moldau_protocol::kafka::messages::join_group_request::JoinGroupRequestProtocol;
use moldau_protocol::kafka::messages::leave_group_request::MemberIdentity;
use moldau_protocol::kafka::messages::sync_group_request::SyncGroupRequestAssignment;
use moldau_protocol::kafka::messages::{
    ApiKey, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use moldau_protocol::kafka::protocol::StrBytes;

use super::assignor::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
    AssignmentStrategy, MemberSubscription,
};
use super::config::GroupProtocol;
use super::consumer_protocol::{self, IdAssignment, SentFields};
use super::{Consumer, Inner};
use crate::cluster::is_network;
use crate::coordinator::is_coordinator_moved;
use crate::error::{check_code, Error, Result};
use crate::record::TopicPartition;

/// The protocol type of consumer groups.
const PROTOCOL_TYPE: &str = "consumer";
/// Extra time a JoinGroup may take beyond the rebalance timeout (Java uses 5 s).
const JOIN_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);
/// JoinGroup/SyncGroup rounds before `poll` reports failure instead of looping.
const JOIN_ROUNDS_MAX: u32 = 50;

/// Membership as this member knows it.
#[derive(Debug)]
pub(crate) struct GroupState {
    /// Member id the coordinator gave us ("" before the first join).
    pub member_id: String,
    /// Generation of the current assignment (-1 when none).
    pub generation: i32,
    /// The strategy the coordinator chose.
    pub protocol: Option<AssignmentStrategy>,
    /// Joined and synced, heartbeating.
    pub stable: bool,
    /// A new JoinGroup round is needed.
    pub rejoin_needed: bool,
    /// Membership was lost (expired session, fenced generation): report the owned
    /// partitions as lost before rejoining.
    pub lost: bool,
    /// As leader: the partition counts the assignment was computed from. A change
    /// (partitions added, topic created) triggers a new rebalance.
    pub leader_counts: Option<HashMap<String, usize>>,
    /// Consumer protocol: the assignment the broker sent that `poll` has not
    /// reconciled yet (`generation` holds the member epoch).
    pub target: Option<IdAssignment>,
    /// Consumer protocol: the heartbeat interval the broker asks for.
    pub heartbeat_interval: Option<Duration>,
    /// Consumer protocol: the fields the last answered heartbeat carried, so the
    /// next one sends only what changed; `None` sends everything.
    pub sent: Option<SentFields>,
}

impl Default for GroupState {
    fn default() -> Self {
        GroupState {
            member_id: String::new(),
            generation: -1,
            protocol: None,
            stable: false,
            rejoin_needed: true,
            lost: false,
            leader_counts: None,
            target: None,
            heartbeat_interval: None,
            sent: None,
        }
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn group_id(c: &Consumer) -> Result<GroupId> {
    c.config()
        .group_id
        .as_ref()
        .map(|g| GroupId(sb(g)))
        .ok_or_else(|| Error::Config("group.id is not set".into()))
}

/// Makes sure the member is in the group with a current assignment, rejoining as
/// often as the protocol needs (cooperative revocation takes two rounds).
pub(super) async fn ensure_active(c: &Consumer) -> Result<()> {
    check_leader_metadata(c).await;
    let mut rounds = 0;
    loop {
        let (need, lost) = match c.inner().group.lock() {
            Ok(mut g) => {
                let lost = std::mem::take(&mut g.lost);
                (g.rejoin_needed || !g.stable, lost)
            }
            Err(_) => return Err(Error::Closed),
        };
        if lost {
            c.give_up_lost_partitions().await?;
        }
        if !need {
            return Ok(());
        }
        rounds += 1;
        if rounds > JOIN_ROUNDS_MAX {
            return Err(Error::Rebalance("group did not stabilise".into()));
        }
        match join_round(c).await {
            Ok(()) => {}
            Err(e) if e.is_retriable() || matches!(e, Error::Rebalance(_)) => {
                tracing::debug!(error = %e, "join round failed; retrying");
                tokio::time::sleep(c.cluster().config().retry_backoff).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// As leader, looks at the subscribed topics' partition counts once metadata is
/// older than `metadata.max.age.ms`, and asks for a rebalance when they changed.
async fn check_leader_metadata(c: &Consumer) {
    let counts = match c.inner().group.lock() {
        Ok(g) if g.stable => g.leader_counts.clone(),
        _ => None,
    };
    let Some(counts) = counts else { return };
    if !c.cluster().is_stale() {
        return;
    }
    let topics: Vec<String> = counts.keys().cloned().collect();
    let Ok(md) = c.cluster().refresh(Some(&topics)).await else {
        return;
    };
    let changed = counts
        .iter()
        .any(|(t, &n)| md.partition_count(t).unwrap_or(0) != n);
    if changed {
        tracing::info!("subscribed topics changed; rebalancing");
        if let Ok(mut g) = c.inner().group.lock() {
            g.rejoin_needed = true;
        }
    }
}

/// One JoinGroup + SyncGroup round, applying the assignment it yields.
async fn join_round(c: &Consumer) -> Result<()> {
    let coord = c.coordinator()?.clone();
    let config = c.config().clone();
    let topics = c.subscription().unwrap_or_default();
    let previous_protocol = c.inner().group.lock().ok().and_then(|g| g.protocol);
    // Eager protocols give everything up before joining; cooperative ones keep what
    // they own except topics no longer subscribed.
    let owned = c.assignment();
    let eager = previous_protocol.is_some_and(|p| !p.is_cooperative());
    let unsubscribed: Vec<TopicPartition> = owned
        .iter()
        .filter(|tp| !topics.contains(&tp.topic))
        .cloned()
        .collect();
    let give_up: Vec<TopicPartition> = if eager { owned.clone() } else { unsubscribed };
    if !give_up.is_empty() {
        revoke(c, &give_up).await?;
    }
    let owned = c.assignment();
    let (member_id, generation) = c
        .inner()
        .group
        .lock()
        .map(|g| (g.member_id.clone(), g.generation))
        .map_err(|_| Error::Closed)?;
    let mut protocols = Vec::new();
    for s in &config.assignment_strategies {
        protocols.push(
            JoinGroupRequestProtocol::default()
                .with_name(sb(s.name()))
                .with_metadata(encode_subscription(
                    &topics,
                    &owned,
                    generation,
                    config.client_rack.as_deref(),
                )?),
        );
    }
    let group = group_id(c)?;
    let instance = config.group_instance_id.clone();
    let join_timeout = config.max_poll_interval + JOIN_TIMEOUT_MARGIN;
    let mut member_id = member_id;
    let join = loop {
        let build = |version: i16| {
            JoinGroupRequest::default()
                .with_group_id(group.clone())
                .with_session_timeout_ms(config.session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(config.max_poll_interval.as_millis() as i32)
                .with_member_id(sb(&member_id))
                .with_group_instance_id(instance.as_deref().filter(|_| version >= 5).map(sb))
                .with_protocol_type(sb(PROTOCOL_TYPE))
                .with_protocols(protocols.clone())
        };
        let resp = match coord
            .send_with(ApiKey::JoinGroup, Some(join_timeout), build)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if coord.should_retry(&e) {
                    return Err(Error::Rebalance(format!("JoinGroup: {e}")));
                }
                return Err(e);
            }
        };
        match check_code(resp.error_code, None) {
            Ok(()) => break resp,
            Err(e) if e.is(ResponseError::MemberIdRequired) => {
                member_id = resp.member_id.to_string();
                set_member(c, &member_id, -1);
            }
            Err(e) if e.is(ResponseError::UnknownMemberId) => {
                member_id.clear();
                set_member(c, "", -1);
            }
            Err(e) if e.is(ResponseError::RebalanceInProgress) => {}
            Err(e)
                if is_coordinator_moved(&e) || e.is(ResponseError::CoordinatorLoadInProgress) =>
            {
                coord.should_retry(&e);
                return Err(Error::Rebalance(format!("JoinGroup: {e}")));
            }
            Err(e) => return Err(e),
        }
    };
    let member_id = join.member_id.to_string();
    let generation = join.generation_id;
    let protocol_name = join
        .protocol_name
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let strategy = AssignmentStrategy::from_name(&protocol_name).map_err(|_| {
        Error::Protocol(format!(
            "coordinator chose unknown protocol {protocol_name}"
        ))
    })?;
    set_member(c, &member_id, generation);
    let (assignments, leader_counts) = if *join.leader == *member_id && !join.skip_assignment {
        let (a, counts) = leader_assign(c, strategy, &join.members).await?;
        (a, Some(counts))
    } else {
        (Vec::new(), None)
    };
    if let Ok(mut g) = c.inner().group.lock() {
        g.leader_counts = leader_counts;
    }
    let build = |version: i16| {
        SyncGroupRequest::default()
            .with_group_id(group.clone())
            .with_generation_id(generation)
            .with_member_id(sb(&member_id))
            .with_group_instance_id(instance.as_deref().filter(|_| version >= 3).map(sb))
            .with_protocol_type(Some(sb(PROTOCOL_TYPE)))
            .with_protocol_name(Some(sb(&protocol_name)))
            .with_assignments(assignments.clone())
    };
    let sync = match coord.send_with(ApiKey::SyncGroup, None, build).await {
        Ok(r) => r,
        Err(e) => {
            coord.should_retry(&e);
            return Err(Error::Rebalance(format!("SyncGroup: {e}")));
        }
    };
    if let Err(e) = check_code(sync.error_code, None) {
        if e.is(ResponseError::UnknownMemberId) {
            set_member(c, "", -1);
        } else if e.is(ResponseError::IllegalGeneration) {
            set_member(c, &member_id, -1);
        } else if is_coordinator_moved(&e) {
            coord.should_retry(&e);
        } else if !e.is(ResponseError::RebalanceInProgress) {
            return Err(e);
        }
        return Err(Error::Rebalance(format!("SyncGroup: {e}")));
    }
    let assigned = decode_assignment(&sync.assignment)?;
    apply_assignment(c, strategy, generation, assigned).await
}

fn set_member(c: &Consumer, member_id: &str, generation: i32) {
    if let Ok(mut g) = c.inner().group.lock() {
        g.member_id = member_id.to_string();
        g.generation = generation;
        if generation < 0 {
            g.stable = false;
        }
    }
}

/// Commits (auto commit), tells the listener, and drops the partitions.
async fn revoke(c: &Consumer, partitions: &[TopicPartition]) -> Result<()> {
    c.auto_commit_now(partitions).await;
    for l in c.listeners() {
        l.on_partitions_revoked(c, partitions).await;
    }
    c.lock_state()?.remove(partitions);
    Ok(())
}

async fn apply_assignment(
    c: &Consumer,
    strategy: AssignmentStrategy,
    generation: i32,
    assigned: Vec<TopicPartition>,
) -> Result<()> {
    let owned: BTreeSet<TopicPartition> = c.assignment().into_iter().collect();
    let new: BTreeSet<TopicPartition> = assigned.iter().cloned().collect();
    let revoked: Vec<TopicPartition> = owned.difference(&new).cloned().collect();
    let added: Vec<TopicPartition> = new.difference(&owned).cloned().collect();
    let mut again = false;
    if strategy.is_cooperative() {
        if !revoked.is_empty() {
            revoke(c, &revoked).await?;
            // The partitions given up can now be assigned elsewhere: one more round.
            again = true;
        }
        c.lock_state()?.add(&added);
    } else {
        if !revoked.is_empty() {
            revoke(c, &revoked).await?;
        }
        c.lock_state()?.assign(&assigned);
    }
    if let Ok(mut g) = c.inner().group.lock() {
        g.generation = generation;
        g.protocol = Some(strategy);
        g.stable = true;
        g.rejoin_needed = again;
    }
    tracing::info!(
        group = c.config().group_id.as_deref().unwrap_or(""),
        generation,
        protocol = strategy.name(),
        assigned = assigned.len(),
        "joined group"
    );
    let newly = if strategy.is_cooperative() {
        added
    } else {
        assigned
    };
    for l in c.listeners() {
        l.on_partitions_assigned(c, &newly).await;
    }
    c.inner().fetch_wake.notify_one();
    Ok(())
}

/// The leader's job: decode every member's subscription, look up partition counts,
/// and run the chosen assignor.
async fn leader_assign(
    c: &Consumer,
    strategy: AssignmentStrategy,
    members: &[moldau_protocol::kafka::messages::join_group_response::JoinGroupResponseMember],
) -> Result<(Vec<SyncGroupRequestAssignment>, HashMap<String, usize>)> {
    let subs: Vec<MemberSubscription> = members
        .iter()
        .map(|m| {
            decode_subscription(&m.member_id, m.group_instance_id.as_deref(), &m.metadata)
                .unwrap_or_else(|e| {
                    tracing::warn!(member = %m.member_id, error = %e, "undecodable subscription");
                    MemberSubscription {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                        generation: -1,
                        ..Default::default()
                    }
                })
        })
        .collect();
    let mut topics: Vec<String> = subs.iter().flat_map(|s| s.topics.iter().cloned()).collect();
    topics.sort();
    topics.dedup();
    let md = if topics.is_empty() {
        c.cluster().metadata()
    } else {
        c.cluster().refresh(Some(&topics)).await?
    };
    let counts: HashMap<String, i32> = topics
        .iter()
        .filter_map(|t| md.partition_count(t).map(|n| (t.clone(), n as i32)))
        .collect();
    // Unknown topics count as 0 partitions, so their creation triggers a rebalance.
    let seen: HashMap<String, usize> = topics
        .iter()
        .map(|t| (t.clone(), md.partition_count(t).unwrap_or(0)))
        .collect();
    let plan = strategy.assign(&counts, &subs);
    let mut out = Vec::with_capacity(plan.len());
    for (member, tps) in plan {
        out.push(
            SyncGroupRequestAssignment::default()
                .with_member_id(sb(&member))
                .with_assignment(encode_assignment(&tps)?),
        );
    }
    Ok((out, seen))
}

/// Leaves the group: commit and revoke (listener), then LeaveGroup unless the member
/// is static (a static member keeps its place until its session expires).
pub(super) async fn leave(c: &Consumer, reason: &str) -> Result<()> {
    let owned = c.assignment();
    if !owned.is_empty() {
        revoke(c, &owned).await?;
    }
    let (member_id, stable) = match c.inner().group.lock() {
        Ok(mut g) => {
            let m = (g.member_id.clone(), g.stable || g.generation >= 0);
            *g = GroupState::default();
            m
        }
        Err(_) => return Err(Error::Closed),
    };
    if member_id.is_empty() || !stable || c.config().group_instance_id.is_some() {
        return Ok(());
    }
    let coord = c.coordinator()?;
    let group = group_id(c)?;
    let build = |version: i16| {
        let req = LeaveGroupRequest::default().with_group_id(group.clone());
        if version >= 3 {
            req.with_members(vec![MemberIdentity::default()
                .with_member_id(sb(&member_id))
                .with_reason(Some(sb(reason)))])
        } else {
            req.with_member_id(sb(&member_id))
        }
    };
    match coord.send_with(ApiKey::LeaveGroup, None, build).await {
        Ok(resp) => {
            if let Err(e) = check_code(resp.error_code, None) {
                tracing::debug!(error = %e, "LeaveGroup refused");
            }
        }
        Err(e) => tracing::debug!(error = %e, "LeaveGroup failed"),
    }
    Ok(())
}

/// Sends heartbeats while the member is stable, notices rebalances and expired
/// sessions, and leaves when the application stops polling for longer than
/// `max.poll.interval.ms`.
pub(super) async fn heartbeat_loop(weak: Weak<Inner>) {
    let consumer_protocol = weak
        .upgrade()
        .is_some_and(|i| i.config.group_protocol == GroupProtocol::Consumer);
    if consumer_protocol {
        return consumer_protocol::heartbeat_loop(weak).await;
    }
    let mut last_ok = Instant::now();
    loop {
        let interval = match weak.upgrade() {
            Some(inner) => inner.config.heartbeat_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        heartbeat_once(&inner, &mut last_ok).await;
    }
}

async fn heartbeat_once(inner: &Arc<Inner>, last_ok: &mut Instant) {
    let (member_id, generation, stable) = match inner.group.lock() {
        Ok(g) => (g.member_id.clone(), g.generation, g.stable),
        Err(_) => return,
    };
    if !stable {
        *last_ok = Instant::now();
        return;
    }
    let Some(coord) = inner.coordinator.clone() else {
        return;
    };
    // Time spent waiting inside poll counts as polling; only the time the
    // application spends between polls counts against max.poll.interval.ms.
    let polling = inner.poll_lock.try_lock().is_err();
    let idle = if polling {
        Duration::ZERO
    } else {
        inner
            .last_poll
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    };
    if idle > inner.config.max_poll_interval {
        tracing::warn!(
            idle_ms = idle.as_millis() as u64,
            "poll not called within max.poll.interval.ms; leaving the group"
        );
        if let Ok(mut g) = inner.group.lock() {
            g.stable = false;
            g.rejoin_needed = true;
            g.lost = true;
            g.generation = -1;
            if inner.config.group_instance_id.is_none() {
                g.member_id.clear();
            }
        }
        if inner.config.group_instance_id.is_none() {
            let group = GroupId(sb(coord.group_id()));
            let build = |version: i16| {
                let req = LeaveGroupRequest::default().with_group_id(group.clone());
                if version >= 3 {
                    req.with_members(vec![
                        MemberIdentity::default().with_member_id(sb(&member_id))
                    ])
                } else {
                    req.with_member_id(sb(&member_id))
                }
            };
            let _ = coord.send_with(ApiKey::LeaveGroup, None, build).await;
        }
        inner.poll_wake.notify_one();
        return;
    }
    let group = GroupId(sb(coord.group_id()));
    let instance = inner.config.group_instance_id.clone();
    let build = |version: i16| {
        HeartbeatRequest::default()
            .with_group_id(group.clone())
            .with_generation_id(generation)
            .with_member_id(sb(&member_id))
            .with_group_instance_id(instance.as_deref().filter(|_| version >= 3).map(sb))
    };
    let result = match coord.send_with(ApiKey::Heartbeat, None, build).await {
        Ok(resp) => check_code(resp.error_code, None),
        Err(e) => Err(e),
    };
    let Err(e) = result else {
        *last_ok = Instant::now();
        return;
    };
    let mut g = match inner.group.lock() {
        Ok(g) => g,
        Err(_) => return,
    };
    if g.generation != generation {
        return; // a rejoin happened meanwhile
    }
    if e.is(ResponseError::RebalanceInProgress) {
        g.rejoin_needed = true;
    } else if e.is(ResponseError::IllegalGeneration) || e.is(ResponseError::UnknownMemberId) {
        if e.is(ResponseError::UnknownMemberId) {
            g.member_id.clear();
        }
        g.generation = -1;
        g.stable = false;
        g.rejoin_needed = true;
        g.lost = true;
    } else if e.is(ResponseError::FencedInstanceId) {
        drop(g);
        inner.set_error(e);
        return;
    } else if is_network(&e) || is_coordinator_moved(&e) {
        coord.invalidate();
        if last_ok.elapsed() > inner.config.session_timeout {
            // The coordinator has surely expired us by now.
            g.generation = -1;
            g.stable = false;
            g.rejoin_needed = true;
            g.lost = true;
        }
    } else {
        tracing::debug!(error = %e, "heartbeat failed");
    }
    drop(g);
    inner.poll_wake.notify_one();
}
