//! LogManager: directory layout, checkpoints, clean shutdown, removal, group commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use crate::manager::{CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_CHECKPOINT_FILE};
use crate::test_util::{batch, small_config};
use crate::{LogConfig, LogError, LogManager, TopicPartition};

const HOUR_MS: u64 = 3_600_000;

#[test]
fn creates_layout_and_reopens_after_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("orders", 3);
    {
        let mgr = LogManager::open(dir.path(), 1, "cluster-a", small_config(), HOUR_MS).unwrap();
        assert_eq!(mgr.cluster_id(), "cluster-a");
        let log = mgr.create(&tp, small_config(), [9; 16]).unwrap();
        let again = mgr.create(&tp, small_config(), [1; 16]).unwrap();
        assert!(Arc::ptr_eq(&log, &again));
        for _ in 0..20 {
            let mut b = batch(2, 30, 1000);
            log.write().append(&mut b, 0, 1).unwrap();
        }
        log.write().set_high_watermark(40);
        mgr.shutdown().unwrap();
        assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    }
    let meta = std::fs::read_to_string(dir.path().join("meta.properties")).unwrap();
    assert!(
        meta.contains("cluster.id=cluster-a")
            && meta.contains("node.id=1")
            && meta.contains("version=1")
    );
    let pm = std::fs::read_to_string(dir.path().join("orders-3/partition.metadata")).unwrap();
    assert!(pm.starts_with("version: 0\ntopic_id: "));
    let rp = std::fs::read_to_string(dir.path().join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap();
    assert_eq!(rp, "0\n1\norders 3 40\n");

    // A different node id is refused; the stored cluster id wins over a new one.
    assert!(matches!(
        LogManager::open(dir.path(), 2, "cluster-a", small_config(), HOUR_MS),
        Err(LogError::NodeIdMismatch {
            found: 1,
            expected: 2,
            ..
        })
    ));
    let mgr = LogManager::open(dir.path(), 1, "other", small_config(), HOUR_MS).unwrap();
    assert_eq!(mgr.cluster_id(), "cluster-a");
    assert!(
        !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
        "marker consumed at open"
    );
    let log = mgr.get(&tp).unwrap();
    assert_eq!(log.read().log_end_offset(), 40);
    assert_eq!(log.read().high_watermark(), 40);
    assert_eq!(mgr.topic_id(&tp), Some([9; 16]));
    assert_eq!(mgr.all().len(), 1);
}

#[test]
fn remove_renames_then_deletes_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = LogManager::open(dir.path(), 0, "c", LogConfig::default(), HOUR_MS).unwrap();
    let tp = TopicPartition::new("gone", 0);
    mgr.create(&tp, LogConfig::default(), [0; 16]).unwrap();
    mgr.remove(&tp).unwrap();
    assert!(mgr.get(&tp).is_none());
    assert!(!dir.path().join("gone-0").exists());
    // Background deletion finishes shortly; a leftover would be removed on open anyway.
    for _ in 0..200 {
        let left = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with("-delete")
            })
            .count();
        if left == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("deleted partition directory still present");
}

#[test]
fn group_commit_batches_many_requests_into_few_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let mgr =
        Arc::new(LogManager::open(dir.path(), 0, "c", LogConfig::default(), HOUR_MS).unwrap());
    let partitions: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("gc", p)).collect();
    for tp in &partitions {
        mgr.create(tp, LogConfig::default(), [1; 16]).unwrap();
    }
    let threads = 6;
    let per_thread = 200;
    let (tx, rx) = mpsc::channel::<(i64, Result<i64, LogError>)>();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            let tp = partitions[t % partitions.len()].clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let log = mgr.get(&tp).unwrap();
                for _ in 0..per_thread {
                    let mut b = batch(1, 100, 1);
                    let end = log.write().append(&mut b, 0, 1).unwrap().last_offset + 1;
                    let tx = tx.clone();
                    mgr.request_flush(&tp, end, Box::new(move |r| tx.send((end, r)).unwrap()));
                }
            })
        })
        .collect();
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
    let mut answered = 0;
    for (asked, result) in rx {
        let durable = result.unwrap();
        assert!(durable >= asked, "durable {durable} < asked {asked}");
        answered += 1;
    }
    assert_eq!(answered, threads * per_thread);
    let fsyncs = mgr.group_commit().fsync_count();
    assert!(
        fsyncs < (threads * per_thread) as u64 / 2,
        "{fsyncs} fsyncs for {answered} requests: not batched"
    );
    for tp in &partitions {
        let log = mgr.get(tp).unwrap();
        let log = log.read();
        assert_eq!(log.recovery_point(), log.log_end_offset());
    }
}

