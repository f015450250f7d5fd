//! The consumer: manual `assign` + `seek`, or `subscribe` with a consumer group;
//! records arrive from `poll` or as a `Stream`, prefetched in the background.
//!
//! ```no_run
//! # async fn demo() -> moldau_client::Result<()> {
//! use futures::StreamExt;
//! use moldau_client::consumer::{ConsumerBuilder, OffsetReset};
//! let consumer = ConsumerBuilder::new("127.0.0.1:9092")
//!     .group_id("billing")
//!     .auto_offset_reset(OffsetReset::Earliest)
//!     .build()?;
//! consumer.subscribe(&["payments"]).await?;
//! let mut records = consumer.stream();
//! while let Some(record) = records.next().await {
//!     let record = record?;
//!     println!("{}-{}@{}", record.topic, record.partition, record.offset);
//! }
//! # Ok(()) }
//! ```

pub mod assignor;
mod commits;
mod config;
mod consumer_protocol;
mod fetcher;
mod group;
mod group_metadata;
mod listener;
mod state;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use assignor::AssignmentStrategy;
pub use config::{ConsumerBuilder, ConsumerConfig, GroupProtocol, IsolationLevel, OffsetReset};
pub use group_metadata::ConsumerGroupMetadata;
pub use listener::RebalanceListener;

use crate::cluster::Cluster;
use crate::coordinator::Coordinator;
use crate::error::{Error, Result};
use crate::offsets::{self, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::{ConsumerRecord, TopicPartition};
use group::GroupState;
use state::SubscriptionState;

/// How long `stream()` waits in one poll before polling again.
const STREAM_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where `seek` moves a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    /// This offset.
    Offset(i64),
    /// The log start.
    Beginning,
    /// The log end.
    End,
    /// The first offset whose timestamp is at or after this (ms); the end if none.
    Timestamp(i64),
}

pub(crate) struct Inner {
    cluster: Cluster,
    config: ConsumerConfig,
    state: Mutex<SubscriptionState>,
    /// Wakes the fetcher (records consumed, positions changed).
    fetch_wake: Notify,
    /// Wakes `poll` (records arrived, rebalance needed, error).
    poll_wake: Notify,
    coordinator: Option<Arc<Coordinator>>,
    group: Mutex<GroupState>,
    subscription: Mutex<Option<Vec<String>>>,
    /// Consumer protocol: the regular expression (RE2, evaluated by the broker) the
    /// member subscribed with; `subscription` is then an empty list.
    subscription_regex: Mutex<Option<String>>,
    /// Serialises polls: group rejoins and position updates happen in one place.
    poll_lock: tokio::sync::Mutex<()>,
    /// One ConsumerGroupHeartbeat in flight at a time, so answers apply in order.
    heartbeat_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// An error the fetcher or heartbeat hit that `poll` must report.
    pending_error: Mutex<Option<Error>>,
    last_poll: Mutex<Instant>,
    next_auto_commit: Mutex<Instant>,
    /// A listener of the crate's own (chunk processing), called before the user's.
    internal_listener: Mutex<Option<Arc<dyn RebalanceListener>>>,
}

impl Inner {
    fn set_error(&self, e: Error) {
        if let Ok(mut slot) = self.pending_error.lock() {
            *slot = Some(e);
        }
        self.poll_wake.notify_one();
    }
}

