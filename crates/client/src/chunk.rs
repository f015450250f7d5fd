//! Chunk processing (after FS2-Kafka): hand the application everything one poll
//! fetched, commit only what it finished.
//!
//! - [`Consumer::process_chunks`]: one chunk at a time; after each chunk succeeds its
//!   offsets are committed, in order. On error nothing of the failed chunk is
//!   committed and positions rewind to its start.
//! - [`Consumer::process_by_key`]: records with the same key run in order, different
//!   keys run concurrently (bounded). A partition's committed offset only moves past
//!   records whose processing finished, so a crash never skips one. On a rebalance
//!   the work of revoked partitions finishes (queued work is dropped) and is
//!   committed before the partitions move; lost partitions are abandoned.
//!
//! - [`Consumer::process_chunks_transactionally`] (in `chunk_transactional`): each
//!   chunk's output records and its input offsets commit in one transaction.
//!
//! All require `enable.auto.commit=false`: they commit themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::consumer::{Consumer, RebalanceListener, SeekTo};
use crate::error::{Error, Result};
use crate::offsets::OffsetAndMetadata;
use crate::record::{ConsumerRecord, TopicPartition};

/// How long one poll of a chunk loop waits for records.
pub(crate) const CHUNK_POLL_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the key-parallel loop polls while work is running.
const KEYED_POLL_TIMEOUT: Duration = Duration::from_millis(50);

/// Settings of [`Consumer::process_by_key`].
#[derive(Debug, Clone, Copy)]
pub struct KeyParallelOptions {
    /// Most records processed at the same time.
    pub max_concurrency: usize,
    /// Most records fetched but not yet finished; fetching pauses beyond this.
    pub max_pending_records: usize,
    /// Least time between two commits.
    pub commit_interval: Duration,
}

impl Default for KeyParallelOptions {
    fn default() -> Self {
        KeyParallelOptions {
            max_concurrency: 64,
            max_pending_records: 10_000,
            commit_interval: Duration::from_millis(200),
        }
    }
}

pub(crate) fn require_manual_commits(c: &Consumer) -> Result<()> {
    if c.config().enable_auto_commit {
        return Err(Error::Config(
            "chunk processing commits itself: set enable.auto.commit=false".into(),
        ));
    }
    Ok(())
}

/// For each partition in `records`, the offset after its last record.
pub(crate) fn next_offsets(
    records: &[ConsumerRecord],
) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
    let mut out: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
    for r in records {
        let tp = TopicPartition::new(&*r.topic, r.partition);
        let om = out
            .entry(tp)
            .or_insert_with(|| OffsetAndMetadata::new(r.offset + 1));
        if r.offset + 1 > om.offset {
            om.offset = r.offset + 1;
            om.leader_epoch = Some(r.leader_epoch).filter(|&e| e >= 0);
        }
    }
    out
}

/// For each partition in `records`, its first offset.
pub(crate) fn first_offsets(records: &[ConsumerRecord]) -> BTreeMap<TopicPartition, i64> {
    let mut out: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for r in records {
        let e = out
            .entry(TopicPartition::new(&*r.topic, r.partition))
            .or_insert(r.offset);
        *e = (*e).min(r.offset);
    }
    out
}