#[test]
fn unknown_partition_flush_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = LogManager::open(dir.path(), 0, "c", LogConfig::default(), HOUR_MS).unwrap();
    let got = Arc::new(AtomicUsize::new(0));
    let g = Arc::clone(&got);
    mgr.request_flush(
        &TopicPartition::new("nope", 0),
        1,
        Box::new(move |r| {
            assert!(matches!(r, Err(LogError::UnknownPartition(_))));
            g.fetch_add(1, Ordering::SeqCst);
        }),
    );
    assert_eq!(got.load(Ordering::SeqCst), 1);
}

#[test]
fn cleaner_checkpoint_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("compacted", 0);
    let config = LogConfig {
        cleanup_policy: crate::CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        ..small_config()
    };
    let cleaned_to = {
        let mgr = LogManager::open(dir.path(), 0, "c", small_config(), HOUR_MS).unwrap();
        let log = mgr.create(&tp, config.clone(), [2; 16]).unwrap();
        for _ in 0..60 {
            let mut b = batch(3, 40, 1000);
            log.write().append(&mut b, 0, 1).unwrap();
        }
        assert!(log.write().compact(0).unwrap());
        let cleaned_to = log.read().cleaner_checkpoint();
        assert!(cleaned_to > 0);
        mgr.shutdown().unwrap();
        cleaned_to
    };
    let text =
        std::fs::read_to_string(dir.path().join(crate::manager::CLEANER_CHECKPOINT_FILE)).unwrap();
    assert_eq!(text, format!("0\n1\ncompacted 0 {cleaned_to}\n"));
    let mgr = LogManager::open(dir.path(), 0, "c", small_config(), HOUR_MS).unwrap();
    let log = mgr.get(&tp).unwrap();
    assert_eq!(log.read().cleaner_checkpoint(), cleaned_to);
}

#[test]
fn a_removed_log_cannot_touch_the_files_of_a_recreated_one() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("again", 0);
    let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    // Retention would delete every closed segment of either log at once.
    let doomed_config = LogConfig {
        retention_ms: 0,
        ..small_config()
    };
    let old = mgr.create(&tp, doomed_config.clone(), [1; 16]).unwrap();
    for _ in 0..10 {
        let mut b = batch(2, 1000, 1000);
        old.write().append(&mut b, 0, 1).unwrap();
    }
    assert!(old.read().segment_count() > 1);
    mgr.remove(&tp).unwrap();
    let new = mgr.create(&tp, small_config(), [2; 16]).unwrap();
    for _ in 0..10 {
        let mut b = batch(2, 1000, 1000);
        new.write().append(&mut b, 0, 1).unwrap();
    }
    new.write().flush().unwrap();
    let new_segments = new.read().segment_base_offsets();
    assert!(new_segments.len() > 1);

    // Late users of the old log: a produce, a retention pass, DeleteRecords, truncation.
    let mut late = batch(2, 1000, 1000);
    assert!(matches!(
        old.write().append(&mut late, 0, 1),
        Err(LogError::Deleted(_))
    ));
    assert_eq!(old.write().enforce_retention(i64::MAX / 2).unwrap(), 0);
    assert!(old.write().delete_records_before(4).is_err());
    assert!(old.write().truncate_to(2).is_err());
    assert!(old.read().is_deleted());
    // Removing by the old identity leaves the new log alone.
    assert!(!mgr.remove_if_same(&tp, &old).unwrap());

    let part_dir = dir.path().join(tp.dir_name());
    for base in &new_segments {
        let name = format!("{base:020}.log");
        assert!(
            part_dir.join(&name).exists(),
            "{name} of the new log is gone"
        );
    }
    assert_eq!(new.read().segment_base_offsets(), new_segments);
    let read = new.read().read(0, 1 << 20, 20, true).unwrap();
    assert!(!read.bytes.is_empty());
    assert!(mgr.remove_if_same(&tp, &new).unwrap());
    assert!(mgr.get(&tp).is_none());
}

