use crate::producer_state::{
    BatchCheck, ProducerBatch, ProducerStateError, ProducerStateManager, RETAINED_BATCHES_MAX,
};

fn batch(epoch: i16, first_seq: i32, count: i32, first_offset: i64) -> ProducerBatch {
    let last_seq = ((first_seq as i64 + count as i64 - 1) % (i32::MAX as i64 + 1)) as i32;
    ProducerBatch {
        producer_id: 7,
        epoch,
        first_seq,
        last_seq,
        first_offset,
        last_offset: first_offset + count as i64 - 1,
        max_timestamp: 1_000,
        is_transactional: false,
        is_control: false,
    }
}

/// Checks `b` and commits it when it is new; returns the decision.
fn append(
    state: &mut ProducerStateManager,
    b: &ProducerBatch,
) -> Result<BatchCheck, ProducerStateError> {
    let mut append = state.begin_append();
    let decision = append.check(b)?;
    let staged = append.finish();
    state.commit(staged, b.last_offset + 1);
    Ok(decision)
}

#[test]
fn in_sequence_batches_append_and_a_retry_gets_the_original_offsets() {
    let mut state = ProducerStateManager::new(0);
    assert_eq!(
        append(&mut state, &batch(0, 0, 3, 0)),
        Ok(BatchCheck::Append)
    );
    assert_eq!(
        append(&mut state, &batch(0, 3, 2, 3)),
        Ok(BatchCheck::Append)
    );
    // The retry of the first batch would land at offset 5; it is answered with 0..=2.
    match append(&mut state, &batch(0, 0, 3, 5)) {
        Ok(BatchCheck::Duplicate(d)) => assert_eq!((d.first_offset, d.last_offset), (0, 2)),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(state.entry(7).map(|e| e.last_seq()), Some(4));
}

#[test]
fn a_gap_is_out_of_order() {
    let mut state = ProducerStateManager::new(0);
    append(&mut state, &batch(0, 0, 1, 0)).unwrap();
    assert!(matches!(
        append(&mut state, &batch(0, 2, 1, 1)),
        Err(ProducerStateError::OutOfOrderSequence {
            found: 2,
            last_stored: 0,
            ..
        })
    ));
}

#[test]
fn an_older_epoch_is_refused_and_a_new_epoch_must_start_at_zero() {
    let mut state = ProducerStateManager::new(0);
    append(&mut state, &batch(3, 0, 1, 0)).unwrap();
    assert!(matches!(
        append(&mut state, &batch(2, 1, 1, 1)),
        Err(ProducerStateError::InvalidProducerEpoch {
            found: 2,
            current: 3,
            ..
        })
    ));
    assert!(matches!(
        append(&mut state, &batch(4, 5, 1, 1)),
        Err(ProducerStateError::OutOfOrderSequence { .. })
    ));
    assert_eq!(
        append(&mut state, &batch(4, 0, 1, 1)),
        Ok(BatchCheck::Append)
    );
    // The new epoch forgot the old epoch's batches.
    assert_eq!(state.entry(7).map(|e| e.batches.len()), Some(1));
}

#[test]
fn an_unknown_producer_is_accepted_at_any_sequence() {
    let mut state = ProducerStateManager::new(0);
    assert_eq!(
        append(&mut state, &batch(0, 42, 1, 0)),
        Ok(BatchCheck::Append)
    );
    assert_eq!(
        append(&mut state, &batch(0, 43, 1, 1)),
        Ok(BatchCheck::Append)
    );
}

#[test]
fn only_the_last_five_batches_are_remembered() {
    let mut state = ProducerStateManager::new(0);
    for i in 0..7 {
        append(&mut state, &batch(0, i, 1, i as i64)).unwrap();
    }
    assert_eq!(
        state.entry(7).map(|e| e.batches.len()),
        Some(RETAINED_BATCHES_MAX)
    );
    // Seq 1 fell out of the window: its retry is out of order, not a duplicate.
    assert!(matches!(
        append(&mut state, &batch(0, 1, 1, 7)),
        Err(ProducerStateError::OutOfOrderSequence { .. })
    ));
    assert!(matches!(
        append(&mut state, &batch(0, 2, 1, 7)),
        Ok(BatchCheck::Duplicate(_))
    ));
}

#[test]
fn sequences_wrap_at_i32_max() {
    let mut state = ProducerStateManager::new(0);
    append(&mut state, &batch(0, i32::MAX - 1, 2, 0)).unwrap();
    assert_eq!(state.entry(7).map(|e| e.last_seq()), Some(i32::MAX));
    assert_eq!(
        append(&mut state, &batch(0, 0, 1, 2)),
        Ok(BatchCheck::Append)
    );
    // A batch spanning the wrap ends at a small sequence.
    let mut state = ProducerStateManager::new(0);
    append(&mut state, &batch(0, i32::MAX, 3, 0)).unwrap();
    assert_eq!(state.entry(7).map(|e| e.last_seq()), Some(1));
    assert_eq!(
        append(&mut state, &batch(0, 2, 1, 3)),
        Ok(BatchCheck::Append)
    );
}

#[test]
fn batches_of_one_append_are_checked_against_each_other() {
    let state = ProducerStateManager::new(0);
    let mut append = state.begin_append();
    assert_eq!(append.check(&batch(0, 0, 2, 0)), Ok(BatchCheck::Append));
    assert_eq!(append.check(&batch(0, 2, 2, 2)), Ok(BatchCheck::Append));
    assert!(append.check(&batch(0, 5, 1, 4)).is_err());
    // Nothing reaches the state before the append is committed.
    assert!(state.entry(7).is_none());
}

#[test]
fn idle_producers_expire() {
    let mut state = ProducerStateManager::new(0);
    append(&mut state, &batch(0, 0, 1, 0)).unwrap();
    assert_eq!(state.remove_expired(1_000 + 99, 100), 0);
    assert_eq!(state.remove_expired(1_000 + 100, 100), 1);
    assert!(state.is_empty());
}