impl Consumer {
    /// Calls `f` with every chunk of records (what one poll returned) and commits the
    /// chunk's offsets once `f` succeeds. Runs until the consumer is closed (then
    /// returns `Ok`) or `f` fails (then returns [`Error::Processing`]; positions are
    /// rewound to the failed chunk, nothing of it is committed).
    pub async fn process_chunks<F, Fut, E>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(Vec<ConsumerRecord>) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: std::fmt::Display,
    {
        require_manual_commits(self)?;
        loop {
            let chunk = match self.poll(CHUNK_POLL_TIMEOUT).await {
                Ok(c) => c,
                Err(Error::Closed) => return Ok(()),
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                continue;
            }
            let commits = next_offsets(&chunk);
            let starts = first_offsets(&chunk);
            if let Err(e) = f(chunk).await {
                for (tp, offset) in starts {
                    let _ = self.seek(&tp, SeekTo::Offset(offset)).await;
                }
                return Err(Error::Processing(e.to_string()));
            }
            match self.commit_offsets(&commits).await {
                Ok(()) => {}
                // The partitions moved on; their new owner re-reads from the last
                // commit, which is at-least-once, never a skip.
                Err(Error::Rebalance(m)) => tracing::warn!(reason = %m, "chunk commit refused"),
                Err(Error::Closed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Processes records concurrently across keys and in order within a key, calling
    /// `f` for each. Commits, at most every `commit_interval`, each partition's
    /// offset up to its first unfinished record. Runs until the consumer is closed
    /// (finishing and committing running work) or `f` fails (returns
    /// [`Error::Processing`] after committing what finished before the failure).
    pub async fn process_by_key<F, Fut, E>(&self, opts: KeyParallelOptions, f: F) -> Result<()>
    where
        F: Fn(ConsumerRecord) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        require_manual_commits(self)?;
        let f = Arc::new(f);
        let shared = Arc::new(KeyedShared::default());
        let hook: Arc<dyn RebalanceListener> = Arc::new(KeyedHook {
            shared: shared.clone(),
        });
        self.set_internal_listener(Some(hook));
        let result = keyed_loop(self, opts, f, shared).await;
        self.set_internal_listener(None);
        result
    }
}

type Key = (TopicPartition, Option<Bytes>, Option<i64>);

/// Offsets per partition: which are dispatched and not finished.
#[derive(Default)]
struct Tracker {
    unfinished: BTreeMap<TopicPartition, BTreeSet<i64>>,
    next: BTreeMap<TopicPartition, i64>,
    committed: BTreeMap<TopicPartition, i64>,
    /// Records waiting for an earlier record of the same key.
    waiting: HashMap<Key, VecDeque<ConsumerRecord>>,
    /// Keys with a record running.
    active: BTreeSet<Key>,
    pending: usize,
}

impl Tracker {
    fn dispatch(&mut self, r: &ConsumerRecord, tp: &TopicPartition) {
        self.unfinished
            .entry(tp.clone())
            .or_default()
            .insert(r.offset);
        let n = self.next.entry(tp.clone()).or_insert(r.offset + 1);
        *n = (*n).max(r.offset + 1);
        self.pending += 1;
    }

    fn finish(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(s) = self.unfinished.get_mut(tp) {
            if s.remove(&offset) {
                self.pending = self.pending.saturating_sub(1);
            }
        }
    }

    /// The offset a partition may commit: its first unfinished record, else the
    /// offset after the last dispatched one.
    fn committable(&self, tp: &TopicPartition) -> Option<i64> {
        match self.unfinished.get(tp).and_then(|s| s.first()) {
            Some(&first) => Some(first),
            None => self.next.get(tp).copied(),
        }
    }

    /// Commits due: partitions whose committable offset moved.
    fn due(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.next
            .keys()
            .filter_map(|tp| {
                let c = self.committable(tp)?;
                (self.committed.get(tp) != Some(&c))
                    .then(|| (tp.clone(), OffsetAndMetadata::new(c)))
            })
            .collect()
    }

    /// Drops queued (not started) records of `tps`; returns how many. Their offsets
    /// stay unfinished, so no commit ever moves past a record that was not processed.
    fn drop_waiting(&mut self, tps: &[TopicPartition]) -> usize {
        let mut dropped = 0;
        self.waiting.retain(|k, q| {
            if tps.contains(&k.0) {
                dropped += q.len();
                false
            } else {
                true
            }
        });
        self.pending = self.pending.saturating_sub(dropped);
        dropped
    }

    fn forget(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.unfinished.remove(tp);
            self.next.remove(tp);
            self.committed.remove(tp);
        }
        self.active.retain(|k| !tps.contains(&k.0));
    }

    fn running_in(&self, tps: &[TopicPartition]) -> bool {
        self.active.iter().any(|k| tps.contains(&k.0))
    }
}

#[derive(Default)]
struct KeyedShared {
    tracker: Mutex<Tracker>,
    /// The first processing error.
    failure: Mutex<Option<String>>,
    /// Signalled whenever a record finishes.
    progress: Notify,
}

/// Hooks the key-parallel loop into rebalances.
struct KeyedHook {
    shared: Arc<KeyedShared>,
}

impl RebalanceListener for KeyedHook {
    fn on_partitions_revoked<'a>(
        &'a self,
        consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Queued work is dropped, running work finishes, then what finished is
            // committed while the partitions are still ours.
            loop {
                let wait = self.shared.progress.notified();
                tokio::pin!(wait);
                wait.as_mut().enable();
                let busy = match self.shared.tracker.lock() {
                    Ok(mut t) => {
                        t.drop_waiting(partitions);
                        t.running_in(partitions)
                    }
                    Err(_) => false,
                };
                if !busy {
                    break;
                }
                wait.await;
            }
            let commits: BTreeMap<TopicPartition, OffsetAndMetadata> =
                match self.shared.tracker.lock() {
                    Ok(t) => t
                        .due()
                        .into_iter()
                        .filter(|(tp, _)| partitions.contains(tp))
                        .collect(),
                    Err(_) => BTreeMap::new(),
                };
            if let Err(e) = consumer.commit_offsets(&commits).await {
                tracing::warn!(error = %e, "commit of revoked partitions failed");
            }
            if let Ok(mut t) = self.shared.tracker.lock() {
                t.forget(partitions);
            }
        })
    }

    fn on_partitions_lost<'a>(
        &'a self,
        _consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Someone else owns them now: abandon queued work, commit nothing.
            if let Ok(mut t) = self.shared.tracker.lock() {
                t.drop_waiting(partitions);
                t.forget(partitions);
            }
        })
    }
}