#[test]
fn a_partition_that_cannot_be_opened_is_offline_and_the_rest_open() {
    let dir = tempfile::tempdir().unwrap();
    let good = TopicPartition::new("good", 0);
    let broken = TopicPartition::new("broken", 0);
    {
        let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
        for tp in [&good, &broken] {
            let log = mgr.create(tp, small_config(), [7; 16]).unwrap();
            let mut b = batch(2, 30, 1000);
            log.write().append(&mut b, 0, 1).unwrap();
            log.write().set_high_watermark(2);
        }
        mgr.shutdown().unwrap();
    }
    // The segment file replaced by a directory: the log cannot be read.
    let segment = dir.path().join("broken-0/00000000000000000000.log");
    std::fs::remove_file(&segment).unwrap();
    std::fs::create_dir(&segment).unwrap();

    let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    assert_eq!(mgr.get(&good).unwrap().read().log_end_offset(), 2);
    assert!(mgr.get(&broken).is_none());
    assert!(mgr.offline_reason(&broken).is_some());
    assert!(mgr.offline_reason(&good).is_none());
    assert_eq!(mgr.offline_partitions().len(), 1);
    // Its checkpoint entries survive, for when it is repaired.
    mgr.checkpoint().unwrap();
    let rp = std::fs::read_to_string(dir.path().join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap();
    assert!(rp.contains("broken 0 2"), "{rp}");

    // Deleting it forgets it and its files: the name can be used afresh.
    assert!(mgr.remove_offline(&broken).unwrap());
    assert!(!mgr.remove_offline(&broken).unwrap());
    assert!(mgr.offline_reason(&broken).is_none());
    assert!(!dir.path().join("broken-0").exists());
    let log = mgr.create(&broken, small_config(), [8; 16]).unwrap();
    assert_eq!(log.read().log_end_offset(), 0);
}

#[test]
fn flushing_a_log_deleted_meanwhile_reports_it_deleted_and_keeps_the_dir_online() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("doomed", 0);
    let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    let log = mgr.create(&tp, small_config(), [3; 16]).unwrap();
    let mut b = batch(2, 100, 1000);
    log.write().append(&mut b, 0, 1).unwrap();
    // The produce that wrote the batch asks for its fsync after DeleteTopics removed
    // the partition's directory.
    mgr.remove(&tp).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    mgr.group_commit().request(
        Arc::clone(&log),
        2,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let outcome = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("flush answered");
    assert!(matches!(outcome, Err(LogError::Deleted(_))), "{outcome:?}");
    assert!(!mgr.is_offline());
}

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn after_a_crash_each_partition_joins_once_recovered_and_the_others_serve_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let held = TopicPartition::new("held", 0);
    let others = [
        TopicPartition::new("free", 0),
        TopicPartition::new("free", 1),
    ];
    let kept_line = {
        let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
        for tp in others.iter().chain([&held]) {
            let log = mgr.create(tp, small_config(), [7; 16]).unwrap();
            let mut b = batch(2, 30, 1000);
            log.write().append(&mut b, 0, 1).unwrap();
            log.write().flush().unwrap();
        }
        mgr.checkpoint().unwrap();
        for tp in others.iter().chain([&held]) {
            let mut b = batch(3, 30, 1000);
            mgr.get(tp).unwrap().write().append(&mut b, 0, 1).unwrap();
        }
        let rp = std::fs::read_to_string(dir.path().join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap();
        let line = rp.lines().find(|l| l.starts_with("held 0 ")).unwrap();
        line.to_string()
        // Dropped without shutdown: a crash.
    };
    let (release, gate) = mpsc::channel::<()>();
    let gate = parking_lot::Mutex::new(gate);
    let held_back = held.clone();
    let hook: crate::RecoveredHandler = Arc::new(move |tp| {
        if *tp == held_back {
            let _ = gate.lock().recv();
        }
    });
    let mgr = LogManager::open_with(
        dir.path(),
        1,
        "c",
        small_config(),
        HOUR_MS,
        crate::StartupRecovery::Background,
        Some(hook),
    )
    .unwrap();
    wait_until("the free partitions recovered", || {
        mgr.recovery_progress() == (1, 2)
    });
    for tp in &others {
        assert_eq!(mgr.get(tp).unwrap().read().log_end_offset(), 5, "{tp}");
    }
    // The held one is in no map: not served, never created over, not written off.
    assert!(mgr.is_recovering(&held));
    assert!(mgr.get(&held).is_none());
    assert!(mgr.offline_reason(&held).is_none());
    assert_eq!(mgr.partition_count(), 3);
    assert!(matches!(
        mgr.create(&held, small_config(), [7; 16]),
        Err(LogError::Recovering(_))
    ));
    mgr.checkpoint().unwrap();
    let rp = std::fs::read_to_string(dir.path().join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap();
    assert!(rp.lines().any(|l| l == kept_line), "{kept_line} kept: {rp}");
    assert_eq!(rp.lines().filter(|l| l.starts_with("held ")).count(), 1);
    // A listener hears of those done already, then of each one as it finishes.
    let (heard_tx, heard) = mpsc::channel();
    let heard_tx = parking_lot::Mutex::new(heard_tx);
    mgr.on_recovered(Arc::new(move |tp| {
        let _ = heard_tx.lock().send(tp.clone());
    }));
    let mut first: Vec<TopicPartition> = heard.try_iter().collect();
    first.sort();
    assert_eq!(first, others.to_vec());
    release.send(()).unwrap();
    let last = heard
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    assert_eq!(last, held);
    assert_eq!(mgr.recovery_progress(), (0, 3));
    assert!(!mgr.is_recovering(&held));
    assert_eq!(mgr.get(&held).unwrap().read().log_end_offset(), 5);
    assert_eq!(mgr.topic_id(&held), Some([7; 16]));
}

#[test]
fn a_clean_shutdown_keeps_the_broker_epoch_for_the_next_start_and_a_crash_does_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mgr = LogManager::open(dir.path(), 1, "cluster-a", small_config(), HOUR_MS).unwrap();
        assert_eq!(mgr.previous_broker_epoch(), None);
        mgr.set_broker_epoch(Some(57));
        mgr.shutdown().unwrap();
    }
    {
        // Stopped before registering again: still under epoch 57.
        let mgr = LogManager::open(dir.path(), 1, "cluster-a", small_config(), HOUR_MS).unwrap();
        assert_eq!(mgr.previous_broker_epoch(), Some(57));
        mgr.shutdown().unwrap();
    }
    {
        let mgr = LogManager::open(dir.path(), 1, "cluster-a", small_config(), HOUR_MS).unwrap();
        assert_eq!(mgr.previous_broker_epoch(), Some(57));
        // Dropped without a shutdown: a crash.
    }
    let mgr = LogManager::open(dir.path(), 1, "cluster-a", small_config(), HOUR_MS).unwrap();
    assert_eq!(mgr.previous_broker_epoch(), None, "no marker after a crash");
    mgr.shutdown().unwrap();
    drop(mgr);
    let unregistered = LogManager::open(dir.path(), 1, "cluster-a", small_config(), HOUR_MS);
    assert_eq!(unregistered.unwrap().previous_broker_epoch(), None);
}
