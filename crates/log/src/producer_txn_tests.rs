//! Transactions through the log: open transactions and the LSO, markers, the
//! `.txnindex`, and both rebuilt on recovery.

use std::path::Path;

use moldau_protocol::batch::{self, TRANSACTIONAL_BIT};
use moldau_protocol::control_record::{build_marker_batch, EndTxnMarker};

use crate::producer_state::ProducerStateError;
use crate::test_util::{batch as plain_batch, small_config};
use crate::txn_index::{self, AbortedTxn};
use crate::{LogError, PartitionLog, TopicPartition};

const ATTRIBUTES_LOW_BYTE_AT: usize = 22;

/// A transactional batch of `n` records from producer `pid` at `epoch`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let mut b = plain_batch(n, 40, 1_000);
    b[ATTRIBUTES_LOW_BYTE_AT] |= TRANSACTIONAL_BIT as u8;
    batch::set_producer(&mut b, pid, epoch, seq);
    batch::refresh_crc(&mut b);
    b
}

fn open(dir: &Path) -> PartitionLog {
    PartitionLog::open(dir, TopicPartition::new("t", 0), small_config(), 0, None).unwrap()
}

/// Appends a batch and moves the high watermark to the log end (as a flush would).
fn put(log: &mut PartitionLog, mut b: Vec<u8>) -> Result<(i64, i64), LogError> {
    let info = log.append(&mut b, 0, 5_000)?;
    let end = log.log_end_offset();
    log.set_high_watermark(end);
    Ok((info.first_offset, info.last_offset))
}

fn marker(
    log: &mut PartitionLog,
    pid: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Result<i64, LogError> {
    let m = EndTxnMarker {
        commit,
        coordinator_epoch,
    };
    let b = build_marker_batch(pid, epoch, m, 2_000).unwrap().to_vec();
    put(log, b).map(|(first, _)| first)
}

fn aborted(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: lso,
    }
}

fn txn_index_file(dir: &Path, base: i64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.txnindex"))
}

#[test]
fn the_lso_stops_at_the_oldest_open_transaction_and_moves_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    put(&mut log, plain_batch(2, 10, 1_000)).unwrap(); // 0..=1
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(put(&mut log, txn_batch(7, 0, 0, 3)).unwrap(), (2, 4));
    assert_eq!(put(&mut log, txn_batch(8, 0, 0, 2)).unwrap(), (5, 6));
    assert_eq!(put(&mut log, txn_batch(7, 0, 3, 1)).unwrap(), (7, 7));
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(marker(&mut log, 7, 0, true, 0).unwrap(), 8);
    assert_eq!(
        log.last_stable_offset(),
        5,
        "producer 8's transaction is open"
    );
    assert_eq!(marker(&mut log, 8, 0, false, 0).unwrap(), 9);
    assert_eq!(log.last_stable_offset(), 10);
    assert_eq!(log.first_unstable_offset(), None);
    // The LSO never passes the high watermark.
    put(&mut log, plain_batch(1, 10, 1_000)).unwrap();
    log.set_high_watermark(10);
    assert_eq!(log.last_stable_offset(), 10);
    // Only the abort is indexed, with the LSO after it.
    assert_eq!(log.aborted_transactions(0, 11), vec![aborted(8, 5, 9, 10)]);
    assert_eq!(log.aborted_transactions(10, 11), vec![]);
    assert_eq!(log.aborted_transactions(0, 5), vec![]);
    assert_eq!(
        txn_index::read(&txn_index_file(dir.path(), 0)).unwrap(),
        vec![aborted(8, 5, 9, 10)]
    );
}

#[test]
fn an_aborted_transactions_lso_is_the_next_open_transactions_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    put(&mut log, txn_batch(1, 0, 0, 2)).unwrap(); // 0..=1
    put(&mut log, txn_batch(2, 0, 0, 2)).unwrap(); // 2..=3
    assert_eq!(marker(&mut log, 1, 0, false, 0).unwrap(), 4);
    assert_eq!(log.aborted_transactions(0, 5), vec![aborted(1, 0, 4, 2)]);
    assert_eq!(log.last_stable_offset(), 2);
}