struct Handle {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::Release);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// An async Kafka consumer. Cheap to clone; clones share one assignment, so another
/// task can commit or pause while one polls.
#[derive(Clone)]
pub struct Consumer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.inner().config.group_id)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Creates a consumer with `config`; background tasks start on the current tokio
    /// runtime.
    pub fn new(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let runtime = crate::runtime()?;
        let cluster = Cluster::new(config.client.clone())?;
        let coordinator = config
            .group_id
            .as_ref()
            .map(|g| Arc::new(Coordinator::new(cluster.clone(), g)));
        let inner = Arc::new(Inner {
            cluster,
            coordinator,
            group: Mutex::new(GroupState::default()),
            state: Mutex::new(SubscriptionState::default()),
            fetch_wake: Notify::new(),
            poll_wake: Notify::new(),
            subscription: Mutex::new(None),
            subscription_regex: Mutex::new(None),
            poll_lock: tokio::sync::Mutex::new(()),
            heartbeat_lock: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            pending_error: Mutex::new(None),
            last_poll: Mutex::new(Instant::now()),
            next_auto_commit: Mutex::new(Instant::now() + config.auto_commit_interval),
            internal_listener: Mutex::new(None),
            config,
        });
        let mut tasks = vec![runtime.spawn(fetcher::run(Arc::downgrade(&inner)))];
        if inner.coordinator.is_some() {
            tasks.push(runtime.spawn(group::heartbeat_loop(Arc::downgrade(&inner))));
        }
        Ok(Consumer {
            handle: Arc::new(Handle { inner, tasks }),
        })
    }

    /// A builder with these bootstrap servers.
    pub fn builder(bootstrap_servers: &str) -> ConsumerBuilder {
        ConsumerBuilder::new(bootstrap_servers)
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    fn lock_state(&self) -> Result<std::sync::MutexGuard<'_, SubscriptionState>> {
        self.inner().state.lock().map_err(|_| Error::Closed)
    }

    /// The cluster view this consumer uses.
    pub fn cluster(&self) -> &Cluster {
        &self.inner().cluster
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.inner().config
    }

    /// Joins the group (on the next `poll`) with a subscription to `topics`.
    pub async fn subscribe(&self, topics: &[&str]) -> Result<()> {
        if self.inner().coordinator.is_none() {
            return Err(Error::Config("subscribe needs group.id".into()));
        }
        if self.subscription_regex().is_some() {
            return Err(Error::Config(
                "subscribed with a regular expression; unsubscribe first".into(),
            ));
        }
        let mut list: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        list.sort();
        list.dedup();
        if let Ok(mut s) = self.inner().subscription.lock() {
            *s = Some(list);
        }
        if let Ok(mut g) = self.inner().group.lock() {
            g.rejoin_needed = true;
        }
        self.inner().poll_wake.notify_one();
        Ok(())
    }

    /// Joins the group (on the next `poll`) with a subscription to every topic whose
    /// name matches `regex`, in RE2 syntax. The broker resolves it (KIP-848), and
    /// assigns topics created later without the member doing anything; so this needs
    /// `group.protocol=consumer`.
    pub async fn subscribe_regex(&self, regex: &str) -> Result<()> {
        if self.inner().coordinator.is_none() {
            return Err(Error::Config("subscribe needs group.id".into()));
        }
        if self.config().group_protocol != GroupProtocol::Consumer {
            return Err(Error::Config(
                "a regular expression subscription needs group.protocol=consumer".into(),
            ));
        }
        if self.subscription_regex().is_none() && self.subscription().is_some() {
            return Err(Error::Config(
                "subscribed to topic names; unsubscribe first".into(),
            ));
        }
        if regex.is_empty() {
            return Err(Error::Config("the regular expression is empty".into()));
        }
        if let Ok(mut r) = self.inner().subscription_regex.lock() {
            *r = Some(regex.to_string());
        }
        if let Ok(mut s) = self.inner().subscription.lock() {
            *s = Some(Vec::new());
        }
        if let Ok(mut g) = self.inner().group.lock() {
            g.rejoin_needed = true;
        }
        self.inner().poll_wake.notify_one();
        Ok(())
    }

    /// The regular expression subscribed with, if any.
    pub fn subscription_regex(&self) -> Option<String> {
        self.inner()
            .subscription_regex
            .lock()
            .ok()
            .and_then(|r| r.clone())
    }

    /// The subscribed topics, if subscribed (an empty list with a regular
    /// expression).
    pub fn subscription(&self) -> Option<Vec<String>> {
        self.inner()
            .subscription
            .lock()
            .ok()
            .and_then(|s| s.clone())
    }

    /// Leaves the group and drops the assignment (after committing, when auto commit
    /// is on, and telling the listener).
    pub async fn unsubscribe(&self) -> Result<()> {
        let _g = self.inner().poll_lock.lock().await;
        if let Ok(mut s) = self.inner().subscription.lock() {
            *s = None;
        }
        if let Ok(mut r) = self.inner().subscription_regex.lock() {
            *r = None;
        }
        self.leave_group("unsubscribed").await
    }

    /// Assigns partitions manually (no group membership). Positions come from
    /// committed offsets when `group.id` is set, else from `auto.offset.reset`.
    pub async fn assign(&self, partitions: &[TopicPartition]) -> Result<()> {
        if self.subscription().is_some() {
            return Err(Error::Config(
                "assign while subscribed; unsubscribe first".into(),
            ));
        }
        self.lock_state()?.assign(partitions);
        self.inner().fetch_wake.notify_one();
        Ok(())
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.inner()
            .state
            .lock()
            .map(|s| s.assigned())
            .unwrap_or_default()
    }

    /// Moves an assigned partition's position.
    pub async fn seek(&self, tp: &TopicPartition, to: SeekTo) -> Result<()> {
        let ts = match to {
            SeekTo::Offset(o) => {
                if !self.lock_state()?.seek(tp, o) {
                    return Err(Error::Config(format!("{tp} is not assigned")));
                }
                self.inner().fetch_wake.notify_one();
                return Ok(());
            }
            SeekTo::Beginning => EARLIEST_TIMESTAMP,
            SeekTo::End => LATEST_TIMESTAMP,
            SeekTo::Timestamp(t) => t,
        };
        let isolation = self.config().isolation_level.wire();
        let listed = offsets::list_offsets(self.cluster(), &[(tp.clone(), ts)], isolation).await?;
        let mut offset = listed
            .get(tp)
            .map(|l| l.offset)
            .ok_or_else(|| Error::Protocol(format!("no offset listed for {tp}")))?;
        if offset < 0 {
            // No record at or after the timestamp: go to the end, as Java does.
            let end =
                offsets::list_offsets(self.cluster(), &[(tp.clone(), LATEST_TIMESTAMP)], isolation)
                    .await?;
            offset = end.get(tp).map_or(0, |l| l.offset);
        }
        if !self.lock_state()?.seek(tp, offset) {
            return Err(Error::Config(format!("{tp} is not assigned")));
        }
        self.inner().fetch_wake.notify_one();
        Ok(())
    }

    /// The next offset `poll` returns for `tp`, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.inner()
            .state
            .lock()
            .ok()
            .and_then(|s| s.positions().get(tp).map(|p| p.0))
    }

    /// Records between the position and the high watermark of each assigned
    /// partition with a known position, as of the last fetch.
    pub fn lags(&self) -> BTreeMap<TopicPartition, i64> {
        let Ok(s) = self.inner().state.lock() else {
            return BTreeMap::new();
        };
        s.assigned()
            .into_iter()
            .filter_map(|tp| s.lag(&tp).map(|l| (tp, l)))
            .collect()
    }

    /// Lag of one partition, if known.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        self.inner().state.lock().ok().and_then(|s| s.lag(tp))
    }

    /// Stops fetching and returning records of these partitions.
    pub fn pause(&self, partitions: &[TopicPartition]) {
        if let Ok(mut s) = self.inner().state.lock() {
            s.set_paused(partitions, true);
        }
    }

    /// Resumes paused partitions.
    pub fn resume(&self, partitions: &[TopicPartition]) {
        if let Ok(mut s) = self.inner().state.lock() {
            s.set_paused(partitions, false);
        }
        self.inner().fetch_wake.notify_one();
        self.inner().poll_wake.notify_one();
    }

    /// Waits up to `timeout` for records and returns at most `max.poll.records`.
    /// Also drives the group: joins, rebalances (calling the listener), and auto
    /// commits happen inside `poll`. Polls are serialised; a rebalance listener
    /// must not call `poll` itself.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let inner = self.inner();
        let deadline = Instant::now() + timeout;
        let _g = inner.poll_lock.lock().await;
        loop {
            if let Ok(mut t) = inner.last_poll.lock() {
                *t = Instant::now();
            }
            if inner.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            if let Some(e) = inner.pending_error.lock().ok().and_then(|mut e| e.take()) {
                return Err(e);
            }
            if self.subscription().is_some() {
                match self.config().group_protocol {
                    GroupProtocol::Classic => group::ensure_active(self).await?,
                    GroupProtocol::Consumer => consumer_protocol::ensure_active(self).await?,
                }
            }
            self.maybe_auto_commit();
            self.update_positions().await?;
            let wait = inner.poll_wake.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            let records = self
                .lock_state()?
                .take_records(inner.config.max_poll_records);
            inner.fetch_wake.notify_one();
            if !records.is_empty() {
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            tokio::select! {
                _ = wait => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }

    /// The records as a stream, polling as needed. Ends when the consumer is closed.
    pub fn stream(&self) -> BoxStream<'_, Result<ConsumerRecord>> {
        futures::stream::unfold(
            (self, VecDeque::<ConsumerRecord>::new()),
            |(c, mut buf)| async move {
                loop {
                    if let Some(r) = buf.pop_front() {
                        return Some((Ok(r), (c, buf)));
                    }
                    match c.poll(STREAM_POLL_INTERVAL).await {
                        Ok(v) => buf.extend(v),
                        Err(Error::Closed) => return None,
                        Err(e) => return Some((Err(e), (c, buf))),
                    }
                }
            },
        )
        .boxed()
    }

    /// Fills in positions of partitions that have none: committed offsets first (with
    /// a group), then `auto.offset.reset`.
    async fn update_positions(&self) -> Result<()> {
        let missing = self.lock_state()?.missing_positions();
        if missing.is_empty() {
            return Ok(());
        }
        let mut need_reset: Vec<TopicPartition> = Vec::new();
        let lookup: Vec<TopicPartition> = missing
            .iter()
            .filter(|(_, reset)| !reset)
            .map(|(tp, _)| tp.clone())
            .collect();
        need_reset.extend(missing.iter().filter(|(_, r)| *r).map(|(tp, _)| tp.clone()));
        if let (Some(coord), false) = (&self.inner().coordinator, lookup.is_empty()) {
            let require_stable = self.config().isolation_level == IsolationLevel::ReadCommitted;
            let committed = offsets::fetch_committed(coord, Some(&lookup), require_stable).await?;
            let mut st = self.lock_state()?;
            for tp in lookup {
                match committed.get(&tp) {
                    Some(om) => {
                        if st.missing_positions().iter().any(|(t, _)| *t == tp) {
                            st.seek(&tp, om.offset);
                        }
                    }
                    None => need_reset.push(tp),
                }
            }
        } else {
            need_reset.extend(lookup);
        }
        if need_reset.is_empty() {
            self.inner().fetch_wake.notify_one();
            return Ok(());
        }
        let ts = match self.config().auto_offset_reset {
            OffsetReset::Earliest => EARLIEST_TIMESTAMP,
            OffsetReset::Latest => LATEST_TIMESTAMP,
            OffsetReset::None => return Err(Error::NoOffset(need_reset[0].to_string())),
        };
        let req: Vec<(TopicPartition, i64)> =
            need_reset.iter().map(|tp| (tp.clone(), ts)).collect();
        let listed =
            offsets::list_offsets(self.cluster(), &req, self.config().isolation_level.wire())
                .await?;
        let mut st = self.lock_state()?;
        let still_missing: Vec<TopicPartition> = st
            .missing_positions()
            .into_iter()
            .map(|(tp, _)| tp)
            .collect();
        for tp in need_reset {
            if let (Some(l), true) = (listed.get(&tp), still_missing.contains(&tp)) {
                st.seek(&tp, l.offset.max(0));
            }
        }
        drop(st);
        self.inner().fetch_wake.notify_one();
        Ok(())
    }

    pub(crate) fn set_internal_listener(&self, l: Option<Arc<dyn RebalanceListener>>) {
        if let Ok(mut slot) = self.inner().internal_listener.lock() {
            *slot = l;
        }
    }

    /// Drops every owned partition without committing (the group took them away
    /// while this member was out) and tells the listeners they were lost.
    pub(crate) async fn give_up_lost_partitions(&self) -> Result<()> {
        let owned = self.assignment();
        self.lock_state()?.assign(&[]);
        for l in self.listeners() {
            l.on_partitions_lost(self, &owned).await;
        }
        Ok(())
    }

    /// The listeners to call around a rebalance: the crate's own first.
    pub(crate) fn listeners(&self) -> Vec<Arc<dyn RebalanceListener>> {
        let mut out = Vec::new();
        if let Some(l) = self
            .inner()
            .internal_listener
            .lock()
            .ok()
            .and_then(|l| l.clone())
        {
            out.push(l);
        }
        if let Some(l) = &self.config().rebalance_listener {
            out.push(l.clone());
        }
        out
    }

    /// What a transactional producer's `send_offsets_to_transaction` needs to
    /// commit this consumer's offsets: the group, and the member and generation
    /// once joined (a consumer without a group has none).
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let group_id = self.config().group_id.clone()?;
        let (member_id, generation_id) = self
            .group_generation()
            .unwrap_or_else(|| (String::new(), -1));
        Some(ConsumerGroupMetadata {
            group_id,
            generation_id,
            member_id,
            group_instance_id: self.config().group_instance_id.clone(),
        })
    }

    /// Member id and generation in the group, once joined.
    pub fn group_generation(&self) -> Option<(String, i32)> {
        let g = self.inner().group.lock().ok()?;
        (g.generation >= 0).then(|| (g.member_id.clone(), g.generation))
    }

    async fn leave_group(&self, reason: &str) -> Result<()> {
        match self.config().group_protocol {
            GroupProtocol::Classic => group::leave(self, reason).await,
            GroupProtocol::Consumer => consumer_protocol::leave(self).await,
        }
    }

    /// Commits (with auto commit), tells the listener, leaves the group, and stops
    /// the background tasks.
    pub async fn close(&self) -> Result<()> {
        let result = {
            let _g = self.inner().poll_lock.lock().await;
            if self.subscription().is_some() {
                self.leave_group("the consumer is being closed").await
            } else {
                let assigned = self.assignment();
                self.auto_commit_now(&assigned).await;
                Ok(())
            }
        };
        self.inner().closed.store(true, Ordering::Release);
        self.inner().poll_wake.notify_waiters();
        self.inner().fetch_wake.notify_one();
        result
    }
}
