//! The producer: `send` a record, get a future of where it landed.
//!
//! ```no_run
//! # async fn demo() -> moldau_client::Result<()> {
//! use moldau_client::producer::ProducerBuilder;
//! use moldau_client::ProducerRecord;
//! let producer = ProducerBuilder::new("127.0.0.1:9092").build()?;
//! let delivery = producer.send(ProducerRecord::new("events", "hello").with_key("k")).await?;
//! let meta = delivery.await?;
//! println!("written to {}-{} at {}", meta.topic, meta.partition, meta.offset);
//! producer.close().await?;
//! # Ok(()) }
//! ```

mod accumulator;
mod batch;
mod config;
mod request;
mod sender;
mod sequence;
mod transaction;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::{oneshot, watch, Notify, Semaphore};

use accumulator::{AccumulatorConfig, Target};
pub use config::{Acks, ProducerBuilder, ProducerConfig};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::partitioner::partition_for_key;
use crate::record::{now_ms, ProducerRecord, RecordMetadata};
use accumulator::{Accumulator, Append};

/// Bytes a record costs beyond its key, value and headers (length, attributes,
/// deltas, counts), an upper bound used for sizing checks.
const RECORD_OVERHEAD_BYTES_MAX: usize = 32;
/// Part of `buffer.memory` that completed batch buffers may keep for reuse: 1/n.
const BUFFER_POOL_SHARE: usize = 8;
/// Bytes of a batch header.
const BATCH_OVERHEAD_BYTES: usize = moldau_protocol::batch::BATCH_HEADER_BYTES;

pub(crate) struct Shared {
    cluster: Cluster,
    config: ProducerConfig,
    accumulator: Mutex<Accumulator>,
    memory: Arc<Semaphore>,
    /// Wakes the sender: a new batch, a finished request, a flush or close.
    wake: Notify,
    /// Signals the end of the sender after close.
    idle: Notify,
    closing: AtomicBool,
    flushes: AtomicUsize,
    /// The lowest batch id not yet complete; flush waits for it to pass a mark.
    progress: watch::Sender<u64>,
    /// Transactions, for a producer with a `transactional.id`.
    txn: Option<transaction::TransactionManager>,
}

impl Shared {
    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
    fn flushing(&self) -> bool {
        self.flushes.load(Ordering::Acquire) > 0
    }
    fn is_idle(&self) -> bool {
        self.accumulator.lock().map(|a| a.is_idle()).unwrap_or(true)
    }
    fn publish_progress(&self, lowest_incomplete: u64) {
        self.progress.send_replace(lowest_incomplete);
    }
}

/// Closes the producer when the last handle is dropped: queued records are still
/// sent, in the background.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// An async Kafka producer. Cheap to clone; clones share batches and connections.
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

