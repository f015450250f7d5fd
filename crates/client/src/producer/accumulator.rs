//! The record accumulator: one queue of batches per partition. `send` appends to the
//! newest batch of a partition; the sender drains the oldest batch of each partition
//! once it is full, has lingered long enough, or a flush asks for it. At most one
//! batch per partition is in flight, and a failed batch goes back to the front of its
//! queue, so retries never reorder a partition's records.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::sequence::{advance, ProducerIdentity};
use crate::batch_builder::{BatchBuilder, ProducerStamp};
use crate::codec::Compression;
use crate::error::{Error, Result};
use crate::partitioner::StickyPartitioner;
use crate::record::{Header, RecordMetadata};

/// Largest buffer reserved up front for a new batch, in bytes (bigger batches grow).
const BATCH_CAPACITY_BYTES_MAX: usize = 1 << 20;

/// Where a record should go.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A fixed partition (explicit, or from the key hash).
    Partition(i32),
    /// Keyless: the topic's sticky partition among `partition_count`.
    Sticky {
        /// Partitions of the topic.
        partition_count: usize,
    },
}

/// The fields of one record to append.
pub struct Append<'a> {
    /// Create timestamp (ms).
    pub timestamp: i64,
    /// Key bytes.
    pub key: Option<&'a [u8]>,
    /// Value bytes.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: &'a [Header],
}

/// The producer waiting for one record's outcome.
pub type DeliverySender = oneshot::Sender<Result<RecordMetadata>>;

struct Delivery {
    tx: DeliverySender,
    timestamp: i64,
}

/// A batch of one partition, open (still accepting) or sealed.
pub struct ProducerBatch {
    /// Unique, increasing id (flush waits for ids below a mark).
    pub id: u64,
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    builder: Option<BatchBuilder>,
    sealed: Option<Bytes>,
    deliveries: Vec<Delivery>,
    /// When the batch was created (linger and delivery timeout count from here).
    pub created: Instant,
    /// Sends attempted so far.
    pub attempts: u32,
    /// Buffer memory held until the batch completes.
    permit: Option<OwnedSemaphorePermit>,
    /// Producer id, epoch and base sequence once the batch was given a sequence
    /// (idempotent producers), fixed across its retries.
    pub stamp: Option<ProducerStamp>,
}

impl ProducerBatch {
    fn size_bytes(&self) -> usize {
        match (&self.builder, &self.sealed) {
            (_, Some(s)) => s.len(),
            (Some(b), None) => b.size_bytes(),
            (None, None) => 0,
        }
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.deliveries.len()
    }

    /// The encoded batch, sealing (and compressing) it on first use.
    pub fn bytes(&mut self) -> Result<Bytes> {
        if let Some(b) = &self.sealed {
            return Ok(b.clone());
        }
        let builder = self
            .builder
            .take()
            .ok_or_else(|| Error::Encode("batch has no records".into()))?;
        let bytes = builder.build(self.stamp.unwrap_or_default())?;
        self.sealed = Some(bytes.clone());
        Ok(bytes)
    }

    /// Gives an already sequenced batch a new stamp (after a producer reset),
    /// rewriting its sealed bytes if it was sealed.
    fn restamp(&mut self, stamp: ProducerStamp) {
        self.stamp = Some(stamp);
        if let Some(sealed) = &self.sealed {
            self.sealed = Some(super::sequence::restamp(sealed, stamp));
        }
    }

    /// The sealed batch's buffer, if nothing else refers to it any more (the request
    /// was written), for reuse by a later batch.
    pub fn take_buffer(&mut self) -> Option<BytesMut> {
        self.sealed.take()?.try_into_mut().ok()
    }

    /// Reports success: record `i` got offset `base_offset + i`.
    pub fn succeed(mut self, base_offset: i64, log_append_time: Option<i64>) {
        self.permit.take();
        for (i, d) in self.deliveries.drain(..).enumerate() {
            let offset = if base_offset < 0 {
                -1
            } else {
                base_offset + i as i64
            };
            let _ = d.tx.send(Ok(RecordMetadata {
                topic: self.topic.clone(),
                partition: self.partition,
                offset,
                timestamp: log_append_time.unwrap_or(d.timestamp),
            }));
        }
    }

    /// Reports the same error for every record.
    pub fn fail(mut self, err: &Error) {
        self.permit.take();
        for d in self.deliveries.drain(..) {
            let _ = d.tx.send(Err(err.clone()));
        }
    }
}

#[derive(Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    in_flight: usize,
    retry_at: Option<Instant>,
    /// Sequence the next batch of this partition gets (idempotent producers).
    next_sequence: i32,
    /// Base sequences of this partition's batches in flight.
    in_flight_sequences: BTreeSet<i32>,
}

struct TopicQueues {
    name: Arc<str>,
    partitions: HashMap<i32, PartitionQueue>,
}

