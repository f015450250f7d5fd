//! Producer state through the log: checks on append, snapshots at roll and close,
//! rebuilding at open and after truncation.

use std::collections::VecDeque;
use std::path::Path;

use moldau_protocol::batch;

use crate::producer_state::{BatchMetadata, ProducerStateEntry, ProducerStateError};
use crate::producer_state_file;
use crate::test_util::{batch as plain_batch, small_config};
use crate::{LogError, PartitionLog, TopicPartition};

/// A batch of `n` records from producer `pid` at `epoch`, first sequence `seq`.
fn producer_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    let mut b = plain_batch(n, 40, 1_000);
    batch::set_producer(&mut b, pid, epoch, seq);
    batch::refresh_crc(&mut b);
    b
}

fn open(dir: &Path) -> PartitionLog {
    PartitionLog::open(dir, TopicPartition::new("t", 0), small_config(), 0, None).unwrap()
}

fn append(log: &mut PartitionLog, pid: i64, seq: i32, n: usize) -> Result<(i64, i64), LogError> {
    let mut b = producer_batch(pid, 0, seq, n);
    log.append(&mut b, 0, 5_000)
        .map(|i| (i.first_offset, i.last_offset))
}

#[test]
fn a_retried_batch_is_answered_with_its_offsets_and_not_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    assert_eq!(append(&mut log, 1, 0, 3).unwrap(), (0, 2));
    assert_eq!(append(&mut log, 2, 0, 2).unwrap(), (3, 4));
    assert_eq!(append(&mut log, 1, 3, 1).unwrap(), (5, 5));
    assert_eq!(append(&mut log, 1, 0, 3).unwrap(), (0, 2));
    assert_eq!(log.log_end_offset(), 6);
    assert!(matches!(
        append(&mut log, 1, 9, 1),
        Err(LogError::Producer(
            ProducerStateError::OutOfOrderSequence { .. }
        ))
    ));
    let mut old = producer_batch(1, 0, 4, 1);
    let mut newer = producer_batch(1, 1, 0, 1);
    log.append(&mut newer, 0, 5_000).unwrap();
    assert!(matches!(
        log.append(&mut old, 0, 5_000),
        Err(LogError::Producer(
            ProducerStateError::InvalidProducerEpoch { .. }
        ))
    ));
    assert_eq!(log.log_end_offset(), 7);
}

#[test]
fn batches_without_a_producer_id_are_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for _ in 0..2 {
        let mut b = plain_batch(2, 10, 1_000);
        log.append(&mut b, 0, 5_000).unwrap();
    }
    assert_eq!(log.log_end_offset(), 4);
    assert!(log.producer_state().is_empty());
}

#[test]
fn state_is_rebuilt_from_the_log_after_a_crash_and_from_a_snapshot_after_a_close() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path());
        append(&mut log, 1, 0, 2).unwrap();
        append(&mut log, 1, 2, 2).unwrap();
        log.flush().unwrap();
        // Dropped without a clean close: no snapshot, the log is replayed.
    }
    assert!(producer_state_file::list(dir.path()).unwrap().is_empty());
    {
        let mut log = open(dir.path());
        assert_eq!(append(&mut log, 1, 2, 2).unwrap(), (2, 3));
        assert_eq!(append(&mut log, 1, 4, 1).unwrap(), (4, 4));
        log.close_for_shutdown().unwrap();
    }
    let snapshots = producer_state_file::list(dir.path()).unwrap();
    assert_eq!(
        snapshots.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        vec![5]
    );
    let mut log = open(dir.path());
    // The snapshot keeps the last batch of each producer.
    assert_eq!(append(&mut log, 1, 4, 1).unwrap(), (4, 4));
    assert!(matches!(
        append(&mut log, 1, 7, 1),
        Err(LogError::Producer(
            ProducerStateError::OutOfOrderSequence { .. }
        ))
    ));
}

#[test]
fn open_loads_the_newest_snapshot_and_replays_only_the_log_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path());
        append(&mut log, 1, 0, 2).unwrap();
        log.flush().unwrap();
    }
    // A snapshot at offset 2 naming a producer the log does not hold: seeing it after
    // opening shows the snapshot was used rather than the log before it.
    let entry = ProducerStateEntry {
        producer_id: 99,
        epoch: 3,
        batches: VecDeque::from([BatchMetadata {
            first_seq: 10,
            last_seq: 11,
            first_offset: 0,
            last_offset: 1,
            timestamp: 1_000,
        }]),
        last_timestamp: 1_000,
        coordinator_epoch: -1,
        current_txn_first_offset: None,
    };
    let state = crate::producer_state::ProducerStateManager::from_entries(vec![entry], 2);
    producer_state_file::write(dir.path(), &state, true).unwrap();
    {
        let mut log = open(dir.path());
        append(&mut log, 2, 0, 1).unwrap();
        log.flush().unwrap();
    }
    let log = open(dir.path());
    let state = log.producer_state();
    assert_eq!(state.entry(99).map(|e| e.last_seq()), Some(11));
    assert_eq!(state.entry(2).map(|e| e.last_seq()), Some(0));
    assert!(
        state.entry(1).is_none(),
        "the log before the snapshot was replayed"
    );
}

#[test]
fn a_damaged_snapshot_is_discarded_and_the_log_replayed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path());
        append(&mut log, 1, 0, 2).unwrap();
        log.close_for_shutdown().unwrap();
    }
    let (_, path) = producer_state_file::list(dir.path()).unwrap().remove(0);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let log = open(dir.path());
    assert_eq!(log.producer_state().entry(1).map(|e| e.last_seq()), Some(1));
    assert!(producer_state_file::list(dir.path()).unwrap().is_empty());
}

#[test]
fn segments_roll_with_a_snapshot_and_retention_deletes_it_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut seq = 0;
    while log.segment_count() < 4 {
        append(&mut log, 1, seq, 5).unwrap();
        seq += 5;
    }
    let bases = log.segment_base_offsets();
    let snapshots: Vec<i64> = producer_state_file::list(dir.path())
        .unwrap()
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(snapshots, bases[1..].to_vec());
    log.delete_records_before(bases[2]).unwrap();
    let left: Vec<i64> = producer_state_file::list(dir.path())
        .unwrap()
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(left, bases[2..].to_vec());
}

#[test]
fn truncation_forgets_the_removed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut seq = 0;
    while log.segment_count() < 3 {
        append(&mut log, 1, seq, 5).unwrap();
        seq += 5;
    }
    let end = log.log_end_offset();
    let (first, _) = append(&mut log, 1, seq, 5).unwrap();
    assert_eq!(first, end);
    let cut = log.segment_base_offsets()[1] + 2;
    log.truncate_to(cut).unwrap();
    let kept_end = log.log_end_offset();
    // The producer's last stored batch is now the one ending just before the cut.
    let last_seq = log.producer_state().entry(1).map(|e| e.last_seq()).unwrap();
    assert_eq!(last_seq as i64 + 1, kept_end);
    // The batch that was cut away is appended again, not answered as a duplicate.
    assert_eq!(append(&mut log, 1, last_seq + 1, 5).unwrap().0, kept_end);
}
