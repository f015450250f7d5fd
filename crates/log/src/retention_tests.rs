//! Time and size retention: whole closed segments, oldest first, never the active one.

use crate::test_util::{batch, open_log, small_config};
use crate::{CleanupPolicy, LogConfig, LogError};

fn config(retention_ms: i64, retention_bytes: i64) -> LogConfig {
    LogConfig {
        retention_ms,
        retention_bytes,
        ..small_config()
    }
}

#[test]
fn time_retention_deletes_old_closed_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), config(10_000, -1));
    // Old data (timestamps ~1000), then new data (~1_000_000).
    for i in 0..40 {
        let mut b = batch(3, 40, 1000 + i);
        log.append(&mut b, 0, 0).unwrap();
    }
    let old_segments = log.segment_count();
    for i in 0..40 {
        let mut b = batch(3, 40, 1_000_000 + i);
        log.append(&mut b, 0, 0).unwrap();
    }
    let size_before = log.size_bytes();
    let deleted = log.enforce_retention(1_005_000).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.size_bytes(), size_before - deleted);
    // Exactly the segments whose newest record is older than 10 s went; the
    // segment holding the boundary (old and new records) stays.
    assert_eq!(log.segment_count(), log.segment_base_offsets().len());
    assert!(log.segment_count() >= 2);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert!(log.log_start_offset() <= 120);
    assert!(log.log_start_offset() >= (old_segments as i64 - 1) * 3);
    assert!(matches!(
        log.read(0, 10, i64::MAX, false),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Far future: everything but the active segment goes, even if expired.
    log.enforce_retention(i64::MAX / 2).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_end_offset(), 240);
    assert!(!log
        .read(log.log_start_offset(), 1, i64::MAX, true)
        .unwrap()
        .bytes
        .is_empty());
    // Deleted files are gone from disk (file_delete_delay_ms = 0 here).
    let logs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert_eq!(logs, 1);
}

#[test]
fn size_retention_keeps_the_log_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), config(-1, 3 * 4096));
    for i in 0..100 {
        let mut b = batch(3, 40, 1000 + i);
        log.append(&mut b, 0, 0).unwrap();
    }
    let before = log.size_bytes();
    assert!(before > 3 * 4096);
    let deleted = log.enforce_retention(2000).unwrap();
    assert_eq!(log.size_bytes(), before - deleted);
    // Kafka's rule: delete a segment only while the log stays >= retention.bytes
    // without it, so the log ends within one segment above the limit.
    assert!(log.size_bytes() >= 3 * 4096);
    assert!(log.size_bytes() < 4 * 4096);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
}

#[test]
fn retention_needs_delete_policy_and_delayed_files_linger() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, -1);
    cfg.cleanup_policy = CleanupPolicy {
        delete: false,
        compact: false,
    };
    cfg.file_delete_delay_ms = 1000;
    let mut log = open_log(dir.path(), cfg.clone());
    for i in 0..40 {
        let mut b = batch(3, 40, i);
        log.append(&mut b, 0, 0).unwrap();
    }
    let n = log.segment_count();
    assert_eq!(log.enforce_retention(1_000_000).unwrap(), 0);
    assert_eq!(log.segment_count(), n);
    cfg.cleanup_policy = CleanupPolicy::default();
    log.update_config(cfg);
    assert!(log.enforce_retention(1_000_000).unwrap() > 0);
    let deleted_files = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".deleted")
            })
            .count()
    };
    assert_eq!(deleted_files(), 3 * (n - 1), "renamed, not yet removed");
    log.enforce_retention(1_000_500).unwrap();
    assert_eq!(deleted_files(), 3 * (n - 1));
    log.enforce_retention(1_001_001).unwrap();
    assert_eq!(deleted_files(), 0);
}

#[test]
fn the_metadata_log_keeps_everything_whatever_its_config_says() {
    let dir = tempfile::tempdir().unwrap();
    let tp = crate::TopicPartition::new(crate::METADATA_LOG_TOPIC, 0);
    let harsh = LogConfig {
        cleanup_policy: CleanupPolicy {
            delete: true,
            compact: true,
        },
        ..config(1, 1)
    };
    let mut log = crate::PartitionLog::open(dir.path(), tp, harsh, 0, None).unwrap();
    for i in 0..40 {
        let mut b = batch(3, 40, 1000 + i);
        log.append(&mut b, 0, 0).unwrap();
    }
    let segments = log.segment_base_offsets();
    assert!(segments.len() > 2);
    assert_eq!(log.enforce_retention(i64::MAX / 2).unwrap(), 0);
    assert!(log.compaction_plan(i64::MAX / 2).is_none());
    assert!(matches!(
        log.delete_records_before(30),
        Err(LogError::Protected(_))
    ));
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(
        log.read(0, 1 << 20, i64::MAX, true).unwrap().first_offset,
        0
    );
}