#[test]
fn a_marker_without_an_open_transaction_is_written_and_closes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    assert_eq!(marker(&mut log, 5, 0, false, 3).unwrap(), 0);
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.last_stable_offset(), 1);
    assert!(log.aborted_transactions(0, 1).is_empty());
    assert!(!txn_index_file(dir.path(), 0).exists());
    let entry = log.producer_state().entry(5).unwrap();
    assert_eq!((entry.epoch, entry.coordinator_epoch), (0, 3));
}

#[test]
fn markers_from_an_older_producer_or_coordinator_epoch_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    put(&mut log, txn_batch(1, 2, 0, 1)).unwrap();
    marker(&mut log, 1, 2, true, 4).unwrap();
    assert!(matches!(
        marker(&mut log, 1, 1, false, 4),
        Err(LogError::Producer(
            ProducerStateError::InvalidProducerEpoch { .. }
        ))
    ));
    assert!(matches!(
        marker(&mut log, 1, 2, false, 3),
        Err(LogError::Producer(
            ProducerStateError::CoordinatorFenced { .. }
        ))
    ));
    // A marker at a newer epoch fences the producer's older batches.
    marker(&mut log, 1, 3, false, 4).unwrap();
    assert!(matches!(
        put(&mut log, txn_batch(1, 2, 1, 1)),
        Err(LogError::Producer(
            ProducerStateError::InvalidProducerEpoch { .. }
        ))
    ));
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn a_plain_batch_during_an_open_transaction_is_invalid_txn_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    put(&mut log, txn_batch(1, 0, 0, 1)).unwrap();
    let mut plain = plain_batch(1, 10, 1_000);
    batch::set_producer(&mut plain, 1, 0, 1);
    batch::refresh_crc(&mut plain);
    assert!(matches!(
        put(&mut log, plain),
        Err(LogError::Producer(
            ProducerStateError::InvalidTxnState { .. }
        ))
    ));
    // A stale epoch is reported as such first, as Kafka orders its checks.
    put(&mut log, txn_batch(2, 3, 0, 1)).unwrap();
    let mut stale = plain_batch(1, 10, 1_000);
    batch::set_producer(&mut stale, 2, 2, 1);
    batch::refresh_crc(&mut stale);
    assert!(matches!(
        put(&mut log, stale),
        Err(LogError::Producer(
            ProducerStateError::InvalidProducerEpoch { .. }
        ))
    ));
    // The sequence continues across transactions at the same epoch.
    assert_eq!(marker(&mut log, 1, 0, true, 0).unwrap(), 2);
    assert_eq!(put(&mut log, txn_batch(1, 0, 1, 1)).unwrap(), (3, 3));
}

#[test]
fn recovery_rebuilds_open_transactions_and_the_txn_index() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path());
        put(&mut log, txn_batch(1, 0, 0, 2)).unwrap(); // 0..=1
        put(&mut log, txn_batch(2, 0, 0, 2)).unwrap(); // 2..=3
        marker(&mut log, 1, 0, false, 0).unwrap(); // 4
                                                   // Rolls (and snapshots producer state with producer 2's open transaction).
        for i in 0..40 {
            put(&mut log, txn_batch(3, 0, i * 2, 2)).unwrap();
        }
        assert!(log.segment_count() > 1);
        marker(&mut log, 3, 0, false, 0).unwrap();
        assert_eq!(log.first_unstable_offset(), Some(2));
        // No clean shutdown: the log is dropped as in a crash.
    }
    let expected_first = aborted(1, 0, 4, 2);
    let before = txn_index::read(&txn_index_file(dir.path(), 0)).unwrap();
    assert_eq!(before, vec![expected_first]);
    // Remove every index file and snapshot: all is rebuilt from the log.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().to_string();
        if name.ends_with(".txnindex") || name.ends_with(".snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut log = open(dir.path());
    let end = log.log_end_offset();
    log.set_high_watermark(end);
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(log.last_stable_offset(), 2);
    let all = log.aborted_transactions(0, end);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], expected_first);
    assert_eq!((all[1].producer_id, all[1].first_offset), (3, 5));
    assert_eq!(all[1].last_offset, end - 1);
    assert_eq!(all[1].last_stable_offset, 2, "producer 2 is still open");
    // The second abort's marker lies in the last segment: its index holds it.
    let last_base = *log.segment_base_offsets().last().unwrap();
    assert_eq!(
        txn_index::read(&txn_index_file(dir.path(), last_base)).unwrap(),
        vec![all[1]]
    );
    drop(log);
    // Reopened from the snapshot of a clean shutdown, the same.
    let log = open(dir.path());
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(log.aborted_transactions(0, end), all);
}

