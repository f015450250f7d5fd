//! Group commit over many logs: one filesystem sync for a round, what becomes
//! durable, and what a failed sync does. The filesystem sync is a test double that
//! appends to the logs while it "syncs" (writes racing the sync) or fails.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::error::LogError;
use crate::filesystem_sync::FilesystemSync;
use crate::group_commit::{flush_threads, GroupCommit};
use crate::manager::SharedLog;
use crate::sync_batch::SYNCFS_LOGS_MIN;
use crate::test_util::{batch, small_config};
use crate::{PartitionLog, TopicPartition};

/// Logs in the round under test: enough for one filesystem sync.
const LOGS: usize = SYNCFS_LOGS_MIN + 8;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// A filesystem sync that, while it runs, appends one more batch to each of
/// `racing` (writes the sync must not be credited with), then succeeds or fails.
struct TestFilesystem {
    device: u64,
    racing: Mutex<Vec<SharedLog>>,
    fail: bool,
    calls: AtomicUsize,
}

impl FilesystemSync for TestFilesystem {
    fn device(&self) -> u64 {
        self.device
    }

    fn sync(&self) -> Result<(), LogError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        for log in self.racing.lock().drain(..) {
            let mut b = batch(1, 50, 2);
            log.write().append(&mut b, 0, 2).expect("racing append");
        }
        if self.fail {
            return Err(LogError::io(
                Path::new("<test filesystem>"),
                std::io::Error::from_raw_os_error(libc::EIO),
            ));
        }
        Ok(())
    }
}

fn new_log(root: &Path, partition: i32) -> SharedLog {
    let tp = TopicPartition::new("gc", partition);
    let dir = root.join(tp.to_string());
    Arc::new(RwLock::new(
        PartitionLog::open(&dir, tp, small_config(), 0, None).expect("open"),
    ))
}

/// Appends one batch of two records; returns the log end after it.
fn append(log: &SharedLog) -> i64 {
    let mut b = batch(2, 50, 1);
    log.write()
        .append(&mut b, 0, 1)
        .expect("append")
        .last_offset
        + 1
}