/// Runs the records of one key, one after another, then marks the key idle. The
/// worker itself takes the key's next record, so progress never depends on the
/// polling loop (which may be waiting inside a rebalance for this very work).
async fn key_worker<F, Fut, E>(
    shared: Arc<KeyedShared>,
    permits: Arc<Semaphore>,
    f: Arc<F>,
    key: Key,
    first: ConsumerRecord,
) where
    F: Fn(ConsumerRecord) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut record = first;
    loop {
        let offset = record.offset;
        let result = match permits.acquire().await {
            Ok(_permit) => f(record).await.map_err(|e| e.to_string()),
            Err(_) => Err("processing stopped".to_string()),
        };
        let next = match shared.tracker.lock() {
            Ok(mut t) => {
                let failed = shared.failure.lock().map(|f| f.is_some()).unwrap_or(true);
                let next = match (&result, failed) {
                    (Ok(()), false) => {
                        t.finish(&key.0, offset);
                        t.waiting.get_mut(&key).and_then(|q| q.pop_front())
                    }
                    (Ok(()), true) => {
                        t.finish(&key.0, offset);
                        None
                    }
                    (Err(_), _) => None,
                };
                if next.is_none() {
                    // Whatever still waits for this key is abandoned (failure) or
                    // there is nothing left.
                    let left = t.waiting.remove(&key).map_or(0, |q| q.len());
                    t.pending = t.pending.saturating_sub(left);
                    t.active.remove(&key);
                }
                next
            }
            Err(_) => None,
        };
        if let Err(e) = result {
            if let Ok(mut f) = shared.failure.lock() {
                f.get_or_insert(e);
            }
        }
        shared.progress.notify_waiters();
        match next {
            Some(r) => record = r,
            None => return,
        }
    }
}

async fn keyed_loop<F, Fut, E>(
    c: &Consumer,
    opts: KeyParallelOptions,
    f: Arc<F>,
    shared: Arc<KeyedShared>,
) -> Result<()>
where
    F: Fn(ConsumerRecord) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(opts.max_concurrency.max(1)));
    // Dropping the set (the caller dropped this future) aborts running work.
    let mut tasks = JoinSet::new();
    let mut last_commit = Instant::now();
    let mut paused = false;
    let closed = loop {
        while tasks.try_join_next().is_some() {}
        if shared.failure.lock().map(|f| f.is_some()).unwrap_or(true) {
            break false;
        }
        let pending = shared.tracker.lock().map(|t| t.pending).unwrap_or(0);
        if last_commit.elapsed() >= opts.commit_interval {
            commit_due(c, &shared).await?;
            last_commit = Instant::now();
        }
        // Back-pressure: stop fetching while too much is pending, keep polling so
        // the group stays alive.
        if pending >= opts.max_pending_records && !paused {
            c.pause(&c.assignment());
            paused = true;
        } else if pending < opts.max_pending_records / 2 && paused {
            c.resume(&c.assignment());
            paused = false;
        }
        let timeout = if pending > 0 {
            KEYED_POLL_TIMEOUT
        } else {
            CHUNK_POLL_TIMEOUT
        };
        let records = match c.poll(timeout).await {
            Ok(r) => r,
            Err(Error::Closed) => break true,
            Err(e) => return Err(e),
        };
        for r in records {
            let tp = TopicPartition::new(&*r.topic, r.partition);
            // Keyless records have no order to keep: each is its own key.
            let key: Key = match &r.key {
                Some(k) => (tp.clone(), Some(k.clone()), None),
                None => (tp.clone(), None, Some(r.offset)),
            };
            let start = match shared.tracker.lock() {
                Ok(mut t) => {
                    t.dispatch(&r, &tp);
                    if t.active.contains(&key) {
                        t.waiting.entry(key.clone()).or_default().push_back(r);
                        None
                    } else {
                        t.active.insert(key.clone());
                        Some(r)
                    }
                }
                Err(_) => None,
            };
            if let Some(r) = start {
                tasks.spawn(key_worker(
                    shared.clone(),
                    permits.clone(),
                    f.clone(),
                    key,
                    r,
                ));
            }
        }
    };
    if !closed {
        // A failure: queued work is abandoned, running work finishes.
        if let Ok(mut t) = shared.tracker.lock() {
            let all: Vec<TopicPartition> = t.next.keys().cloned().collect();
            t.drop_waiting(&all);
        }
    }
    while tasks.join_next().await.is_some() {}
    if let Err(e) = commit_due(c, &shared).await {
        if !matches!(e, Error::Closed) {
            tracing::warn!(error = %e, "final commit failed");
        }
    }
    match shared.failure.lock().ok().and_then(|mut f| f.take()) {
        Some(e) => Err(Error::Processing(e)),
        None => Ok(()),
    }
}

