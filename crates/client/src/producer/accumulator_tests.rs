//! Unit tests of the accumulator (kept beside it, in their own file for size).

use super::*;
use crate::error::Result;
use crate::record::RecordMetadata;
use tokio::sync::{oneshot, Semaphore};

fn acc(batch: usize, linger_ms: u64) -> Accumulator {
    Accumulator::new(AccumulatorConfig {
        batch_size_bytes: batch,
        linger: Duration::from_millis(linger_ms),
        compression: Compression::None,
        delivery_timeout: Duration::from_secs(60),
        max_in_flight_per_partition: 1,
        pool_bytes_max: 1 << 20,
        idempotent: false,
        transactional: false,
    })
}

fn add(
    a: &mut Accumulator,
    target: Target,
    value: &[u8],
) -> (i32, bool, oneshot::Receiver<Result<RecordMetadata>>) {
    // One semaphore for all, as in the producer: permits of a batch merge.
    static MEMORY: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    let sem = MEMORY.get_or_init(|| Arc::new(Semaphore::new(1 << 30)));
    let permit = sem.clone().try_acquire_many_owned(1).unwrap();
    let (tx, rx) = oneshot::channel();
    let rec = Append {
        timestamp: 1,
        key: None,
        value: Some(value),
        headers: &[],
    };
    let (p, new) = a.append("t", target, &rec, permit, tx, || vec![0, 1, 2]);
    (p, new, rx)
}

#[test]
fn batches_fill_to_batch_size_then_roll() {
    let mut a = acc(200, 1000);
    let mut news = 0;
    for _ in 0..10 {
        let (_, new, _rx) = add(&mut a, Target::Partition(0), &[7u8; 50]);
        news += new as usize;
    }
    // ~61 header + ~58 per record: 2 records per 200-byte batch.
    assert_eq!(news, 5);
    let now = Instant::now();
    // Full batches are ready without lingering, but only one per partition.
    let d = a.drain(now, false, 1 << 20, |_, _| Some(1));
    assert_eq!(d.by_node[&1].len(), 1);
    assert_eq!(d.by_node[&1][0].record_count(), 2);
    let again = a.drain(now, false, 1 << 20, |_, _| Some(1));
    assert!(again.by_node.is_empty(), "partition already in flight");
}

#[test]
fn lone_batch_waits_for_linger_unless_forced() {
    let mut a = acc(16384, 50);
    let (_p, _, _rx) = add(&mut a, Target::Partition(2), b"x");
    let now = Instant::now();
    let d = a.drain(now, false, 1 << 20, |_, _| Some(1));
    assert!(d.by_node.is_empty());
    assert!(d.next_wake.is_some());
    let d = a.drain(now + Duration::from_millis(60), false, 1 << 20, |_, _| {
        Some(1)
    });
    assert_eq!(d.by_node[&1].len(), 1);
    let (_p, _, _rx2) = add(&mut a, Target::Partition(3), b"y");
    let d = a.drain(now, true, 1 << 20, |_, _| Some(1));
    assert_eq!(d.by_node[&1].len(), 1);
}

#[test]
fn retried_batch_goes_first_and_keeps_order() {
    let mut a = acc(100, 0);
    let (_, _, _r1) = add(&mut a, Target::Partition(0), &[1u8; 40]);
    let (_, _, _r2) = add(&mut a, Target::Partition(0), &[2u8; 40]);
    let now = Instant::now();
    let mut d = a.drain(now, false, 1 << 20, |_, _| Some(1));
    let first = d.by_node.get_mut(&1).unwrap().pop().unwrap();
    let first_id = first.id;
    a.reenqueue(first, Duration::from_millis(0));
    let mut d = a.drain(Instant::now(), false, 1 << 20, |_, _| Some(1));
    let again = d.by_node.get_mut(&1).unwrap().pop().unwrap();
    assert_eq!(again.id, first_id);
    assert_eq!(again.attempts, 1);
    assert_eq!(a.lowest_incomplete(), first_id);
    a.complete(&again, false);
    again.succeed(10, None);
    assert!(a.lowest_incomplete() > first_id);
}

