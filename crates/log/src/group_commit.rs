//! Group commit: one flusher thread turns many flush requests, across partitions,
//! into one fsync per dirty file.
//!
//! A request names a log and the offset that must become durable. The flusher takes
//! every request queued so far, plans each log's fsyncs under a brief read lock, runs
//! them with no lock held (appends and reads continue), advances each recovery point
//! under a brief write lock, and calls every waiter back. Requests arriving while a
//! round is in flight form the next round: the busier the broker, the more requests
//! share each fsync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::error::LogError;
use crate::manager::SharedLog;
use crate::partition_log::{wall_clock_ms, FlushPlan};

/// Called once with the offset now durable (>= the one requested), or the error.
/// Runs on the flusher thread: it must be quick.
pub type FlushCallback = Box<dyn FnOnce(Result<i64, LogError>) + Send>;

struct Request {
    log: SharedLog,
    up_to_offset: i64,
    done: FlushCallback,
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wakeup: Condvar,
    fsyncs: AtomicU64,
    rounds: AtomicU64,
    requests: AtomicU64,
}

/// The flusher thread and its queue.
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher thread.
    pub fn start() -> Result<Self, LogError> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("moldau-log-flusher".into())
            .spawn(move || run(&worker))
            .map_err(|e| LogError::io(std::path::Path::new("<flusher thread>"), e))?;
        Ok(GroupCommit {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a request; returns at once. After shutdown the callback gets
    /// `LogError::ShutDown` immediately.
    pub fn request(&self, log: SharedLog, up_to_offset: i64, done: FlushCallback) {
        let mut q = self.shared.queue.lock();
        if q.stopping {
            drop(q);
            done(Err(LogError::ShutDown));
            return;
        }
        q.requests.push(Request {
            log,
            up_to_offset,
            done,
        });
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        drop(q);
        self.shared.wakeup.notify_one();
    }

    /// Serves every queued request, then stops the thread.
    pub fn shutdown(&self) {
        self.shared.queue.lock().stopping = true;
        self.shared.wakeup.notify_all();
        if let Some(t) = self.thread.lock().take() {
            if t.join().is_err() {
                tracing::error!("log flusher thread panicked");
            }
        }
    }

    /// fsync calls made so far.
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// Flush rounds run so far (each serves every request queued at its start).
    pub fn round_count(&self) -> u64 {
        self.shared.rounds.load(Ordering::Relaxed)
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
    loop {
        let batch = {
            let mut q = shared.queue.lock();
            while q.requests.is_empty() && !q.stopping {
                shared.wakeup.wait(&mut q);
            }
            if q.requests.is_empty() {
                return;
            }
            std::mem::take(&mut q.requests)
        };
        shared.rounds.fetch_add(1, Ordering::Relaxed);
        serve_round(shared, batch);
    }
}

/// One log's share of a round.
struct Group {
    log: SharedLog,
    waiters: Vec<(i64, FlushCallback)>,
    plan: Option<FlushPlan>,
    result: Result<(), LogError>,
}

fn serve_round(shared: &Shared, batch: Vec<Request>) {
    let mut groups: Vec<Group> = Vec::new();
    for r in batch {
        match groups.iter_mut().find(|g| Arc::ptr_eq(&g.log, &r.log)) {
            Some(g) => g.waiters.push((r.up_to_offset, r.done)),
            None => groups.push(Group {
                log: r.log,
                waiters: vec![(r.up_to_offset, r.done)],
                plan: None,
                result: Ok(()),
            }),
        }
    }
    for g in &mut groups {
        let want = g.waiters.iter().map(|(o, _)| *o).max().unwrap_or(0);
        let log = g.log.read();
        if log.recovery_point() < want {
            g.plan = log.flush_plan();
        }
    }
    for g in &mut groups {
        if let Some(plan) = &g.plan {
            shared
                .fsyncs
                .fetch_add(plan.fsync_count() as u64, Ordering::Relaxed);
            g.result = plan.execute();
        }
    }
    let now_ms = wall_clock_ms();
    for g in groups {
        let (durable, log_start, log_end) = {
            let mut log = g.log.write();
            let durable = match (&g.plan, &g.result) {
                (Some(plan), Ok(())) => log.complete_flush(plan, now_ms),
                _ => log.recovery_point(),
            };
            (durable, log.log_start_offset(), log.log_end_offset())
        };
        for (want, done) in g.waiters {
            let outcome = match &g.result {
                Err(e) => Err(e.clone()),
                Ok(()) if durable >= want => Ok(durable),
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
}