/// Requests a flush of each log up to `ends[i]`, queued while every flusher thread is
/// held up, so that one round takes them all; returns each log's answer.
fn flush_in_one_round(
    gc: &GroupCommit,
    root: &Path,
    logs: &[SharedLog],
    ends: &[i64],
) -> Vec<Result<i64, LogError>> {
    // One log per flusher thread, write-locked: each thread's round blocks planning it.
    let blockers: Vec<SharedLog> = (0..flush_threads())
        .map(|i| new_log(root, 1_000 + i as i32))
        .collect();
    let guards: Vec<_> = blockers.iter().map(|b| b.write()).collect();
    for (i, blocker) in blockers.iter().enumerate() {
        gc.request(Arc::clone(blocker), 0, Box::new(|_| {}));
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while gc.flush_count() < i as u64 + 1 {
            assert!(Instant::now() < deadline, "flusher {i} never started");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (tx, rx) = mpsc::channel();
    for (i, (log, end)) in logs.iter().zip(ends).enumerate() {
        let tx = tx.clone();
        gc.request(
            Arc::clone(log),
            *end,
            Box::new(move |r| tx.send((i, r)).expect("send")),
        );
    }
    drop(guards);
    let mut answers: Vec<Option<Result<i64, LogError>>> = vec![None; logs.len()];
    for _ in 0..logs.len() {
        let (i, r) = rx.recv_timeout(ANSWER_TIMEOUT).expect("answered");
        assert!(answers[i].replace(r).is_none(), "log {i} answered twice");
    }
    answers.into_iter().map(|a| a.expect("answer")).collect()
}

fn setup(fail: bool) -> (tempfile::TempDir, Arc<TestFilesystem>, GroupCommit) {
    let root = tempfile::tempdir().unwrap();
    let fs = Arc::new(TestFilesystem {
        device: std::fs::metadata(root.path()).unwrap().dev(),
        racing: Mutex::new(Vec::new()),
        fail,
        calls: AtomicUsize::new(0),
    });
    let gc = GroupCommit::start(Some(Box::new(SharedFilesystem(Arc::clone(&fs))))).unwrap();
    (root, fs, gc)
}

/// Lets the test keep a handle on the filesystem double it gave away.
struct SharedFilesystem(Arc<TestFilesystem>);

impl FilesystemSync for SharedFilesystem {
    fn device(&self) -> u64 {
        self.0.device()
    }
    fn sync(&self) -> Result<(), LogError> {
        self.0.sync()
    }
}

#[test]
fn one_filesystem_sync_makes_a_round_durable_up_to_what_was_written_before_it() {
    let (root, fs, gc) = setup(false);
    let logs: Vec<SharedLog> = (0..LOGS).map(|p| new_log(root.path(), p as i32)).collect();
    let ends: Vec<i64> = logs.iter().map(append).collect();
    *fs.racing.lock() = logs.clone();

    let answers = flush_in_one_round(&gc, root.path(), &logs, &ends);

    assert_eq!(fs.calls.load(Ordering::SeqCst), 1, "one sync for the round");
    assert_eq!(gc.syncfs_count(), 1);
    assert_eq!(gc.fsync_count(), 0, "no per-file fsync for a covered log");
    for (i, (answer, end)) in answers.iter().zip(&ends).enumerate() {
        // Durable exactly to the end when planned: the batch appended during the
        // sync is not credited to it.
        assert_eq!(answer.as_ref().ok(), Some(end), "log {i}: {answer:?}");
        let l = logs[i].read();
        assert_eq!(l.recovery_point(), *end, "log {i} recovery point");
        assert!(
            l.log_end_offset() > *end,
            "log {i}: the racing append landed"
        );
    }
    assert!(!gc.is_offline());
}

#[test]
fn a_failed_filesystem_sync_acknowledges_nothing_and_takes_the_directory_offline() {
    let (root, fs, gc) = setup(true);
    let offline_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&offline_calls);
    gc.on_offline(Box::new(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
    }));
    let logs: Vec<SharedLog> = (0..LOGS).map(|p| new_log(root.path(), p as i32)).collect();
    let ends: Vec<i64> = logs.iter().map(append).collect();

    let answers = flush_in_one_round(&gc, root.path(), &logs, &ends);

    assert_eq!(fs.calls.load(Ordering::SeqCst), 1);
    for (i, answer) in answers.iter().enumerate() {
        assert!(
            matches!(answer, Err(LogError::Io { .. })),
            "log {i}: {answer:?}"
        );
        assert_eq!(logs[i].read().recovery_point(), 0, "log {i} advanced");
    }
    assert!(gc.is_offline());
    assert_eq!(offline_calls.load(Ordering::SeqCst), 1);
    // Nothing later is acknowledged either, though a sync would now succeed.
    let (tx, rx) = mpsc::channel();
    gc.request(
        Arc::clone(&logs[0]),
        ends[0],
        Box::new(move |r| tx.send(r).expect("send")),
    );
    let later = rx.recv_timeout(ANSWER_TIMEOUT).expect("answered");
    assert!(matches!(later, Err(LogError::DirOffline)), "{later:?}");
}

#[test]
fn a_few_logs_are_fsynced_file_by_file() {
    let (root, fs, gc) = setup(false);
    let few = SYNCFS_LOGS_MIN / 4;
    let logs: Vec<SharedLog> = (0..few).map(|p| new_log(root.path(), p as i32)).collect();
    let ends: Vec<i64> = logs.iter().map(append).collect();

    let answers = flush_in_one_round(&gc, root.path(), &logs, &ends);

    for (answer, end) in answers.iter().zip(&ends) {
        assert_eq!(answer.as_ref().ok(), Some(end));
    }
    assert_eq!(fs.calls.load(Ordering::SeqCst), 0, "no filesystem sync");
    assert!(gc.fsync_count() >= few as u64);
}
