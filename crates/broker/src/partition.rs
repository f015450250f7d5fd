//! One partition this broker hosts: its log, leader epoch and high watermark.
//!
//! On the leader the high watermark is the offset every in-sync replica has reached,
//! the leader counting with its durable end: a record is visible to consumers once
//! it has been fsynced here (or, in Kafka's page-cache mode set by
//! `flush.messages`/`flush.ms`, once appended) and fetched by every ISR follower. On
//! one node that is the durable end of the log. A follower takes the leader's high
//! watermark, capped by its own log end.

use crate::delayed_produce::{AckReceiver, DelayedProduces};
use crate::error::BrokerError;
use crate::replica_progress::ReplicaProgressTable;
use crate::topic_config::{parse_cleanup_policy, resolved_value, ResolvedConfig};
use bytes::{Bytes, BytesMut};
use moldau_log::{AppendInfo, AppendOrigin, LogDirs, LogError, SharedLog, TopicPartition};
use moldau_protocol::batch::{BatchView, Codec};
use moldau_protocol::compression::recompress_batch;
use moldau_protocol::produce_validation::ProduceValidation;
use moldau_protocol::record::RecordError;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
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
    logs: Arc<LogDirs>,
    data_arrived: Arc<Notify>,
    /// Woken on every append and high-watermark move: replica fetches wait on it.
    replica_data: Arc<Notify>,
    isr_check: Arc<Notify>,
    isr_watch: Arc<crate::isr_watch::IsrWatch>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Whether this broker leads the partition (else it follows).
    leading: AtomicBool,
    /// The leader's view of its followers (meaningful while leading).
    progress: parking_lot::Mutex<ReplicaProgressTable>,
    /// acks=all appends waiting for the high watermark.
    delayed: parking_lot::Mutex<DelayedProduces>,
}

