//! One partition this broker hosts: its log, leader epoch and high watermark.
//!
//! On a single node the high watermark is the durable end of the log: a record is
//! visible to consumers once it has been fsynced (or, in Kafka's page-cache mode set by
//! `flush.messages`/`flush.ms`, once appended). With replicas it becomes the offset all
//! in-sync replicas have reached; only `advance_high_watermark` changes.

use crate::error::BrokerError;
use crate::topic_config::{parse_cleanup_policy, resolved_value, ResolvedConfig};
use bytes::{Bytes, BytesMut};
use moldau_log::{AppendInfo, LogError, LogManager, SharedLog, TopicPartition};
use moldau_protocol::batch::{BatchView, Codec};
use moldau_protocol::compression::recompress_batch;
use moldau_protocol::produce_validation::ProduceValidation;
use moldau_protocol::record::RecordError;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use tokio::sync::{oneshot, Notify};

/// Resolves with the durable offset once an append is fsynced and visible.
pub type DurableReceiver = oneshot::Receiver<Result<i64, LogError>>;

/// Topic configs the produce path checks, resolved once when configs change rather
/// than on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProduceLimits {
    /// What a produced batch must satisfy (`max.message.bytes`, timestamps, keys).
    pub validation: ProduceValidation,
    /// `min.insync.replicas`: acks=all needs at least this many in-sync replicas.
    pub min_insync_replicas: usize,
    /// `compression.type`: the codec batches are stored with, or `None` for
    /// `producer` (kept as sent).
    pub compression: Option<Codec>,
}

/// The codec a `compression.type` value asks for: `None` for `producer`, and for a
/// value that is not Kafka's (refused when it is set, so only a broker file written
/// by hand can hold one; start-up validation reports it).
pub fn target_codec(compression_type: &str) -> Option<Codec> {
    match compression_type {
        "uncompressed" => Some(Codec::None),
        "gzip" => Some(Codec::Gzip),
        "snappy" => Some(Codec::Snappy),
        "lz4" => Some(Codec::Lz4),
        "zstd" => Some(Codec::Zstd),
        _ => None,
    }
}

