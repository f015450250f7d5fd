//! Start after a clean shutdown (partitions served as they are opened, nothing
//! re-read) and a clean shutdown that syncs only what was written (issue 17).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::manager::{StartupRecovery, CLEAN_SHUTDOWN_FILE, RECOVERY_THREADS};
use crate::test_util::{batch, small_config};
use crate::{LogManager, RecoveredHandler, TopicPartition};

const HOUR_MS: u64 = 3_600_000;

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn append(mgr: &LogManager, tp: &TopicPartition, records: usize) {
    let mut b = batch(records, 30, 1000);
    mgr.get(tp).unwrap().write().append(&mut b, 0, 1).unwrap();
}

fn synced_at_shutdown(mgr: &LogManager) -> u64 {
    mgr.background_work().partitions_synced_at_shutdown
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_clean_stop_syncs_only_the_partitions_written_since_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let open = || LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    let mgr = open();
    for p in 0..4 {
        mgr.create(&tp(p), small_config(), [7; 16]).unwrap();
        append(&mgr, &tp(p), 2);
    }
    mgr.shutdown().unwrap();
    assert_eq!(synced_at_shutdown(&mgr), 4, "all were written");
    drop(mgr);

    // Opened as the clean shutdown left them: at rest until written.
    let mgr = open();
    for p in 0..4 {
        assert!(mgr.get(&tp(p)).unwrap().read().is_at_rest(), "{}", tp(p));
    }
    append(&mgr, &tp(1), 3);
    assert!(!mgr.get(&tp(1)).unwrap().read().is_at_rest());
    mgr.shutdown().unwrap();
    assert_eq!(synced_at_shutdown(&mgr), 1, "only t-1 was written");
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    drop(mgr);

    let mgr = open();
    mgr.shutdown().unwrap();
    assert_eq!(synced_at_shutdown(&mgr), 0, "nothing was written");
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    drop(mgr);

    // What the skipped closes left is whole: every record is there, and a crash
    // now (no marker) recovers the same.
    let mgr = open();
    for p in 0..4 {
        let log = mgr.get(&tp(p)).unwrap();
        let expected = if p == 1 { 5 } else { 2 };
        assert_eq!(log.read().log_end_offset(), expected, "{}", tp(p));
        assert_eq!(log.read().recovery_point(), expected, "{}", tp(p));
        assert!(!log
            .read()
            .read(0, 1 << 20, i64::MAX, true)
            .unwrap()
            .bytes
            .is_empty());
    }
    drop(mgr);
    let mgr = open();
    assert!(!mgr.get(&tp(0)).unwrap().read().is_at_rest(), "recovered");
    assert_eq!(mgr.get(&tp(1)).unwrap().read().log_end_offset(), 5);
}

/// After a clean shutdown the partitions are opened in the background: those open
/// are served while one is held back, the marker is gone before anything is
/// served, and a clean stop before every partition was opened still leaves the
/// marker (the unopened ones are as the last clean shutdown left them).
#[test]
fn after_a_clean_shutdown_partitions_are_served_as_opened_and_a_stop_meanwhile_stays_clean() {
    let dir = tempfile::tempdir().unwrap();
    let count = RECOVERY_THREADS as i32 + 3;
    {
        let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
        for p in 0..count {
            mgr.create(&tp(p), small_config(), [7; 16]).unwrap();
            append(&mgr, &tp(p), 2);
        }
        mgr.shutdown().unwrap();
    }
    // Every opening waits for `released`: the first RECOVERY_THREADS are held.
    let released = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(AtomicUsize::new(0));
    let hook: RecoveredHandler = {
        let released = Arc::clone(&released);
        let entered = Arc::clone(&entered);
        Arc::new(move |_| {
            entered.fetch_add(1, Ordering::SeqCst);
            while !released.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let mgr = Arc::new(
        LogManager::open_with(
            dir.path(),
            1,
            "c",
            small_config(),
            HOUR_MS,
            StartupRecovery::Background,
            Some(hook),
        )
        .unwrap(),
    );
    wait_until("the threads hold their first partitions", || {
        entered.load(Ordering::SeqCst) == RECOVERY_THREADS
    });
    assert!(
        !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
        "removed before anything is served"
    );
    assert_eq!(mgr.recovery_progress(), (count as usize, 0));
    assert!(mgr.get(&tp(0)).is_none(), "not served before it is open");
    let stopping = {
        let mgr = Arc::clone(&mgr);
        std::thread::spawn(move || mgr.shutdown())
    };
    wait_until("the shutdown began", || mgr.is_stopping());
    released.store(true, Ordering::SeqCst);
    stopping.join().unwrap().unwrap();
    assert_eq!(
        mgr.recovery_progress(),
        (3, RECOVERY_THREADS),
        "three never opened"
    );
    assert_eq!(synced_at_shutdown(&mgr), 0, "nothing written");
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    drop(mgr);

    let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    for p in 0..count {
        let log = mgr.get(&tp(p)).unwrap();
        assert!(log.read().is_at_rest(), "{} opened clean", tp(p));
        assert_eq!(log.read().log_end_offset(), 2);
        assert_eq!(mgr.topic_id(&tp(p)), Some([7; 16]));
    }
}

/// A crash while partitions are still being opened after a clean shutdown leads
/// to recovery, with every acknowledged record.
#[test]
fn a_crash_during_the_clean_start_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let held = tp(0);
    {
        let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
        for p in 0..3 {
            mgr.create(&tp(p), small_config(), [7; 16]).unwrap();
            append(&mgr, &tp(p), 2);
        }
        mgr.shutdown().unwrap();
    }
    let released = Arc::new(AtomicBool::new(false));
    let hook: RecoveredHandler = {
        let released = Arc::clone(&released);
        let held = held.clone();
        Arc::new(move |tp| {
            while *tp == held && !released.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let mgr = LogManager::open_with(
        dir.path(),
        1,
        "c",
        small_config(),
        HOUR_MS,
        StartupRecovery::Background,
        Some(hook),
    )
    .unwrap();
    wait_until("the others are open", || mgr.recovery_progress() == (1, 2));
    append(&mgr, &tp(1), 3);
    mgr.get(&tp(1)).unwrap().write().flush().unwrap();
    released.store(true, Ordering::SeqCst);
    drop(mgr); // a crash: no shutdown
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());

    let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    for p in 0..3 {
        let log = mgr.get(&tp(p)).unwrap();
        assert!(!log.read().is_at_rest(), "{} recovered, not trusted", tp(p));
        assert_eq!(log.read().log_end_offset(), if p == 1 { 5 } else { 2 });
    }
}