#[test]
fn truncation_drops_the_txn_index_entries_of_removed_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    put(&mut log, txn_batch(1, 0, 0, 2)).unwrap(); // 0..=1
    marker(&mut log, 1, 0, false, 0).unwrap(); // 2
    put(&mut log, txn_batch(1, 0, 2, 2)).unwrap(); // 3..=4
    marker(&mut log, 1, 0, false, 0).unwrap(); // 5
    assert_eq!(log.aborted_transactions(0, 6).len(), 2);
    log.truncate_to(5).unwrap();
    assert_eq!(log.aborted_transactions(0, 6), vec![aborted(1, 0, 2, 3)]);
    assert_eq!(
        log.first_unstable_offset(),
        Some(3),
        "reopened by the truncation"
    );
    assert_eq!(
        txn_index::read(&txn_index_file(dir.path(), 0)).unwrap(),
        vec![aborted(1, 0, 2, 3)]
    );
}

#[test]
fn a_follower_applies_markers_and_indexes_aborts() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path());
    put(&mut leader, txn_batch(1, 0, 0, 2)).unwrap();
    marker(&mut leader, 1, 0, false, 0).unwrap();
    put(&mut leader, txn_batch(2, 0, 0, 1)).unwrap();
    let data = leader.read(0, 1 << 20, i64::MAX, true).unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower = open(follower_dir.path());
    follower.append_as_follower(&data.bytes).unwrap();
    assert_eq!(follower.first_unstable_offset(), Some(3));
    assert_eq!(
        follower.aborted_transactions(0, 4),
        vec![aborted(1, 0, 2, 3)]
    );
}

/// A keyed batch; transactional for producer `pid` when given.
fn keyed(key: &str, value: &str, txn_of: Option<(i64, i32)>) -> Vec<u8> {
    let kv = [(key.to_string(), Some(value.as_bytes().to_vec()))];
    let mut b = crate::test_util::keyed_batch(&kv, 1_000, moldau_protocol::batch::Codec::None);
    if let Some((pid, seq)) = txn_of {
        b[ATTRIBUTES_LOW_BYTE_AT] |= TRANSACTIONAL_BIT as u8;
        batch::set_producer(&mut b, pid, 0, seq);
        batch::refresh_crc(&mut b);
    }
    b
}

/// The (offset, value) of every data record of `key`.
fn values_of(log: &PartitionLog, key: &str) -> Vec<(i64, String)> {
    use moldau_protocol::batch::BatchIter;
    use moldau_protocol::record::{parse_records, record_data};
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        // A read returns batches of one segment.
        let r = log.read(offset, 1 << 24, i64::MAX, true).unwrap();
        for item in BatchIter::new(&r.bytes) {
            let (_, v) = item.unwrap();
            offset = v.last_offset() + 1;
            if v.is_control() {
                continue;
            }
            let data = record_data(&v, 1 << 24).unwrap();
            for rec in parse_records(&data, v.records_count()).unwrap() {
                if rec.key == Some(key.as_bytes()) {
                    let value = String::from_utf8(rec.value.unwrap().to_vec()).unwrap();
                    out.push((v.base_offset() + rec.offset_delta as i64, value));
                }
            }
        }
    }
    out
}