/// Settings the accumulator needs.
#[derive(Debug, Clone, Copy)]
pub struct AccumulatorConfig {
    /// `batch.size` in bytes.
    pub batch_size_bytes: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `compression.type`.
    pub compression: Compression,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// Batches of one partition in flight at once (1 keeps order without
    /// idempotence).
    pub max_in_flight_per_partition: usize,
    /// Bytes of batch buffers kept for reuse.
    pub pool_bytes_max: usize,
    /// Stamp batches with a producer id and sequences (`enable.idempotence`).
    pub idempotent: bool,
}

/// What one drain produced.
#[derive(Default)]
pub struct Drained {
    /// Batches to send, by leader node id.
    pub by_node: HashMap<i32, Vec<ProducerBatch>>,
    /// Batches that waited past `delivery.timeout.ms`.
    pub expired: Vec<ProducerBatch>,
    /// Topics with a batch ready but no known leader for its partition.
    pub leaderless: Vec<String>,
    /// When the next batch becomes ready by lingering or backoff.
    pub next_wake: Option<Instant>,
}

/// Per-partition batch queues, protected by the producer's lock.
pub struct Accumulator {
    config: AccumulatorConfig,
    /// Buffers of completed batches, reused for new ones. Reuse keeps the
    /// allocator out of the hot path (and glibc's mmap threshold from turning
    /// every large batch into fresh page faults).
    pool: Vec<BytesMut>,
    topics: HashMap<String, TopicQueues>,
    sticky: StickyPartitioner,
    next_batch_id: u64,
    incomplete: BTreeSet<u64>,
    /// Set for idempotent producers once InitProducerId answered.
    producer: Option<ProducerIdentity>,
    /// A sequence gap or a fenced producer id: no new sends until the producer is
    /// reset (new id or epoch, sequences from zero).
    needs_reset: bool,
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new(config: AccumulatorConfig) -> Accumulator {
        Accumulator {
            config,
            pool: Vec::new(),
            topics: HashMap::new(),
            sticky: StickyPartitioner::default(),
            next_batch_id: 0,
            incomplete: BTreeSet::new(),
            producer: None,
            needs_reset: false,
        }
    }

    /// Appends a record. Returns the partition it went to and whether a new batch was
    /// started (the sender should look at the queues again).
    pub fn append(
        &mut self,
        topic: &str,
        target: Target,
        record: &Append<'_>,
        permit: OwnedSemaphorePermit,
        tx: DeliverySender,
        available: impl Fn() -> Vec<i32>,
    ) -> (i32, bool) {
        let (partition, sticky_count) = match target {
            Target::Partition(p) => (p, None),
            Target::Sticky { partition_count } => {
                let p = match self.sticky.current(topic, partition_count) {
                    Some(p) => p,
                    None => self.sticky.partition(topic, partition_count, &available()),
                };
                (p, Some(partition_count))
            }
        };
        let size = self.config.batch_size_bytes;
        let partition = match sticky_count {
            // Keyless records move on when the sticky partition's batch is full.
            Some(count) if !self.fits(topic, partition, record) => {
                self.sticky
                    .on_new_batch(topic, partition, count, &available());
                self.sticky.partition(topic, count, &available())
            }
            _ => partition,
        };
        let id = self.next_batch_id;
        let compression = self.config.compression;
        // Look up before inserting: `entry` would allocate the key on every record.
        if !self.topics.contains_key(topic) {
            self.topics.insert(
                topic.to_string(),
                TopicQueues {
                    name: Arc::from(topic),
                    partitions: HashMap::new(),
                },
            );
        }
        let Some(queues) = self.topics.get_mut(topic) else {
            return (partition, false);
        };
        let name = queues.name.clone();
        let queue = queues.partitions.entry(partition).or_default();
        let need_new = match queue.batches.back() {
            Some(b) => match &b.builder {
                Some(builder) => {
                    let add = builder.record_size(
                        record.timestamp,
                        record.key,
                        record.value,
                        record.headers,
                    );
                    !builder.is_empty() && builder.size_bytes() + add > size
                }
                None => true,
            },
            None => true,
        };
        if need_new {
            queue.batches.push_back(ProducerBatch {
                id,
                topic: name,
                partition,
                builder: Some(match self.pool.pop() {
                    Some(buf) => BatchBuilder::with_buffer(compression, buf),
                    None => BatchBuilder::new(compression, size.min(BATCH_CAPACITY_BYTES_MAX)),
                }),
                sealed: None,
                deliveries: Vec::new(),
                created: Instant::now(),
                attempts: 0,
                permit: None,
                stamp: None,
            });
            self.next_batch_id += 1;
            self.incomplete.insert(id);
        }
        if let Some(batch) = queue.batches.back_mut() {
            if let Some(builder) = batch.builder.as_mut() {
                builder.append(record.timestamp, record.key, record.value, record.headers);
            }
            batch.deliveries.push(Delivery {
                tx,
                timestamp: record.timestamp,
            });
            match batch.permit.as_mut() {
                Some(p) => p.merge(permit),
                None => batch.permit = Some(permit),
            }
        }
        (partition, need_new)
    }

