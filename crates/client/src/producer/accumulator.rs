//! The record accumulator: one queue of batches per partition. `send` appends to the
//! newest batch of a partition; the sender drains the oldest batch of each partition
//! once it is full, has lingered long enough, or a flush asks for it. One batch per
//! partition is in flight (up to five for idempotent producers, whose sequence
//! numbers keep them ordered), and a failed batch goes back to the front of its
//! queue, so retries never reorder a partition's records.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::OwnedSemaphorePermit;

use super::batch::Delivery;
pub use super::batch::{DeliverySender, ProducerBatch};
use super::sequence::{advance, ProducerIdentity};
use crate::batch_builder::BatchBuilder;
use crate::codec::Compression;
use crate::error::Error;
use crate::partitioner::StickyPartitioner;
use crate::record::Header;

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
    /// Mark batches as part of a transaction (`transactional.id`).
    pub transactional: bool,
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
        let transactional = self.config.transactional;
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
                builder: Some(
                    match self.pool.pop() {
                        Some(buf) => BatchBuilder::with_buffer(compression.codec(), buf),
                        None => BatchBuilder::new(
                            compression.codec(),
                            size.min(BATCH_CAPACITY_BYTES_MAX),
                        ),
                    }
                    .transactional(transactional),
                ),
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
        let mut appended_bytes = 0;
        if let Some(batch) = queue.batches.back_mut() {
            if let Some(builder) = batch.builder.as_mut() {
                let before = builder.size_bytes();
                let pushed =
                    builder.push(record.timestamp, record.key, record.value, record.headers);
                appended_bytes = builder.size_bytes().saturating_sub(before);
                if let Err(e) = pushed {
                    // The batch is unchanged; only this record fails (and a batch
                    // opened for it alone is dropped again).
                    let _ = tx.send(Err(Error::Encode(e.to_string())));
                    if builder.is_empty() {
                        queue.batches.pop_back();
                        self.incomplete.remove(&id);
                    }
                    return (partition, false);
                }
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
        if let Some(count) = sticky_count {
            // Keyless records move on after `batch.size` bytes even when the sender
            // drains batches before they fill (linger.ms), as Kafka's partitioner.
            self.sticky
                .record_appended(topic, partition, appended_bytes, size, count, &available);
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

    /// The producer's identity, once known (transactional calls carry it).
    pub fn identity(&self) -> Option<ProducerIdentity> {
        self.producer
    }

    /// True when a sequence error asked for a new producer id or epoch.
    pub fn needs_reset(&self) -> bool {
        self.needs_reset
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
#[path = "accumulator_tests.rs"]
mod tests;
