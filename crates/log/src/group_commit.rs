//! Group commit: flusher threads turn many flush requests, across partitions, into
//! one fsync per dirty file, or one `syncfs` for many partitions.
//!
//! A request names a log and the offset that must become durable. Requests queue per
//! log. A flusher thread takes a log with waiters and all of its waiters, plans the
//! log's fsyncs under a brief read lock, runs them with no lock held (appends and
//! reads continue), advances the recovery point under a brief write lock, and calls
//! every waiter back. Requests arriving meanwhile wait for that log's next fsync, so
//! the busier a partition, the more requests share each fsync; different partitions
//! are synced by different threads at the same time, none waiting for another.
//!
//! When many logs wait at once (a produce request spread over many partitions), a
//! round takes all of them, plans each, and makes them durable with one `syncfs` of
//! the directory's filesystem instead of one fsync per file (see `sync_batch`). Each
//! log's recovery point advances only to its end when it was planned, which is
//! before the sync started.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::error::LogError;
use crate::filesystem_sync::FilesystemSync;
use crate::flush_plan::FlushPlan;
use crate::manager::SharedLog;
use crate::partition_log::wall_clock_ms;
use crate::sync_batch::{choose, logs_to_take, SyncNeed, SYNCFS_LOGS_MIN};

/// Called once with the offset now durable (>= the one requested), or the error.
/// Runs on a flusher thread: it must be quick.
pub type FlushCallback = Box<dyn FnOnce(Result<i64, LogError>) + Send>;

/// Called once when the log directory goes offline (the first failed fsync or write):
/// the broker stops there, as Kafka does when its only log directory fails.
pub type OfflineHandler = Box<dyn Fn(&LogError) + Send + Sync>;

/// Most flusher threads (partitions fsynced at the same time).
pub const FLUSH_THREADS_MAX: usize = 4;

/// Flusher threads to run: one per core, up to the maximum. An fsync costs real CPU
/// (about 0.1 ms in a VM), so more concurrent fsyncs than cores only make them queue
/// for the CPU: measured on 2 cores at 50 MB/s with linger 0, 2 threads gave p99
/// 4-7 ms where 4 threads gave 20-33 ms; fewer threads also means more requests share
/// each fsync.
pub fn flush_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, FLUSH_THREADS_MAX)
}

/// Identity of a log in the queue (its allocation).
type LogKey = usize;

/// An offset to make durable and whom to tell.
type Waiter = (i64, FlushCallback);

struct PendingLog {
    log: SharedLog,
    waiters: Vec<Waiter>,
    /// In `State::ready` or being flushed: not to be queued again.
    scheduled: bool,
}

#[derive(Default)]
struct State {
    pending: HashMap<LogKey, PendingLog>,
    ready: VecDeque<LogKey>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wakeup: Condvar,
    fsyncs: AtomicU64,
    syncfs_calls: AtomicU64,
    flushes: AtomicU64,
    requests: AtomicU64,
    /// Set at the first failed fsync or write: after one, the kernel may have dropped
    /// the unwritten pages, so a later fsync that succeeds proves nothing about them.
    offline: AtomicBool,
    on_offline: OnceLock<OfflineHandler>,
    /// The directory's filesystem, when one `syncfs` may cover many logs.
    filesystem: Option<Box<dyn FilesystemSync>>,
}

impl Shared {
    fn mark_offline(&self, error: &LogError) {
        if error.is_descriptor_shortage() {
            // Nothing was lost: the file could not be opened, so nothing was written.
            tracing::warn!(%error, "out of file descriptors; the request fails and may be retried");
            return;
        }
        if self.offline.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::error!(%error, "log directory offline after an I/O error: nothing more is written or acknowledged from it");
        if let Some(handler) = self.on_offline.get() {
            handler(error);
        }
    }
}