/// Resolves to where a record was written, or why it was not.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Producer {
    /// Starts a producer with `config` on the current tokio runtime.
    pub fn new(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let runtime = crate::runtime()?;
        let cluster = Cluster::new(config.client.clone())?;
        let acc = Accumulator::new(AccumulatorConfig {
            batch_size_bytes: config.batch_size_bytes,
            linger: config.linger,
            compression: config.compression,
            delivery_timeout: config.delivery_timeout,
            max_in_flight_per_partition: if config.idempotent() {
                config
                    .max_in_flight_per_connection
                    .min(sequence::IDEMPOTENT_IN_FLIGHT_MAX)
            } else {
                1
            },
            pool_bytes_max: config.buffer_memory_bytes / BUFFER_POOL_SHARE,
            idempotent: config.idempotent(),
            transactional: config.transactional_id.is_some(),
        });
        let txn = config.transactional_id.as_deref().map(|id| {
            transaction::TransactionManager::new(cluster.clone(), id, config.transaction_timeout)
        });
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            cluster,
            memory: Arc::new(Semaphore::new(config.buffer_memory_bytes)),
            config,
            accumulator: Mutex::new(acc),
            wake: Notify::new(),
            idle: Notify::new(),
            closing: AtomicBool::new(false),
            flushes: AtomicUsize::new(0),
            progress,
            txn,
        });
        runtime.spawn(sender::run(shared.clone()));
        Ok(Producer {
            handle: Arc::new(Handle { shared }),
        })
    }

    /// A builder with these bootstrap servers.
    pub fn builder(bootstrap_servers: &str) -> ProducerBuilder {
        ProducerBuilder::new(bootstrap_servers)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The cluster view this producer uses.
    pub fn cluster(&self) -> &Cluster {
        &self.shared().cluster
    }

    /// Queues a record. Waits only when the topic's metadata is unknown or
    /// `buffer.memory` is used up (at most `max.block.ms`); the returned future
    /// resolves once the broker acknowledged (or finally refused) the record.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let shared = self.shared();
        if shared.is_closing() {
            return Err(Error::Closed);
        }
        let max_block = shared.config.max_block;
        let partition_count = match shared.cluster.cached_partition_count(&record.topic) {
            Some(n) => n,
            None => tokio::time::timeout(max_block, self.wait_for_topic(&record.topic))
                .await
                .map_err(|_| {
                    Error::Timeout(format!("metadata for {} within max.block.ms", record.topic))
                })??,
        };
        let target = match (record.partition, &record.key) {
            (Some(p), _) => {
                if p < 0 || p as usize >= partition_count {
                    return Err(Error::Config(format!(
                        "partition {p} of {} does not exist ({partition_count} partitions)",
                        record.topic
                    )));
                }
                Target::Partition(p)
            }
            (None, Some(key)) => Target::Partition(partition_for_key(key, partition_count)),
            (None, None) => Target::Sticky { partition_count },
        };
        // In a transaction the partition must be known, and added to it, first.
        let target = if shared.txn.is_some() {
            let available = shared
                .cluster
                .metadata()
                .topics
                .get(&record.topic)
                .map(|t| {
                    t.partitions
                        .iter()
                        .filter(|p| p.leader >= 0)
                        .map(|p| p.partition)
                        .collect()
                })
                .unwrap_or_default();
            self.add_to_transaction(&record.topic, target, available)
                .await?
        } else {
            target
        };
        let size = record_size_bound(&record);
        let limit = shared
            .config
            .max_request_size_bytes
            .min(shared.config.buffer_memory_bytes);
        if size + BATCH_OVERHEAD_BYTES > limit {
            return Err(Error::RecordTooLarge { size, limit });
        }
        let permit = match shared.memory.clone().try_acquire_many_owned(size as u32) {
            Ok(p) => p,
            // Back-pressure: wait for sent batches to free memory.
            Err(_) => tokio::time::timeout(
                max_block,
                shared.memory.clone().acquire_many_owned(size as u32),
            )
            .await
            .map_err(|_| Error::Timeout("buffer.memory stayed full for max.block.ms".into()))?
            .map_err(|_| Error::Closed)?,
        };
        let (tx, rx) = oneshot::channel();
        let append = Append {
            timestamp: record.timestamp.unwrap_or_else(now_ms),
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
        };
        // Only keyless records need the partitions that have a leader.
        let md = matches!(target, Target::Sticky { .. }).then(|| shared.cluster.metadata());
        let available = || {
            md.as_ref()
                .and_then(|md| md.topics.get(&record.topic))
                .map(|t| {
                    t.partitions
                        .iter()
                        .filter(|p| p.leader >= 0)
                        .map(|p| p.partition)
                        .collect()
                })
                .unwrap_or_default()
        };
        let new_batch = {
            let mut acc = shared.accumulator.lock().map_err(|_| Error::Closed)?;
            let (_, new_batch) = acc.append(&record.topic, target, &append, permit, tx, available);
            new_batch
        };
        if new_batch {
            shared.wake.notify_one();
        }
        Ok(DeliveryFuture { rx })
    }

    /// The topic's partition count; a topic that is being created (or does not
    /// exist yet) is looked up again after `retry.backoff.ms`, as Java's producer
    /// does until `max.block.ms`.
    async fn wait_for_topic(&self, topic: &str) -> Result<usize> {
        let cluster = &self.shared().cluster;
        loop {
            match cluster.partition_count(topic).await {
                Ok(n) => return Ok(n),
                Err(e) if e.is_retriable() || matches!(e, Error::UnknownTopic(_)) => {
                    tracing::debug!(topic, error = %e, "waiting for topic metadata");
                    tokio::time::sleep(cluster.config().retry_backoff).await;
                    cluster.refresh(Some(&[topic.to_string()])).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends every record queued before the call and waits until each is
    /// acknowledged or failed (failures are reported on their own futures).
    pub async fn flush(&self) -> Result<()> {
        let shared = self.shared();
        let mark = shared
            .accumulator
            .lock()
            .map_err(|_| Error::Closed)?
            .next_batch_id();
        let mut progress = shared.progress.subscribe();
        shared.flushes.fetch_add(1, Ordering::AcqRel);
        shared.wake.notify_one();
        let done = {
            let lowest = shared
                .accumulator
                .lock()
                .map(|a| a.lowest_incomplete())
                .unwrap_or(u64::MAX);
            lowest >= mark
        };
        let result = if done {
            Ok(())
        } else {
            progress
                .wait_for(|&lowest| lowest >= mark)
                .await
                .map(|_| ())
                .map_err(|_| Error::Closed)
        };
        shared.flushes.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Stops accepting records, sends everything queued, and waits for the answers.
    pub async fn close(&self) -> Result<()> {
        let shared = self.shared();
        shared.closing.store(true, Ordering::Release);
        let idle = shared.idle.notified();
        tokio::pin!(idle);
        // Registered before the check, so the sender's signal cannot slip between.
        idle.as_mut().enable();
        shared.wake.notify_one();
        if !shared.is_idle() {
            idle.await;
        }
        Ok(())
    }
}

/// An upper bound of the bytes a record adds to a batch.
fn record_size_bound(r: &ProducerRecord) -> usize {
    let mut n = RECORD_OVERHEAD_BYTES_MAX;
    n += r.key.as_ref().map_or(0, |k| k.len() + 5);
    n += r.value.as_ref().map_or(0, |v| v.len() + 5);
    for h in &r.headers {
        n += h.key.len() + h.value.as_ref().map_or(0, |v| v.len()) + 10;
    }
    n
}