#[tokio::test]
async fn success_reports_consecutive_offsets() {
    let mut a = acc(16384, 0);
    let (_, _, r1) = add(&mut a, Target::Partition(0), b"a");
    let (_, _, r2) = add(&mut a, Target::Partition(0), b"b");
    let mut d = a.drain(Instant::now(), false, 1 << 20, |_, _| Some(1));
    let mut b = d.by_node.get_mut(&1).unwrap().pop().unwrap();
    assert!(b.bytes().unwrap().len() > 61);
    b.succeed(41, None);
    assert_eq!(r1.await.unwrap().unwrap().offset, 41);
    assert_eq!(r2.await.unwrap().unwrap().offset, 42);
}

fn idempotent_acc(batch: usize) -> Accumulator {
    Accumulator::new(AccumulatorConfig {
        batch_size_bytes: batch,
        linger: Duration::from_millis(0),
        compression: Compression::None,
        delivery_timeout: Duration::from_secs(60),
        max_in_flight_per_partition: 5,
        pool_bytes_max: 1 << 20,
        idempotent: true,
        transactional: false,
    })
}

fn drain_one_node(a: &mut Accumulator) -> Vec<ProducerBatch> {
    a.drain(Instant::now(), true, 1 << 20, |_, _| Some(1))
        .by_node
        .remove(&1)
        .unwrap_or_default()
}

#[test]
fn idempotent_batches_get_consecutive_sequences_and_pipeline() {
    let mut a = idempotent_acc(120);
    let mut rxs = Vec::new();
    for _ in 0..6 {
        let (_, _, rx) = add(&mut a, Target::Partition(0), &[0u8; 50]);
        rxs.push(rx);
    }
    // No producer id yet: nothing leaves.
    assert!(a.wants_producer_id());
    assert!(drain_one_node(&mut a).is_empty());
    a.set_producer(ProducerIdentity { id: 42, epoch: 0 });
    assert_eq!(a.producer(), Some(ProducerIdentity { id: 42, epoch: 0 }));
    assert!(!a.wants_producer_id());
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.extend(drain_one_node(&mut a));
    }
    // One record per 120-byte batch: 6 batches, at most 5 in flight.
    assert_eq!(sent.len(), 5);
    let seqs: Vec<i32> = sent
        .iter()
        .map(|b| b.stamp.unwrap().base_sequence)
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    assert!(sent.iter().all(|b| b.stamp.unwrap().producer_id == 42));
    // Batch 1 fails retriably, batch 3 comes back out of order: both requeued
    // in sequence order ahead of the unsent sixth batch.
    let b3 = sent.remove(3);
    let b1 = sent.remove(1);
    assert!(a.has_earlier_unacked(&b3));
    assert!(a.has_earlier_unacked(&b1));
    a.reenqueue(b3, Duration::ZERO);
    a.reenqueue(b1, Duration::ZERO);
    let again: Vec<i32> = (0..3)
        .flat_map(|_| drain_one_node(&mut a))
        .map(|b| b.stamp.unwrap().base_sequence)
        .collect();
    assert_eq!(again, vec![1, 3]);
}

#[test]
fn producer_reset_renumbers_queued_batches_from_zero() {
    let mut a = idempotent_acc(120);
    let mut rxs = Vec::new();
    for _ in 0..3 {
        rxs.push(add(&mut a, Target::Partition(0), &[0u8; 50]).2);
    }
    a.set_producer(ProducerIdentity { id: 1, epoch: 0 });
    let mut sent = drain_one_node(&mut a);
    sent.extend(drain_one_node(&mut a));
    sent.extend(drain_one_node(&mut a));
    assert_eq!(sent.len(), 3);
    let _ = sent[0].bytes().unwrap();
    // The first batch fails for good: a gap, so the producer must reset.
    let first = sent.remove(0);
    a.complete(&first, true);
    for b in sent.drain(..) {
        a.reenqueue(b, Duration::ZERO);
    }
    assert!(a.wants_producer_id());
    a.set_producer(ProducerIdentity { id: 2, epoch: 0 });
    let mut resent = drain_one_node(&mut a);
    resent.extend(drain_one_node(&mut a));
    let stamps: Vec<(i64, i32)> = resent
        .iter()
        .map(|b| (b.stamp.unwrap().producer_id, b.stamp.unwrap().base_sequence))
        .collect();
    assert_eq!(stamps, vec![(2, 0), (2, 1)]);
    for mut b in resent {
        let view_bytes = b.bytes().unwrap();
        let view = moldau_protocol::batch::BatchView::parse(&view_bytes).unwrap();
        view.validate().unwrap();
        assert_eq!(view.producer_id(), 2);
    }
}

