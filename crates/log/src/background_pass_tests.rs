//! The background pass costs what changed: idle partitions are neither visited nor
//! re-checkpointed, and time-driven work (retention) is found through due times.

use crate::background_work::BackgroundWork;
use crate::manager::{RECOVERY_POINT_CHECKPOINT_FILE, REPLICATION_CHECKPOINT_FILE};
use crate::test_util::{batch, small_config};
use crate::{LogConfig, LogManager, TopicPartition};

const HOUR_MS: u64 = 3_600_000;
/// Enough idle partitions that walking them would show; small enough to create
/// quickly in a unit test.
const IDLE_PARTITIONS: i32 = 2_000;

fn work_since(mgr: &LogManager, before: BackgroundWork) -> (u64, u64) {
    let now = mgr.background_work();
    (
        now.partitions_visited - before.partitions_visited,
        now.checkpoint_files_written - before.checkpoint_files_written,
    )
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn a_pass_over_idle_partitions_visits_none_and_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = LogManager::open(dir.path(), 1, "c", small_config(), HOUR_MS).unwrap();
    let logs: Vec<_> = (0..IDLE_PARTITIONS)
        .map(|p| {
            mgr.create(&TopicPartition::new("idle", p), small_config(), [1; 16])
                .unwrap()
        })
        .collect();
    let now_ms = 1_000_000;
    let before = mgr.background_work();
    mgr.run_background_pass(now_ms);
    assert_eq!(
        work_since(&mgr, before),
        (IDLE_PARTITIONS as u64, 4),
        "the first pass sees every new partition and writes every checkpoint"
    );
    let recovery = dir.path().join(RECOVERY_POINT_CHECKPOINT_FILE);
    let replication = dir.path().join(REPLICATION_CHECKPOINT_FILE);
    let written = (modified(&recovery), modified(&replication));

    let before = mgr.background_work();
    for i in 1..=3 {
        mgr.run_background_pass(now_ms + i * 60_000);
    }
    assert_eq!(work_since(&mgr, before), (0, 0), "idle: nothing to visit");
    assert_eq!((modified(&recovery), modified(&replication)), written);

    // One partition gets a record: only it is visited; its high watermark is the
    // only line that changed, so only the replication checkpoint is rewritten.
    let busy = &logs[7];
    busy.write().append(&mut batch(1, 10, 1000), 0, 1).unwrap();
    let before = mgr.background_work();
    mgr.run_background_pass(now_ms + 240_000);
    assert_eq!(
        work_since(&mgr, before),
        (1, 0),
        "an append alone changes no line"
    );
    busy.write().set_high_watermark(1);
    let before = mgr.background_work();
    mgr.run_background_pass(now_ms + 300_000);
    assert_eq!(work_since(&mgr, before), (1, 1));
    let text = std::fs::read_to_string(&replication).unwrap();
    assert!(text.contains("\nidle 7 1\n"), "{text}");
    assert_eq!(modified(&recovery), written.0);
}

#[test]
fn retention_is_found_by_due_time_without_walking() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 10_000,
        ..small_config()
    };
    let mgr = LogManager::open(dir.path(), 1, "c", config.clone(), HOUR_MS).unwrap();
    let tp = TopicPartition::new("aging", 0);
    let log = mgr.create(&tp, config.clone(), [2; 16]).unwrap();
    for _ in 0..(IDLE_PARTITIONS / 100) {
        let p = TopicPartition::new("quiet", mgr.partition_count() as i32);
        mgr.create(&p, config.clone(), [3; 16]).unwrap();
    }
    // Records stamped at 100 000 .. in segments that roll (4 KiB segments).
    let stamp_ms = 100_000;
    for _ in 0..20 {
        log.write()
            .append(&mut batch(4, 100, stamp_ms), 0, 1)
            .unwrap();
    }
    let segments = log.read().segment_count();
    assert!(segments > 1, "segments rolled");
    mgr.run_background_pass(stamp_ms);
    assert_eq!(log.read().segment_count(), segments, "not old enough yet");

    let before = mgr.background_work();
    mgr.run_background_pass(stamp_ms + 5_000);
    assert_eq!(
        work_since(&mgr, before).0,
        0,
        "nothing changed, nothing due"
    );

    // Due: retention.ms passed for the oldest segments' newest record.
    let before = mgr.background_work();
    mgr.run_background_pass(stamp_ms + 10_000 + 4 + 1);
    assert_eq!(work_since(&mgr, before).0, 1, "only the due partition");
    assert_eq!(
        log.read().segment_count(),
        1,
        "every closed segment expired"
    );
    assert!(log.read().log_start_offset() > 0);
}

#[test]
fn flush_ms_comes_due_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_ms: Some(50_000),
        ..small_config()
    };
    let mgr = LogManager::open(dir.path(), 1, "c", config.clone(), HOUR_MS).unwrap();
    let log = mgr
        .create(&TopicPartition::new("f", 0), config.clone(), [4; 16])
        .unwrap();
    let now_ms = crate::partition_log::wall_clock_ms();
    mgr.run_background_pass(now_ms);
    log.write().append(&mut batch(1, 10, now_ms), 0, 1).unwrap();
    mgr.run_background_pass(now_ms + 1);
    assert_eq!(log.read().recovery_point(), 0, "flush.ms not reached");
    let before = mgr.background_work();
    mgr.run_background_pass(now_ms + 1_000);
    assert_eq!(work_since(&mgr, before).0, 0);
    mgr.run_background_pass(now_ms + 60_000);
    // The group-commit thread fsyncs and advances the recovery point.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.read().recovery_point() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        log.read().recovery_point(),
        1,
        "flushed when flush.ms came due"
    );
}