/// The flusher threads and their queue.
pub struct GroupCommit {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher threads. With `filesystem`, a round of many logs on it is
    /// made durable by one sync of the filesystem.
    pub fn start(filesystem: Option<Box<dyn FilesystemSync>>) -> Result<Self, LogError> {
        let shared = Arc::new(Shared {
            filesystem,
            ..Shared::default()
        });
        let count = flush_threads();
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let worker = Arc::clone(&shared);
            let t = std::thread::Builder::new()
                .name(format!("moldau-log-flusher-{i}"))
                .spawn(move || run(&worker))
                .map_err(|e| LogError::io(std::path::Path::new("<flusher thread>"), e))?;
            threads.push(t);
        }
        Ok(GroupCommit {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Queues a request; returns at once. After shutdown the callback gets
    /// `LogError::ShutDown` immediately.
    pub fn request(&self, log: SharedLog, up_to_offset: i64, done: FlushCallback) {
        if self.is_offline() {
            done(Err(LogError::DirOffline));
            return;
        }
        let mut state = self.shared.state.lock();
        if state.stopping {
            drop(state);
            done(Err(LogError::ShutDown));
            return;
        }
        let key = Arc::as_ptr(&log) as LogKey;
        let entry = state.pending.entry(key).or_insert_with(|| PendingLog {
            log,
            waiters: Vec::new(),
            scheduled: false,
        });
        entry.waiters.push((up_to_offset, done));
        let newly_ready = !entry.scheduled;
        entry.scheduled = true;
        if newly_ready {
            state.ready.push_back(key);
        }
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        drop(state);
        if newly_ready {
            self.shared.wakeup.notify_one();
        }
    }

    /// Takes the log directory offline (first call only): every later flush fails,
    /// and the handler, if set, runs.
    pub fn mark_offline(&self, error: &LogError) {
        self.shared.mark_offline(error);
    }

    /// True once an fsync or write in the directory failed.
    pub fn is_offline(&self) -> bool {
        self.shared.offline.load(Ordering::SeqCst)
    }

    /// Sets what happens when the directory goes offline (once; later calls are
    /// ignored). Runs on the thread that saw the failure.
    pub fn on_offline(&self, handler: OfflineHandler) {
        let _ = self.shared.on_offline.set(handler);
    }

    /// Serves every queued request, then stops the threads.
    pub fn shutdown(&self) {
        self.shared.state.lock().stopping = true;
        self.shared.wakeup.notify_all();
        for t in self.threads.lock().drain(..) {
            if t.join().is_err() {
                tracing::error!("log flusher thread panicked");
            }
        }
    }

    /// fsync calls made so far.
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// `syncfs` calls made so far (each covering many logs' files).
    pub fn syncfs_count(&self) -> u64 {
        self.shared.syncfs_calls.load(Ordering::Relaxed)
    }

    /// Flushes run so far (one per log per batch of waiters).
    pub fn flush_count(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }

    /// Flush rounds so far; the same count as [`GroupCommit::flush_count`] (kept
    /// for callers written against the first version, where one round served every
    /// queued log).
    pub fn round_count(&self) -> u64 {
        self.flush_count()
    }

    /// Requests accepted so far.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared) {
    let syncfs_available = shared.filesystem.is_some();
    loop {
        let round: Vec<(LogKey, SharedLog, Vec<Waiter>)> = {
            let mut state = shared.state.lock();
            loop {
                let take = logs_to_take(state.ready.len(), syncfs_available);
                let mut round = Vec::with_capacity(take);
                for _ in 0..take {
                    let Some(key) = state.ready.pop_front() else {
                        break;
                    };
                    if let Some(p) = state.pending.get_mut(&key) {
                        round.push((key, Arc::clone(&p.log), std::mem::take(&mut p.waiters)));
                    }
                }
                if !round.is_empty() {
                    break round;
                }
                if take > 0 {
                    continue;
                }
                if state.stopping {
                    return;
                }
                shared.wakeup.wait(&mut state);
            }
        };
        let mut keys = Vec::with_capacity(round.len());
        let logs = round
            .into_iter()
            .map(|(key, log, waiters)| {
                keys.push(key);
                (log, waiters)
            })
            .collect();
        flush_round(shared, logs);
        let mut state = shared.state.lock();
        let mut requeued = 0;
        for key in keys {
            match state.pending.get_mut(&key) {
                Some(p) if !p.waiters.is_empty() => {
                    // Arrived while this flush ran: their data may not be covered by it.
                    state.ready.push_back(key);
                    requeued += 1;
                }
                Some(_) => {
                    state.pending.remove(&key);
                }
                None => {}
            }
        }
        drop(state);
        match requeued {
            0 => {}
            1 => {
                shared.wakeup.notify_one();
            }
            _ => {
                shared.wakeup.notify_all();
            }
        }
    }
}

/// What a log's flush must sync to answer `waiters`: `None` when it is durable far
/// enough already.
fn plan_for(log: &SharedLog, waiters: &[Waiter]) -> Option<FlushPlan> {
    let want = waiters.iter().map(|(o, _)| *o).max().unwrap_or(0);
    let l = log.read();
    if l.recovery_point() < want {
        l.flush_plan()
    } else {
        None
    }
}

/// Flushes every log of a round far enough for its waiters and answers them: the
/// logs' plans are all made before any sync starts, then one `syncfs` covers those
/// it can (when enough), the others are fsynced file by file.
fn flush_round(shared: &Shared, logs: Vec<(SharedLog, Vec<Waiter>)>) {
    shared
        .flushes
        .fetch_add(logs.len() as u64, Ordering::Relaxed);
    let plans: Vec<Option<FlushPlan>> = logs.iter().map(|(l, w)| plan_for(l, w)).collect();
    let mut results: Vec<Result<(), LogError>> = vec![Ok(()); logs.len()];
    if shared.offline.load(Ordering::SeqCst) {
        results.fill(Err(LogError::DirOffline));
    } else {
        // Where the files lie is asked (a stat per file) only when enough logs
        // have something to sync for a `syncfs` to cover them: a round of one log,
        // the usual case, is fsynced file by file without it.
        let to_sync = plans.iter().flatten().count();
        let device = shared
            .filesystem
            .as_ref()
            .filter(|_| to_sync >= SYNCFS_LOGS_MIN)
            .map(|fs| fs.device());
        let needs: Vec<SyncNeed> = plans
            .iter()
            .map(|plan| match plan {
                None => SyncNeed::Nothing,
                Some(p) => SyncNeed::Files {
                    on_filesystem: device.is_some_and(|d| p.covered_by_filesystem(d)),
                },
            })
            .collect();
        let choice = choose(&needs, shared.filesystem.is_some());
        if let (Some(fs), false) = (&shared.filesystem, choice.by_filesystem.is_empty()) {
            shared.syncfs_calls.fetch_add(1, Ordering::Relaxed);
            let synced = fs.sync();
            if let Err(e) = &synced {
                // At once: a flush on another thread must not be acknowledged after
                // this failure (none of these logs was deleted by a filesystem sync).
                shared.mark_offline(e);
            }
            for &i in &choice.by_filesystem {
                results[i] = synced.clone();
            }
        }
        for &i in &choice.by_file {
            if let Some(p) = &plans[i] {
                shared
                    .fsyncs
                    .fetch_add(p.fsync_count() as u64, Ordering::Relaxed);
                results[i] = p.execute();
            }
        }
    }
    // Every failure of the round takes the directory offline before any of its
    // logs is answered: nothing is acknowledged after a failed sync.
    let deleted: Vec<bool> = logs.iter().map(|(l, _)| l.read().is_deleted()).collect();
    for ((result, (log, _)), deleted) in results.iter_mut().zip(&logs).zip(&deleted) {
        *result = match std::mem::replace(result, Ok(())) {
            Err(e) if *deleted => {
                // Renamed away for deletion (its topic was deleted) while this flush
                // ran: its files are gone, which is no disk failure. Its waiters hear
                // that the partition is gone, not of an I/O error.
                tracing::debug!(%e, "flush of a log deleted meanwhile");
                Err(LogError::Deleted(log.read().topic_partition().to_string()))
            }
            Err(e) => {
                shared.mark_offline(&e);
                Err(e)
            }
            ok => ok,
        };
    }
    for ((((log, waiters), plan), result), deleted) in
        logs.into_iter().zip(&plans).zip(results).zip(deleted)
    {
        answer(shared, &log, waiters, plan.as_ref(), result, deleted);
    }
}

/// Advances `log`'s recovery point after its sync (when it succeeded) and answers
/// its waiters.
fn answer(
    shared: &Shared,
    log: &SharedLog,
    waiters: Vec<Waiter>,
    plan: Option<&FlushPlan>,
    result: Result<(), LogError>,
    deleted: bool,
) {
    // Another thread's fsync may have failed meanwhile: then nothing more is
    // acknowledged, even data whose own fsync succeeded.
    let result = match result {
        Ok(()) if shared.offline.load(Ordering::SeqCst) => Err(LogError::DirOffline),
        other => other,
    };
    let (durable, log_start, log_end) = {
        let mut l = log.write();
        let durable = match (plan, &result) {
            (Some(p), Ok(())) => l.complete_flush(p, wall_clock_ms()),
            _ => l.recovery_point(),
        };
        (durable, l.log_start_offset(), l.log_end_offset())
    };
    for (want, done) in waiters {
        let outcome = match &result {
            Err(e) => Err(e.clone()),
            Ok(()) if durable >= want => Ok(durable),
            // Deleted before its data was flushed: it never will be.
            Ok(()) if deleted => Err(LogError::Deleted(log.read().topic_partition().to_string())),
            // Asked beyond the log end (e.g. truncated meanwhile).
            Ok(()) => Err(LogError::OffsetOutOfRange {
                requested: want,
                log_start,
                log_end,
            }),
        };
        done(outcome);
    }
}