/// Where a partition's notifications go.
#[derive(Clone)]
pub struct PartitionWakers {
    /// Consumer fetches (high watermark moved).
    pub data_arrived: Arc<Notify>,
    /// Replica fetches (appended, or the high watermark moved).
    pub replica_data: Arc<Notify>,
    /// The ISR maintenance (a follower outside the ISR caught up).
    pub isr_check: Arc<Notify>,
    /// What the ISR maintenance looks at (this partition, when it may change).
    pub isr_watch: Arc<crate::isr_watch::IsrWatch>,
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
        logs: Arc<LogDirs>,
        wakers: PartitionWakers,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Partition {
            tp,
            log,
            leader_epoch: AtomicI32::new(leader_epoch),
            limits: parking_lot::RwLock::new(ProduceLimits::default()),
            logs,
            data_arrived: wakers.data_arrived,
            replica_data: wakers.replica_data,
            isr_check: wakers.isr_check,
            isr_watch: wakers.isr_watch,
            metrics,
            leading: AtomicBool::new(false),
            progress: parking_lot::Mutex::new(ReplicaProgressTable::new(-1, &[], &[], 0, 0)),
            delayed: parking_lot::Mutex::new(DelayedProduces::default()),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Leads the partition at `epoch` with `replicas` and `isr` as the image has them.
    /// A new leadership (another epoch, or following before) starts its follower
    /// table afresh and marks where the epoch starts in the leader-epoch checkpoint;
    /// the same leadership only takes the new assignment.
    pub fn lead(
        self: &Arc<Self>,
        local_id: i32,
        epoch: i32,
        replicas: &[i32],
        isr: &[i32],
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        let renewed = self.is_leader() && self.leader_epoch() == epoch;
        if renewed {
            self.progress.lock().set_assignment(replicas, isr, now_ms);
        } else {
            let (durable, leo) = {
                // Under the log lock: a replica fetch in flight appends before this
                // or not at all.
                let mut log = self.log.write();
                let leo = log.log_end_offset();
                // A partition hosted at the epoch it leads (every one at start-up)
                // is no leadership change to log; 100 000 lines at start were.
                let changed = self.leader_epoch() != epoch;
                log.assign_leader_epoch_at_log_end(epoch)?;
                *self.progress.lock() = ReplicaProgressTable::new(
                    local_id,
                    replicas,
                    isr,
                    log.recovery_point(),
                    now_ms,
                );
                self.set_leader_epoch(epoch);
                self.leading.store(true, Ordering::Release);
                if changed {
                    tracing::info!(
                        partition = %self.tp,
                        epoch,
                        log_end = leo,
                        high_watermark = log.high_watermark(),
                        producers = log.producer_state().len(),
                        ?isr,
                        "leading"
                    );
                }
                (log.recovery_point(), leo)
            };
            if leo > durable {
                // Written as a follower and not fsynced yet: the high watermark waits
                // for it.
                let me = Arc::clone(self);
                self.logs.request_flush(
                    &self.tp,
                    leo,
                    Box::new(move |r| {
                        if let Ok(offset) = r {
                            me.on_durable(offset);
                        }
                    }),
                );
            }
        }
        // New followers or ISR: the ISR maintenance looks at it again.
        self.isr_watch.mark(&self.tp);
        self.maybe_advance_high_watermark();
        Ok(())
    }

    /// Follows the leader at `epoch`: acks=all appends still waiting will not be
    /// answered by this broker.
    pub fn follow(&self, epoch: i32) {
        {
            let log = self.log.write();
            if self.is_leader() || self.leader_epoch() != epoch {
                tracing::info!(
                    partition = %self.tp,
                    epoch,
                    was_leading = self.is_leader(),
                    log_end = log.log_end_offset(),
                    high_watermark = log.high_watermark(),
                    "following"
                );
            }
            self.leading.store(false, Ordering::Release);
            self.set_leader_epoch(epoch);
        }
        self.delayed.lock().fail_all();
    }

    /// The in-sync replicas as this leader counts them.
    pub fn isr(&self) -> Vec<i32> {
        self.progress.lock().isr().to_vec()
    }

    /// This leader asks the controller to add `joining` to the ISR: until the image
    /// answers they count for the high watermark (see `ReplicaProgressTable`).
    pub fn expect_isr_members(&self, joining: &[i32]) {
        self.progress.lock().expect_isr_members(joining);
    }

    /// The ISR change asked for was refused or not delivered.
    pub fn forget_pending_isr(&self) {
        self.progress.lock().forget_pending_isr();
        self.maybe_advance_high_watermark();
    }

    /// A copy of the leader's follower table.
    pub fn progress(&self) -> ReplicaProgressTable {
        self.progress.lock().clone()
    }

    /// A follower's Fetch from `fetch_offset` (its log end): the high watermark may
    /// move. False when `replica` is not a follower of this partition.
    pub fn record_follower_fetch(&self, replica: i32, fetch_offset: i64, now_ms: i64) -> bool {
        let leader_end = self.log_end_offset();
        let (known, outside_isr) = {
            let mut progress = self.progress.lock();
            let known = progress.record_fetch(replica, fetch_offset, leader_end, now_ms);
            (known, !progress.isr().contains(&replica))
        };
        if known {
            self.maybe_advance_high_watermark();
            if outside_isr && self.is_leader() && fetch_offset >= self.high_watermark() {
                self.isr_watch.mark(&self.tp);
                self.isr_check.notify_one();
            }
        }
        known
    }

    /// Waits until the high watermark covers `last_offset` (acks=all); `None` when
    /// too many already wait.
    pub fn wait_for_replication(&self, last_offset: i64) -> Option<AckReceiver> {
        let rx = self.delayed.lock().wait_for(last_offset + 1)?;
        // It may have been reached already.
        self.complete_delayed();
        Some(rx)
    }

    /// Appends batches fetched from the leader as they are (offsets, epochs, bytes)
    /// and takes the leader's high watermark, capped by this log's end. Refused once
    /// this broker leads, or follows another epoch than the fetch was made for
    /// (checked under the log lock, which `lead` takes too).
    pub fn append_as_follower(
        &self,
        batches: &[u8],
        leader_high_watermark: i64,
        fetched_at_epoch: i32,
    ) -> Result<(), BrokerError> {
        if self.logs.is_offline(&self.tp) {
            return Err(LogError::DirOffline.into());
        }
        let appended_end = {
            let mut log = self.log.write();
            self.check_following(fetched_at_epoch)?;
            let before = log.log_end_offset();
            if !batches.is_empty() {
                if let Err(e) = log.append_as_follower(batches) {
                    if matches!(e, LogError::Io { .. }) {
                        self.logs.mark_offline(&self.tp, &e);
                    }
                    return Err(e.into());
                }
            }
            let hw = leader_high_watermark.min(log.log_end_offset());
            if hw > log.high_watermark() {
                log.set_high_watermark(hw);
            }
            let end = log.log_end_offset();
            (end > before).then_some(end)
        };
        if let Some(end) = appended_end {
            // Made durable in the background (group commit); a follower's ack is its
            // next fetch, not its fsync.
            self.logs.request_flush(&self.tp, end, Box::new(|_| {}));
        }
        self.data_arrived.notify_waiters();
        Ok(())
    }

    fn check_following(&self, epoch: i32) -> Result<(), BrokerError> {
        if self.is_leader() || self.leader_epoch() != epoch {
            return Err(BrokerError::api(
                moldau_protocol::ResponseError::NotLeaderOrFollower,
                format!("{} is no longer followed at leader epoch {epoch}", self.tp),
            ));
        }
        Ok(())
    }

    /// Removes the log from `offset` on (a follower diverged from its leader).
    pub fn truncate_to(&self, offset: i64, fetched_at_epoch: i32) -> Result<(), BrokerError> {
        let mut log = self.log.write();
        self.check_following(fetched_at_epoch)?;
        log.truncate_to(offset)?;
        Ok(())
    }

    /// Empties the log and restarts it at `offset` (the leader's log starts later).
    pub fn truncate_fully_and_start_at(
        &self,
        offset: i64,
        fetched_at_epoch: i32,
    ) -> Result<(), BrokerError> {
        let mut log = self.log.write();
        self.check_following(fetched_at_epoch)?;
        log.truncate_fully_and_start_at(offset)?;
        Ok(())
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

    /// True once the log directory holding this partition failed: it is not served
    /// (KAFKA_STORAGE_ERROR) while the other directories' partitions are.
    pub fn is_offline(&self) -> bool {
        self.logs.is_offline(&self.tp)
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
        self.append_from(batches, now_ms, want_durable, AppendOrigin::Client)
    }

    /// [`Self::append`] for batches from `origin` (a coordinator's transactional
    /// offsets are checked for their epoch only).
    pub fn append_from(
        self: &Arc<Self>,
        batches: &mut [u8],
        now_ms: i64,
        want_durable: bool,
        origin: AppendOrigin,
    ) -> Result<(AppendResult, Option<DurableReceiver>), BrokerError> {
        if self.logs.is_offline(&self.tp) {
            return Err(LogError::DirOffline.into());
        }
        let (info, log_start_offset, page_cache_mode, flush_due) = {
            let mut log = self.log.write();
            // Under the log lock, which `lead` and `follow` take: the image a handler
            // checked may be ahead of what the publisher applied here, and a follower's
            // log is written by its fetcher alone.
            if !self.is_leader() {
                return Err(BrokerError::api(
                    moldau_protocol::ResponseError::NotLeaderOrFollower,
                    format!(
                        "{} is followed here at leader epoch {}, not led",
                        self.tp,
                        self.leader_epoch()
                    ),
                ));
            }
            let info = match log.append_from(batches, self.leader_epoch(), now_ms, origin) {
                Ok(info) => {
                    if info.record_count == 0 {
                        tracing::debug!(partition = %self.tp, first_offset = info.first_offset, last_offset = info.last_offset, "retried batch answered with its stored offsets");
                    }
                    info
                }
                Err(e) => {
                    if let LogError::Producer(refusal) = &e {
                        self.log_producer_refusal(&log, refusal);
                    }
                    // A failed write, like a failed fsync, takes the directory offline.
                    if matches!(e, LogError::Io { .. }) {
                        self.logs.mark_offline(&self.tp, &e);
                    }
                    return Err(e.into());
                }
            };
            let page_cache = log.config().page_cache_mode();
            // The log counts unflushed records and time since its last flush.
            let due = page_cache && log.flush_due(now_ms);
            (info, log.log_start_offset(), page_cache, due)
        };
        let last_offset = info.last_offset;
        let result = AppendResult {
            info,
            log_start_offset,
        };
        self.replica_data.notify_waiters();
        if page_cache_mode {
            // Appended counts as durable here.
            self.on_durable(last_offset + 1);
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
                    me.on_durable(*offset);
                }
                if let Some(tx) = tx {
                    let _ = tx.send(r);
                }
            }),
        );
        Ok((result, rx))
    }

    /// A refused batch is what a producer's fatal error traces back to: rare, so
    /// logged with what the decision saw.
    fn log_producer_refusal(
        &self,
        log: &moldau_log::PartitionLog,
        refusal: &moldau_log::producer_state::ProducerStateError,
    ) {
        use moldau_log::producer_state::ProducerStateError as E;
        let producer_id = match refusal {
            E::OutOfOrderSequence { producer_id, .. }
            | E::InvalidProducerEpoch { producer_id, .. }
            | E::InvalidTxnState { producer_id }
            | E::CoordinatorFenced { producer_id, .. } => *producer_id,
        };
        let stored = log.producer_state().entry(producer_id).map(|e| {
            let batches: Vec<String> = e
                .batches
                .iter()
                .map(|b| {
                    format!(
                        "{}..{}@{}..{}",
                        b.first_seq, b.last_seq, b.first_offset, b.last_offset
                    )
                })
                .collect();
            format!("epoch {} batches [{}]", e.epoch, batches.join(", "))
        });
        tracing::info!(
            partition = %self.tp,
            leading = self.is_leader(),
            leader_epoch = self.leader_epoch(),
            log_end = log.log_end_offset(),
            high_watermark = log.high_watermark(),
            stored = stored.as_deref().unwrap_or("none"),
            "produce refused: {refusal}"
        );
    }

    /// The leader's log is fsynced below `offset`.
    fn on_durable(&self, offset: i64) {
        if !self.is_leader() {
            return;
        }
        self.progress.lock().set_durable_end(offset);
        self.maybe_advance_high_watermark();
    }

    /// Moves the high watermark to what every ISR member has (never back), wakes
    /// waiting fetches and answers the acks=all appends it now covers.
    pub fn maybe_advance_high_watermark(&self) {
        if !self.is_leader() {
            return;
        }
        let candidate = self.progress.lock().high_watermark_candidate();
        let moved = {
            let mut log = self.log.write();
            let capped = candidate.min(log.log_end_offset());
            let moved = capped > log.high_watermark();
            if moved {
                log.set_high_watermark(capped);
            }
            moved
        };
        if moved {
            self.data_arrived.notify_waiters();
            self.replica_data.notify_waiters();
        }
        self.complete_delayed();
    }

    fn complete_delayed(&self) {
        let hw = self.high_watermark();
        let isr_len = self.progress.lock().isr().len();
        self.delayed.lock().complete_up_to(hw, isr_len);
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