impl ProduceLimits {
    /// The limits a topic's resolved configs set; values that do not parse (already
    /// refused when they were set) fall back to Kafka's defaults.
    pub fn from_resolved(resolved: &[ResolvedConfig]) -> ProduceLimits {
        let defaults = ProduceValidation::default();
        let value = |name: &str| resolved_value(resolved, name).map(str::trim);
        let number = |name: &str, default: i64| {
            value(name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(default)
        };
        let validation = ProduceValidation {
            max_message_bytes: number("max.message.bytes", defaults.max_message_bytes as i64).max(0)
                as usize,
            log_append_time: value("message.timestamp.type") == Some("LogAppendTime"),
            timestamp_before_max_ms: number(
                "message.timestamp.before.max.ms",
                defaults.timestamp_before_max_ms,
            )
            .max(0),
            timestamp_after_max_ms: number(
                "message.timestamp.after.max.ms",
                defaults.timestamp_after_max_ms,
            )
            .max(0),
            keys_required: value("cleanup.policy")
                .and_then(|v| parse_cleanup_policy(v).ok())
                .is_some_and(|p| p.compact),
            decompressed_bytes_max: defaults.decompressed_bytes_max,
        };
        ProduceLimits {
            validation,
            min_insync_replicas: number("min.insync.replicas", 1).max(1) as usize,
            compression: value("compression.type").and_then(target_codec),
        }
    }

    /// The bytes to append for a validated batch: as sent, or re-encoded with the
    /// topic's `compression.type` codec when that differs from the producer's, as
    /// Kafka does.
    pub fn stored_form(&self, records: Bytes) -> Result<BytesMut, RecordError> {
        let Some(target) = self.compression else {
            return Ok(writable(records));
        };
        let view =
            BatchView::parse(&records).map_err(|e| RecordError::Decompress(e.to_string()))?;
        if view.codec() == target {
            return Ok(writable(records));
        }
        recompress_batch(&view, target, self.validation.decompressed_bytes_max)
    }
}

/// The request's bytes, owned and writable (the broker stamps the base offset into
/// the header). Reuses the buffer when nothing else holds it.
fn writable(records: Bytes) -> BytesMut {
    match records.try_into_mut() {
        Ok(b) => b,
        Err(shared) => BytesMut::from(&shared[..]),
    }
}

/// A hosted partition.
pub struct Partition {
    pub tp: TopicPartition,
    pub log: SharedLog,
    leader_epoch: AtomicI32,
    limits: parking_lot::RwLock<ProduceLimits>,
    logs: Arc<LogManager>,
    data_arrived: Arc<Notify>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// What a durable append reports back to the producer.
#[derive(Debug, Clone)]
pub struct AppendResult {
    pub info: AppendInfo,
    pub log_start_offset: i64,
}

impl Partition {
    pub fn new(
        tp: TopicPartition,
        log: SharedLog,
        leader_epoch: i32,
        logs: Arc<LogManager>,
        data_arrived: Arc<Notify>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Partition {
            tp,
            log,
            leader_epoch: AtomicI32::new(leader_epoch),
            limits: parking_lot::RwLock::new(ProduceLimits::default()),
            logs,
            data_arrived,
            metrics,
        }
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn limits(&self) -> ProduceLimits {
        *self.limits.read()
    }

    pub fn set_limits(&self, limits: ProduceLimits) {
        *self.limits.write() = limits;
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
    }

    pub fn high_watermark(&self) -> i64 {
        self.log.read().high_watermark()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.read().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.read().log_end_offset()
    }

    /// Appends validated batches (in the caller's order; the log lock serialises
    /// appenders). Returns at once; the receiver, when asked for with `want_durable`,
    /// resolves once the batches are fsynced (group-committed with every other append
    /// in flight) and the high watermark has moved past them. In page-cache mode
    /// (`flush.messages`/`flush.ms` set) the records are visible at once and no wait
    /// is offered. (Kafka's "never", Long.MAX_VALUE, is not page-cache mode: see
    /// `topic_config::log_config_from`.)
    pub fn append(
        self: &Arc<Self>,
        batches: &mut [u8],
        now_ms: i64,
        want_durable: bool,
    ) -> Result<(AppendResult, Option<DurableReceiver>), BrokerError> {
        if self.logs.is_offline() {
            return Err(LogError::DirOffline.into());
        }
        let (info, log_start_offset, page_cache_mode, flush_due) = {
            let mut log = self.log.write();
            let info = match log.append(batches, self.leader_epoch(), now_ms) {
                Ok(info) => info,
                Err(e) => {
                    // A failed write, like a failed fsync, takes the directory offline.
                    if matches!(e, LogError::Io { .. }) {
                        self.logs.mark_offline(&e);
                    }
                    return Err(e.into());
                }
            };
            let page_cache = log.config().page_cache_mode();
            if page_cache {
                let leo = log.log_end_offset();
                log.set_high_watermark(leo);
            }
            // The log counts unflushed records and time since its last flush.
            let due = page_cache && log.flush_due(now_ms);
            (info, log.log_start_offset(), page_cache, due)
        };
        let last_offset = info.last_offset;
        let result = AppendResult {
            info,
            log_start_offset,
        };
        if page_cache_mode {
            self.data_arrived.notify_waiters();
            if flush_due {
                self.logs
                    .request_flush(&self.tp, last_offset + 1, Box::new(|_| {}));
            }
            return Ok((result, None));
        }
        let (tx, rx) = if want_durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let me = Arc::clone(self);
        let requested_at = std::time::Instant::now();
        self.logs.request_flush(
            &self.tp,
            last_offset + 1,
            Box::new(move |r| {
                // Runs on the flusher thread, right after the fsync: moving the high
                // watermark here (a brief lock, never a wait) and waking the producer
                // directly saves a task hand-off per acknowledgement. The watermark
                // never moves back, so flushes finishing out of order are harmless.
                me.metrics.flush_latency.observe(requested_at.elapsed());
                if let Ok(offset) = &r {
                    me.advance_high_watermark(*offset);
                }
                if let Some(tx) = tx {
                    let _ = tx.send(r);
                }
            }),
        );
        Ok((result, rx))
    }

    /// Moves the high watermark forward (never back) and wakes waiting fetches.
    pub fn advance_high_watermark(&self, offset: i64) {
        {
            let mut log = self.log.write();
            let capped = offset.min(log.log_end_offset());
            if capped > log.high_watermark() {
                log.set_high_watermark(capped);
            }
        }
        self.data_arrived.notify_waiters();
    }
}