#[test]
fn compaction_keeps_committed_values_over_aborted_ones_and_stops_at_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::LogConfig {
        cleanup_policy: crate::CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        ..small_config()
    };
    let mut log =
        PartitionLog::open(dir.path(), TopicPartition::new("c", 0), config, 0, None).unwrap();
    put(&mut log, keyed("a", "committed", None)).unwrap(); // 0
    put(&mut log, keyed("a", "aborted", Some((1, 0)))).unwrap(); // 1
    marker(&mut log, 1, 0, false, 0).unwrap(); // 2
    put(&mut log, keyed("p1", "later", Some((1, 1)))).unwrap(); // 3
    marker(&mut log, 1, 0, true, 0).unwrap(); // 4
                                              // An idempotent producer's only batch, superseded by a plain write of its key.
    let mut idempotent = keyed("dup", "old", None);
    batch::set_producer(&mut idempotent, 5, 0, 0);
    batch::refresh_crc(&mut idempotent);
    put(&mut log, idempotent).unwrap(); // 5
    put(&mut log, keyed("dup", "new", None)).unwrap(); // 6
    put(&mut log, keyed("gone", "old", None)).unwrap(); // 7
    put(&mut log, keyed("gone", "new", None)).unwrap(); // 8
    for i in 0..60 {
        put(
            &mut log,
            keyed(&format!("pad{}", i % 3), &"x".repeat(100), None),
        )
        .unwrap();
    }
    // An open transaction writing "b" in a closed segment, then more segments.
    let open_at = put(&mut log, keyed("b", "open", Some((2, 0)))).unwrap().0;
    for i in 0..60 {
        put(
            &mut log,
            keyed(&format!("pad{}", i % 3), &"y".repeat(100), None),
        )
        .unwrap();
    }
    assert!(log.segment_count() > 3);
    assert!(log.compact(0).unwrap());
    assert_eq!(
        values_of(&log, "a"),
        vec![(0, "committed".to_string())],
        "the aborted value neither hides the committed one nor stays"
    );
    assert_eq!(values_of(&log, "gone"), vec![(8, "new".to_string())]);
    assert_eq!(
        values_of(&log, "dup"),
        vec![(5, "old".to_string()), (6, "new".to_string())],
        "a producer's last batch stays"
    );
    assert_eq!(log.aborted_transactions(0, 3), vec![aborted(1, 1, 2, 3)]);
    // Nothing from the open transaction's segment on was cleaned.
    assert_eq!(values_of(&log, "b"), vec![(open_at, "open".to_string())]);
    let pads_after_open = values_of(&log, "pad0")
        .into_iter()
        .filter(|(o, _)| *o > open_at)
        .count();
    assert_eq!(pads_after_open, 20);
    // Both markers stay for now: the abort's records just went (its marker is now
    // stamped with a delete horizon), the commit's record is its producer's last.
    assert_eq!(&control_offsets(&log)[..2], &[2, 4]);
    // After delete.retention.ms the abort marker goes, with its index entry.
    assert!(log.compact(5_000).unwrap());
    assert_eq!(&control_offsets(&log)[..1], &[4]);
    assert!(log.aborted_transactions(0, 3).is_empty());
    assert_eq!(values_of(&log, "p1"), vec![(3, "later".to_string())]);
}

/// Base offsets of the control batches in the log.
fn control_offsets(log: &PartitionLog) -> Vec<i64> {
    use moldau_protocol::batch::BatchIter;
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 24, i64::MAX, true).unwrap();
        for item in BatchIter::new(&r.bytes) {
            let (_, v) = item.unwrap();
            offset = v.last_offset() + 1;
            if v.is_control() {
                out.push(v.base_offset());
            }
        }
    }
    out
}

#[test]
fn a_coordinators_transactional_batches_skip_the_sequence_checks_but_not_the_epoch() {
    use crate::AppendOrigin;
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    // The group coordinator writes two TxnOffsetCommits of one transaction, both
    // without a sequence: from a client the second would be taken for a retry.
    let mut first = txn_batch(9, 2, -1, 1);
    let mut second = txn_batch(9, 2, -1, 1);
    let a = log
        .append_from(&mut first, 0, 5_000, AppendOrigin::Coordinator)
        .unwrap();
    let b = log
        .append_from(&mut second, 0, 5_000, AppendOrigin::Coordinator)
        .unwrap();
    assert_eq!((a.first_offset, b.first_offset), (0, 1));
    assert_eq!(b.record_count, 1, "stored, not answered as a duplicate");
    let end = log.log_end_offset();
    log.set_high_watermark(end);
    assert_eq!(log.last_stable_offset(), 0, "the transaction is open");
    // An older epoch is still refused.
    let mut stale = txn_batch(9, 1, -1, 1);
    assert!(matches!(
        log.append_from(&mut stale, 0, 5_000, AppendOrigin::Coordinator),
        Err(LogError::Producer(
            ProducerStateError::InvalidProducerEpoch { .. }
        ))
    ));
    // The marker closes it as it closes a client's transaction.
    let at = marker(&mut log, 9, 2, true, 0).unwrap();
    assert_eq!(log.last_stable_offset(), at + 1);
}
