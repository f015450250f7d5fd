//! Behaviour of `PartitionLog`: append, read, roll, indexes, timestamps, truncation,
//! flush, reopen.

use moldau_protocol::batch::{BatchIter, BatchView};

use crate::test_util::{batch, fill, open_log, small_config};
use crate::{LogConfig, LogError, PartitionLog, TimestampType, TopicPartition};

fn offsets_of(bytes: &[u8]) -> Vec<(i64, i64)> {
    BatchIter::new(bytes)
        .map(|b| {
            let (_, v) = b.expect("whole batch");
            (v.base_offset(), v.last_offset())
        })
        .collect()
}

#[test]
fn append_assigns_offsets_and_epoch_and_read_returns_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    let mut two = batch(3, 10, 100);
    two.extend_from_slice(&batch(2, 10, 200));
    let info = log.append(&mut two, 7, 5000).unwrap();
    assert_eq!(
        (info.first_offset, info.last_offset, info.record_count),
        (0, 4, 5)
    );
    assert_eq!(info.log_append_time, -1);
    assert_eq!(info.max_timestamp, 201);
    assert_eq!(info.offset_of_max_timestamp, 4);
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(log.latest_epoch(), Some(7));

    let all = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(
        &all.bytes[..],
        &two[..],
        "stored bytes are the appended bytes"
    );
    assert_eq!(offsets_of(&all.bytes), vec![(0, 2), (3, 4)]);
    for item in BatchIter::new(&all.bytes) {
        let (_, v) = item.unwrap();
        assert_eq!(v.partition_leader_epoch(), 7);
        v.validate().unwrap();
    }
    // Reading from inside the first batch returns it whole.
    let mid = log.read(1, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(mid.first_offset, 0);
    // At the log end: empty; beyond: out of range.
    assert!(log.read(5, 100, i64::MAX, false).unwrap().bytes.is_empty());
    assert!(matches!(
        log.read(6, 100, i64::MAX, false),
        Err(LogError::OffsetOutOfRange {
            requested: 6,
            log_start: 0,
            log_end: 5
        })
    ));
}

#[test]
fn read_respects_max_bytes_min_one_batch_and_max_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), LogConfig::default());
    let stored = fill(&mut log, 4, 2, 50);
    let one = stored[0].len();
    // Too small for one batch: nothing, unless min_one_batch.
    assert!(log
        .read(0, one - 1, i64::MAX, false)
        .unwrap()
        .bytes
        .is_empty());
    assert_eq!(
        log.read(0, one - 1, i64::MAX, true).unwrap().bytes.len(),
        one
    );
    // Room for one and a half: exactly one.
    assert_eq!(
        offsets_of(&log.read(0, one + one / 2, i64::MAX, false).unwrap().bytes),
        vec![(0, 1)]
    );
    // High watermark at 4 excludes batches starting at 4 and later.
    assert_eq!(
        offsets_of(&log.read(0, 1 << 20, 4, false).unwrap().bytes),
        vec![(0, 1), (2, 3)]
    );
    assert!(log.read(4, 1 << 20, 4, true).unwrap().bytes.is_empty());
}

#[test]
fn log_append_time_rewrites_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open_log(dir.path(), config);
    let mut b = batch(2, 5, 100);
    let info = log.append(&mut b, 0, 777_000).unwrap();
    assert_eq!(info.log_append_time, 777_000);
    let view = BatchView::parse(&b).unwrap();
    assert!(view.is_log_append_time());
    assert_eq!(view.max_timestamp(), 777_000);
    view.validate().unwrap();
    assert_eq!(
        log.offset_for_timestamp(777_000).unwrap(),
        Some((0, 777_000))
    );
}

#[test]
fn rolls_segments_and_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    let stored = fill(&mut log, 60, 3, 40);
    assert!(log.segment_count() > 3, "4 KiB segments must roll");
    // Every offset is readable and lands in the batch that holds it.
    for offset in 0..log.log_end_offset() {
        let r = log.read(offset, 1, i64::MAX, true).unwrap();
        let (base, last) = offsets_of(&r.bytes)[0];
        assert!(
            base <= offset && offset <= last,
            "offset {offset} in [{base},{last}]"
        );
        assert_eq!(&r.bytes[..], &stored[(offset / 3) as usize][..]);
    }
    // Segment files are named by base offset and closed indexes are trimmed.
    let bases = log.segment_base_offsets();
    for (i, base) in bases.iter().enumerate() {
        let name = format!("{base:020}");
        assert!(dir.path().join(format!("{name}.log")).exists());
        let idx = std::fs::metadata(dir.path().join(format!("{name}.index")))
            .unwrap()
            .len();
        if i + 1 < bases.len() {
            assert_eq!(idx % 8, 0);
            assert!(idx < 1024, "closed index trimmed");
        } else {
            assert_eq!(idx, 1024, "active index preallocated");
        }
    }
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    // Batch i has records at 1000 + 10 i + {0,1,2}.
    fill(&mut log, 50, 3, 40);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(1001).unwrap(), Some((1, 1001)));
    assert_eq!(log.offset_for_timestamp(1003).unwrap(), Some((3, 1010)));
    assert_eq!(log.offset_for_timestamp(1252).unwrap(), Some((77, 1252)));
    assert_eq!(log.offset_for_timestamp(1493).unwrap(), None);
    assert_eq!(log.max_timestamp(), Some((1492, 149)));
}