async fn commit_due(c: &Consumer, shared: &KeyedShared) -> Result<()> {
    let due = match shared.tracker.lock() {
        Ok(t) => t.due(),
        Err(_) => return Ok(()),
    };
    if due.is_empty() {
        return Ok(());
    }
    // Only partitions still assigned; others belong to someone else by now.
    let assigned = c.assignment();
    let due: BTreeMap<_, _> = due
        .into_iter()
        .filter(|(tp, _)| assigned.contains(tp))
        .collect();
    match c.commit_offsets(&due).await {
        Ok(()) => {
            if let Ok(mut t) = shared.tracker.lock() {
                for (tp, om) in due {
                    t.committed.insert(tp, om.offset);
                }
            }
            Ok(())
        }
        Err(Error::Rebalance(m)) => {
            tracing::warn!(reason = %m, "commit refused during rebalance");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TimestampType;

    fn rec(p: i32, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: p,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            leader_epoch: -1,
            key: None,
            value: None,
            headers: vec![],
        }
    }

    #[test]
    fn chunk_offsets_are_per_partition_next_and_first() {
        let chunk = vec![rec(0, 5), rec(1, 9), rec(0, 6), rec(0, 7)];
        let next = next_offsets(&chunk);
        assert_eq!(next[&TopicPartition::new("t", 0)].offset, 8);
        assert_eq!(next[&TopicPartition::new("t", 1)].offset, 10);
        let first = first_offsets(&chunk);
        assert_eq!(first[&TopicPartition::new("t", 0)], 5);
    }

    #[test]
    fn committable_offset_stops_at_first_unfinished_record() {
        let tp = TopicPartition::new("t", 0);
        let mut t = Tracker::default();
        for o in 10..15 {
            t.dispatch(&rec(0, o), &tp);
        }
        assert_eq!(t.committable(&tp), Some(10));
        t.finish(&tp, 11);
        t.finish(&tp, 12);
        // 10 still runs: nothing past it may be committed.
        assert_eq!(t.committable(&tp), Some(10));
        t.finish(&tp, 10);
        assert_eq!(t.committable(&tp), Some(13));
        t.finish(&tp, 13);
        t.finish(&tp, 14);
        assert_eq!(t.committable(&tp), Some(15));
        assert_eq!(t.due()[&tp].offset, 15);
        t.committed.insert(tp.clone(), 15);
        assert!(t.due().is_empty());
        assert_eq!(t.pending, 0);
    }

    #[test]
    fn dropping_queued_work_lets_offsets_advance_only_to_running_work() {
        let tp = TopicPartition::new("t", 0);
        let mut t = Tracker::default();
        let key: Key = (tp.clone(), Some(Bytes::from_static(b"k")), None);
        t.dispatch(&rec(0, 1), &tp);
        t.active.insert(key.clone());
        for o in 2..5 {
            t.dispatch(&rec(0, o), &tp);
            t.waiting
                .entry(key.clone())
                .or_default()
                .push_back(rec(0, o));
        }
        assert_eq!(t.drop_waiting(std::slice::from_ref(&tp)), 3);
        assert!(t.running_in(std::slice::from_ref(&tp)));
        assert_eq!(t.committable(&tp), Some(1));
        t.finish(&tp, 1);
        // The dropped records were never processed: the commit stops before them.
        assert_eq!(t.committable(&tp), Some(2));
        assert_eq!(t.pending, 0);
    }
}