#[test]
fn sent_batch_buffers_are_reused() {
    let mut a = acc(16384, 0);
    let (_, _, _r) = add(&mut a, Target::Partition(0), b"a");
    let mut d = a.drain(Instant::now(), false, 1 << 20, |_, _| Some(1));
    let mut b = d.by_node.get_mut(&1).unwrap().pop().unwrap();
    let sent = b.bytes().unwrap();
    // Still referenced by the request: not reusable yet.
    assert!(b.take_buffer().is_none());
    b.sealed = Some(sent);
    let buf = b.take_buffer().expect("sole owner");
    let ptr = buf.as_ptr();
    a.complete(&b, false);
    a.recycle(buf);
    let (_, new, _r2) = add(&mut a, Target::Partition(0), b"b");
    assert!(new);
    let mut d = a.drain(Instant::now(), true, 1 << 20, |_, _| Some(1));
    let mut b2 = d.by_node.get_mut(&1).unwrap().pop().unwrap();
    assert_eq!(b2.bytes().unwrap().as_ptr(), ptr, "buffer was not reused");
}

#[test]
fn sticky_moves_when_batch_is_full_and_leaderless_topics_reported() {
    let mut a = acc(200, 1000);
    let (p1, _, _r) = add(&mut a, Target::Sticky { partition_count: 3 }, &[0u8; 60]);
    let (p2, _, _r) = add(&mut a, Target::Sticky { partition_count: 3 }, &[0u8; 60]);
    assert_eq!(p1, p2);
    let (p3, new, _r) = add(&mut a, Target::Sticky { partition_count: 3 }, &[0u8; 60]);
    assert!(new);
    assert_ne!(p3, p1);
    let d = a.drain(Instant::now(), true, 1 << 20, |_, _| None);
    assert_eq!(d.leaderless, vec!["t".to_string()]);
}

#[test]
fn a_record_the_builder_refuses_fails_alone_and_leaves_no_empty_batch() {
    use moldau_protocol::record::RECORD_HEADERS_MAX;
    let mut a = acc(1 << 20, 0);
    let (_, _, _kept) = add(&mut a, Target::Partition(0), b"before");
    let headers = vec![
        Header {
            key: "h".into(),
            value: None,
        };
        RECORD_HEADERS_MAX + 1
    ];
    let sem = Arc::new(Semaphore::new(2));
    for partition in [0, 1] {
        let (tx, mut rx) = oneshot::channel();
        let rec = Append {
            timestamp: 1,
            key: None,
            value: Some(b"too many headers"),
            headers: &headers,
        };
        let permit = sem.clone().try_acquire_owned().unwrap();
        let (p, new) = a.append("t", Target::Partition(partition), &rec, permit, tx, || {
            vec![0, 1]
        });
        assert_eq!((p, new), (partition, false));
        assert!(matches!(rx.try_recv(), Ok(Err(Error::Encode(_)))));
    }
    assert_eq!(
        sem.available_permits(),
        2,
        "the refused records hold no memory"
    );
    let d = a.drain(Instant::now(), true, 1 << 20, |_, _| Some(1));
    let batches = &d.by_node[&1];
    assert_eq!(batches.len(), 1, "no empty batch for partition 1");
    assert_eq!((batches[0].partition, batches[0].record_count()), (0, 1));
}