#[test]
fn truncate_to_drops_tail_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    fill(&mut log, 40, 3, 40);
    let mut b = batch(3, 40, 5000);
    log.append(&mut b, 9, 6000).unwrap();
    assert_eq!(log.latest_epoch(), Some(9));
    let segments_before = log.segment_count();
    log.truncate_to(30).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(log.latest_epoch(), Some(1));
    assert!(log.segment_count() < segments_before);
    assert!(log.read(30, 100, i64::MAX, false).unwrap().bytes.is_empty());
    // Appends continue at 30.
    let mut b = batch(2, 10, 7000);
    assert_eq!(log.append(&mut b, 10, 8000).unwrap().first_offset, 30);
    assert_eq!(
        offsets_of(&log.read(27, 1 << 20, i64::MAX, false).unwrap().bytes),
        vec![(27, 29), (30, 31)]
    );
    // Truncating inside a batch removes the whole batch.
    log.truncate_to(31).unwrap();
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn truncating_at_the_log_end_drops_an_epoch_that_starts_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    fill(&mut log, 40, 3, 40);
    let end = log.log_end_offset();
    let before = log.latest_epoch();
    // Led at epoch 7 and lost the leadership before appending anything.
    log.assign_leader_epoch_at_log_end(7).unwrap();
    assert_eq!(log.latest_epoch(), Some(7));
    // The new leader never had epoch 7: the follower truncates to its own end.
    log.truncate_to(end).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.latest_epoch(), before);
}

#[test]
fn delete_records_raises_log_start_and_drops_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    fill(&mut log, 60, 3, 40);
    let bases = log.segment_base_offsets();
    let target = bases[2] + 1;
    assert_eq!(log.delete_records_before(target).unwrap(), target);
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(log.segment_base_offsets()[0], bases[2]);
    assert!(matches!(
        log.read(target - 1, 10, i64::MAX, false),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(!log
        .read(target, 10, i64::MAX, true)
        .unwrap()
        .bytes
        .is_empty());
    assert!(log.delete_records_before(log.log_end_offset() + 1).is_err());
}

#[test]
fn flush_advances_recovery_point_and_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let stored = {
        let mut log = open_log(dir.path(), small_config());
        let stored = fill(&mut log, 30, 2, 60);
        assert_eq!(log.recovery_point(), 0);
        assert_eq!(log.flush().unwrap(), 60);
        assert!(log.flush_plan().is_none(), "nothing left to sync");
        stored
    };
    for clean in [false, true] {
        let log = PartitionLog::open_with_options(
            dir.path(),
            TopicPartition::new("t", 0),
            small_config(),
            60,
            None,
            clean,
        )
        .unwrap();
        assert_eq!(log.log_end_offset(), 60);
        let all = log.read(0, 1 << 20, i64::MAX, false).unwrap();
        let first_segment: Vec<u8> = stored
            .iter()
            .take_while(|_| true)
            .flatten()
            .copied()
            .collect();
        assert!(first_segment.starts_with(&all.bytes));
        let mut offset = 0;
        let mut collected = Vec::new();
        while offset < log.log_end_offset() {
            let r = log.read(offset, 1 << 20, i64::MAX, false).unwrap();
            offset = offsets_of(&r.bytes).last().unwrap().1 + 1;
            collected.extend_from_slice(&r.bytes);
        }
        assert_eq!(collected, first_segment);
        assert_eq!(log.latest_epoch(), Some(1));
    }
}

#[test]
fn follower_append_keeps_offsets_and_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = open_log(dir.path().join("a").as_path(), small_config());
    fill(&mut leader, 5, 2, 20);
    let mut b = batch(2, 20, 3000);
    leader.append(&mut b, 4, 1).unwrap();
    let data = leader.read(0, 1 << 20, i64::MAX, false).unwrap().bytes;
    let mut follower = open_log(dir.path().join("b").as_path(), small_config());
    let info = follower.append_as_follower(&data).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 11));
    assert_eq!(follower.log_end_offset(), 12);
    assert_eq!(follower.epoch_entries(), vec![(1, 0), (4, 10)]);
    assert_eq!(follower.end_offset_for_epoch(1), Some((1, 10)));
    // Replaying the same data does not start at the log end.
    assert!(matches!(
        follower.append_as_follower(&data),
        Err(LogError::UnexpectedAppendOffset { .. })
    ));
    // A corrupted batch is refused.
    let mut bad = leader
        .read(10, 1 << 20, i64::MAX, false)
        .unwrap()
        .bytes
        .to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    follower.truncate_to(10).unwrap();
    assert!(matches!(
        follower.append_as_follower(&bad),
        Err(LogError::InvalidBatch(_))
    ));
}

#[test]
fn oversized_batch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    let mut big = batch(1, 5000, 0);
    assert!(matches!(
        log.append(&mut big, 0, 0),
        Err(LogError::BatchTooLarge { .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
}