    /// True when the record fits in the open batch of `topic`/`partition` (or there is
    /// no open batch yet).
    fn fits(&self, topic: &str, partition: i32, record: &Append<'_>) -> bool {
        let Some(b) = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(&partition))
            .and_then(|q| q.batches.back())
        else {
            return true;
        };
        match &b.builder {
            Some(builder) => {
                builder.is_empty()
                    || builder.size_bytes()
                        + builder.record_size(
                            record.timestamp,
                            record.key,
                            record.value,
                            record.headers,
                        )
                        <= self.config.batch_size_bytes
            }
            None => true,
        }
    }

    /// Takes the oldest ready batch of every partition that has none in flight.
    /// `leader` maps a partition to its leader; `force` (flush/close) ignores linger.
    pub fn drain(
        &mut self,
        now: Instant,
        force: bool,
        max_request_bytes: usize,
        leader: impl Fn(&str, i32) -> Option<i32>,
    ) -> Drained {
        let mut out = Drained::default();
        let mut request_bytes: HashMap<i32, usize> = HashMap::new();
        // Idempotent: nothing leaves before the producer has an id, or while a
        // reset waits for the batches in flight to come back.
        let blocked = self.config.idempotent && (self.producer.is_none() || self.needs_reset);
        let producer = self.producer;
        let linger = self.config.linger;
        let delivery_timeout = self.config.delivery_timeout;
        for (topic, queues) in self.topics.iter_mut() {
            for (&partition, queue) in queues.partitions.iter_mut() {
                if queue.in_flight >= self.config.max_in_flight_per_partition {
                    continue;
                }
                // Expire batches that waited too long (never one in flight).
                while let Some(front) = queue.batches.front() {
                    if now.duration_since(front.created) < delivery_timeout {
                        break;
                    }
                    if let Some(b) = queue.batches.pop_front() {
                        if b.stamp.is_some() {
                            // Its sequence will never reach the broker: a gap.
                            self.needs_reset = true;
                        }
                        out.expired.push(b);
                    }
                }
                if blocked {
                    continue;
                }
                let Some(front) = queue.batches.front() else {
                    continue;
                };
                if let Some(at) = queue.retry_at {
                    if at > now {
                        out.next_wake = earliest(out.next_wake, at);
                        continue;
                    }
                }
                let ready = force
                    || queue.batches.len() > 1
                    || front.size_bytes() >= self.config.batch_size_bytes
                    || now.duration_since(front.created) >= linger;
                if !ready {
                    out.next_wake = earliest(out.next_wake, front.created + linger);
                    continue;
                }
                let Some(node) = leader(topic, partition) else {
                    if !out.leaderless.contains(topic) {
                        out.leaderless.push(topic.clone());
                    }
                    continue;
                };
                let used = request_bytes.entry(node).or_insert(0);
                let size = front.size_bytes();
                if *used > 0 && *used + size > max_request_bytes {
                    // Next request to this node; wake again right away.
                    out.next_wake = Some(now);
                    continue;
                }
                *used += size;
                if let Some(mut batch) = queue.batches.pop_front() {
                    if let (None, Some(p)) = (batch.stamp, producer) {
                        batch.stamp = Some(p.stamp(queue.next_sequence));
                        queue.next_sequence = advance(queue.next_sequence, batch.record_count());
                    }
                    if let Some(st) = batch.stamp {
                        queue.in_flight_sequences.insert(st.base_sequence);
                    }
                    queue.in_flight += 1;
                    queue.retry_at = None;
                    out.by_node.entry(node).or_default().push(batch);
                }
            }
        }
        for b in &out.expired {
            self.incomplete.remove(&b.id);
        }
        out
    }

    /// Keeps a completed batch's buffer for reuse (up to a bound).
    pub fn recycle(&mut self, buf: BytesMut) {
        let max = (self.config.pool_bytes_max / self.config.batch_size_bytes.max(1)).max(1);
        if self.pool.len() < max && buf.capacity() <= 2 * self.config.batch_size_bytes + 4096 {
            self.pool.push(buf);
        }
    }

    /// A sent batch is done (success or final failure): its partition may send
    /// again. A sequenced batch that failed leaves a gap: `failed` requests a reset.
    pub fn complete(&mut self, batch: &ProducerBatch, failed: bool) {
        if let Some(q) = self.queue_mut(&batch.topic, batch.partition) {
            q.in_flight = q.in_flight.saturating_sub(1);
            if let Some(st) = batch.stamp {
                q.in_flight_sequences.remove(&st.base_sequence);
            }
        }
        if failed && batch.stamp.is_some() {
            self.needs_reset = true;
        }
        self.incomplete.remove(&batch.id);
    }

    /// Puts a failed batch back in its queue, to resend after `backoff`: in front of
    /// everything, or, when sequenced, before the first batch with a later sequence.
    pub fn reenqueue(&mut self, mut batch: ProducerBatch, backoff: Duration) {
        batch.attempts += 1;
        let (topic, partition) = (batch.topic.clone(), batch.partition);
        if let Some(q) = self.queue_mut(&topic, partition) {
            q.in_flight = q.in_flight.saturating_sub(1);
            q.retry_at = Some(Instant::now() + backoff);
            let seq = batch.stamp.map(|st| st.base_sequence);
            if let Some(seq) = seq {
                q.in_flight_sequences.remove(&seq);
            }
            let at = match seq {
                Some(seq) => q
                    .batches
                    .iter()
                    .position(|b| b.stamp.is_none_or(|st| st.base_sequence > seq))
                    .unwrap_or(q.batches.len()),
                None => 0,
            };
            q.batches.insert(at, batch);
        }
    }

    /// True when another batch of the partition with a lower sequence is still
    /// unacknowledged: then OUT_OF_ORDER_SEQUENCE_NUMBER for `batch` is only the
    /// echo of that one's failure and `batch` is simply retried.
    pub fn has_earlier_unacked(&self, batch: &ProducerBatch) -> bool {
        let Some(seq) = batch.stamp.map(|st| st.base_sequence) else {
            return false;
        };
        let Some(q) = self
            .topics
            .get(&*batch.topic)
            .and_then(|t| t.partitions.get(&batch.partition))
        else {
            return false;
        };
        q.in_flight_sequences.iter().any(|&s| s < seq)
            || q.batches
                .iter()
                .any(|b| b.stamp.is_some_and(|st| st.base_sequence < seq))
    }

    /// Asks for a producer reset once nothing is in flight (a sequence error).
    pub fn request_reset(&mut self) {
        if self.config.idempotent {
            self.needs_reset = true;
        }
    }

    /// The producer's identity, once known.
    #[cfg(test)]
    pub fn producer(&self) -> Option<ProducerIdentity> {
        self.producer
    }

    /// True when the producer needs a (new) id before sending: none yet, or a reset
    /// is due and nothing is in flight any more.
    pub fn wants_producer_id(&self) -> bool {
        if !self.config.idempotent {
            return false;
        }
        match self.producer {
            None => true,
            Some(_) => self.needs_reset && self.in_flight_total() == 0,
        }
    }

    fn in_flight_total(&self) -> usize {
        self.topics
            .values()
            .flat_map(|t| t.partitions.values())
            .map(|q| q.in_flight)
            .sum()
    }

    /// Installs a producer id (first or after a reset): every partition's
    /// sequences restart at zero, and batches already sequenced are renumbered in
    /// order.
    pub fn set_producer(&mut self, identity: ProducerIdentity) {
        let reset = self.producer.is_some();
        self.producer = Some(identity);
        self.needs_reset = false;
        if !reset {
            return;
        }
        for q in self
            .topics
            .values_mut()
            .flat_map(|t| t.partitions.values_mut())
        {
            let mut next = 0;
            for b in q.batches.iter_mut() {
                if b.stamp.is_some() {
                    b.restamp(identity.stamp(next));
                    next = advance(next, b.record_count());
                }
            }
            q.next_sequence = next;
            q.in_flight_sequences.clear();
        }
    }

    /// Turns idempotence off (the broker cannot give a producer id): batches go
    /// unstamped, one per partition at a time.
    pub fn disable_idempotence(&mut self) {
        self.config.idempotent = false;
        self.config.max_in_flight_per_partition = 1;
        self.needs_reset = false;
    }

    fn queue_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionQueue> {
        self.topics.get_mut(topic)?.partitions.get_mut(&partition)
    }

    /// Id the next batch will get; a flush waits until every id below it completes.
    pub fn next_batch_id(&self) -> u64 {
        self.next_batch_id
    }

    /// The lowest id not yet completed (or `next_batch_id` when all are done).
    pub fn lowest_incomplete(&self) -> u64 {
        self.incomplete
            .first()
            .copied()
            .unwrap_or(self.next_batch_id)
    }

    /// True when nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.incomplete.is_empty()
    }
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    fn acc(batch: usize, linger_ms: u64) -> Accumulator {
        Accumulator::new(AccumulatorConfig {
            batch_size_bytes: batch,
            linger: Duration::from_millis(linger_ms),
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(60),
            max_in_flight_per_partition: 1,
            pool_bytes_max: 1 << 20,
            idempotent: false,
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
}
