//! One partition's log: an ordered set of segments, the last one active.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use moldau_protocol::batch::{self, BatchError, BatchView};

use crate::change_tracker::ChangeTracker;
use crate::config::{LogConfig, TimestampType, SEGMENT_BYTES_MAX};
use crate::epoch_cache::LeaderEpochCache;
use crate::error::LogError;
use crate::producer_state::{AppendOrigin, BatchCheck, ProducerBatch, ProducerStateManager};
use crate::producer_txn::{txn_marker, ReplicatedProducerBatch};
use crate::segment::{BatchMeta, LogSegment};
use crate::topic_partition::{LogKind, TopicPartition};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{parse_records, record_data};

/// Result of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub first_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's timestamp with `LogAppendTime`, else -1.
    pub log_append_time: i64,
    /// Largest batch max timestamp appended (-1 if none).
    pub max_timestamp: i64,
    /// Last offset of the batch carrying `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    /// Records appended (sum of the batches' record counts).
    pub record_count: i64,
    /// Bytes appended.
    pub bytes: usize,
}

/// Result of a read: whole batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadInfo {
    /// Whole batches; empty when there is nothing to return.
    pub bytes: Bytes,
    /// Base offset of the first batch returned (may be below the requested offset,
    /// as in Kafka: clients skip the records before it); the requested offset when empty.
    pub first_offset: i64,
}

/// A partition's log.
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) tp: TopicPartition,
    pub(crate) config: LogConfig,
    pub(crate) segments: BTreeMap<i64, LogSegment>,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    pub(crate) recovery_point: i64,
    pub(crate) high_watermark: i64,
    pub(crate) epochs: LeaderEpochCache,
    /// Bumped by truncation: a flush planned before it must not advance the
    /// recovery point over data that was replaced.
    pub(crate) generation: u64,
    /// Bumped when files are created or renamed: the directory needs an fsync.
    pub(crate) dir_changes: u64,
    pub(crate) dir_changes_synced: u64,
    pub(crate) unflushed_messages: u64,
    pub(crate) last_flush_ms: i64,
    /// Segments renamed to `*.deleted`, with the time they may be removed.
    pub(crate) pending_deletes: Vec<(LogSegment, i64)>,
    /// Closed segments whose (rewritten) indexes were not fsynced yet.
    pub(crate) unsynced_index_segments: BTreeSet<i64>,
    /// Compaction has cleaned everything below this offset.
    pub(crate) cleaner_checkpoint: i64,
    /// Earliest delete horizon of a tombstone batch left by compaction.
    pub(crate) earliest_delete_horizon: Option<i64>,
    /// Set when the partition was removed and its directory renamed for deletion:
    /// the paths this log knew may now belong to a recreated partition of the same
    /// name, so nothing may write, roll, delete or flush through it any more.
    pub(crate) deleted: bool,
    /// Idempotent producers' state, describing the log up to its end.
    pub(crate) producers: ProducerStateManager,
    /// The manager's record of changed partitions (none for a log on its own).
    pub(crate) change_tracker: Option<Arc<ChangeTracker>>,
    /// Already marked in `change_tracker` since the background pass last visited.
    pub(crate) change_marked: AtomicBool,
    /// The state in which the files were last left as a clean shutdown leaves them
    /// (see [`crate::at_rest`]); `None` when they never were since opening.
    pub(crate) at_rest: Option<crate::at_rest::AtRest>,
}

/// Milliseconds since the Unix epoch, for bookkeeping where the caller gave no clock.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl PartitionLog {
    /// Opens (or creates) the partition directory `dir`; runs recovery from
    /// `recovery_point` (re-reads every batch after it: length + CRC; truncates a
    /// torn/corrupt tail, logging the byte count; rebuilds missing or inconsistent
    /// indexes).
    pub fn open(
        dir: &Path,
        tp: TopicPartition,
        config: LogConfig,
        recovery_point: i64,
        log_start_offset: Option<i64>,
    ) -> Result<Self, LogError> {
        Self::open_with_options(dir, tp, config, recovery_point, log_start_offset, false)
    }

    /// Fails once the log was removed (see [`PartitionLog::is_deleted`]).
    pub(crate) fn check_not_deleted(&self) -> Result<(), LogError> {
        if self.deleted {
            return Err(LogError::Deleted(self.tp.to_string()));
        }
        Ok(())
    }

    /// True once the partition was removed: a late holder of this log (an
    /// in-flight produce, a retention pass that listed it before) fails harmlessly.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Called by the manager, under the write lock, right after renaming the
    /// directory to `renamed_dir` (which is deleted soon after).
    pub(crate) fn mark_deleted(&mut self, renamed_dir: PathBuf) {
        self.deleted = true;
        self.dir = renamed_dir;
        self.pending_deletes.clear();
        self.unsynced_index_segments.clear();
    }

    // Invariant: a log always has an active segment (loading creates one, deleting
    // segments keeps the last).
    #[allow(clippy::expect_used)]
    pub(crate) fn active(&self) -> &LogSegment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    #[allow(clippy::expect_used)] // Invariant: as for `active`.
    pub(crate) fn active_mut(&mut self) -> &mut LogSegment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// `batches`: one or more magic-2 batches, already validated by the broker.
    /// Assigns offsets (writes base offset + leader epoch into the headers in place;
    /// with LogAppendTime also the max timestamp), appends to the active segment
    /// (rolling first when needed), updates the indexes and the leader-epoch cache.
    /// Does NOT fsync.
    pub fn append(
        &mut self,
        batches: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_from(batches, leader_epoch, now_ms, AppendOrigin::Client)
    }

    /// [`Self::append`] for batches from `origin`: a coordinator's own transactional
    /// batches skip the retry and sequence checks (see [`AppendOrigin`]).
    pub fn append_from(
        &mut self,
        batches: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, LogError> {
        self.check_not_deleted()?;
        let append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let first_offset = self.log_end_offset;
        let mut next = first_offset;
        let mut metas = Vec::new();
        let mut records = 0i64;
        let mut pos = 0usize;
        // Checked under the caller's write lock: two retries of one batch cannot
        // both pass. Applied only once the batches are written.
        let mut producers = self.producers.begin_append();
        let mut completed = Vec::new();
        while pos < batches.len() {
            let (size, delta, count, producer, marker) = {
                let view = BatchView::parse(&batches[pos..])?;
                let producer = ProducerBatch::from_view(&view, next);
                let marker = txn_marker(&view, next);
                if view.is_control() && marker.is_none() {
                    return Err(LogError::InvalidControlBatch);
                }
                (
                    view.size(),
                    view.last_offset_delta(),
                    view.records_count(),
                    producer,
                    marker,
                )
            };
            if delta < 0 || count < 0 {
                return Err(BatchError::CountMismatch {
                    count,
                    last_offset_delta: delta,
                }
                .into());
            }
            self.check_batch_size(size as u64)?;
            if let Some(marker) = marker {
                completed.extend(producers.check_marker(&marker)?);
            } else if let Some(producer) = producer {
                if let BatchCheck::Duplicate(original) = producers.check_from(&producer, origin)? {
                    // A retry of a stored batch: Kafka answers with the original
                    // offsets and appends nothing.
                    return Ok(AppendInfo {
                        first_offset: original.first_offset,
                        last_offset: original.last_offset,
                        log_append_time: if append_time { original.timestamp } else { -1 },
                        max_timestamp: original.timestamp,
                        offset_of_max_timestamp: original.last_offset,
                        record_count: 0,
                        bytes: 0,
                    });
                }
            }
            let b = &mut batches[pos..pos + size];
            batch::set_base_offset(b, next);
            batch::set_partition_leader_epoch(b, leader_epoch);
            if append_time {
                batch::set_log_append_time(b, now_ms);
            }
            let max_timestamp = BatchView::parse(b)?.max_timestamp();
            let last_offset = next + delta as i64;
            metas.push(BatchMeta {
                position_in_buf: pos,
                size_bytes: size,
                last_offset,
                max_timestamp,
            });
            records += count as i64;
            next = last_offset + 1;
            pos += size;
        }
        if metas.is_empty() {
            return Err(BatchError::Truncated {
                needed: batch::BATCH_HEADER_BYTES,
                available: 0,
            }
            .into());
        }
        self.check_batch_size(batches.len() as u64)?;
        let staged = producers.finish();
        let info = self.append_metas(batches, &metas, first_offset, records, now_ms)?;
        self.producers.commit(staged, info.last_offset + 1);
        for txn in &completed {
            self.index_completed_txn(txn)?;
        }
        self.epochs.assign(leader_epoch, first_offset)?;
        Ok(AppendInfo {
            log_append_time: if append_time { now_ms } else { -1 },
            ..info
        })
    }

    /// Follower/replica append: batches already carry offsets and epochs; the first
    /// must start at or after the log end, offsets must grow, CRCs must match.
    pub fn append_as_follower(&mut self, batches: &[u8]) -> Result<AppendInfo, LogError> {
        self.check_not_deleted()?;
        let mut metas = Vec::new();
        let mut records = 0i64;
        let mut expected = self.log_end_offset;
        let mut epochs = Vec::new();
        let mut producers = Vec::new();
        for item in batch::BatchIter::new(batches) {
            let (pos, view) = item?;
            if view.stored_crc() != view.computed_crc() {
                return Err(BatchError::CrcMismatch {
                    stored: view.stored_crc(),
                    computed: view.computed_crc(),
                }
                .into());
            }
            // Compacted batches may hold fewer records than their offset span.
            if view.last_offset_delta() < 0 || view.records_count() < 0 {
                return Err(BatchError::CountMismatch {
                    count: view.records_count(),
                    last_offset_delta: view.last_offset_delta(),
                }
                .into());
            }
            if view.base_offset() < expected {
                return Err(LogError::UnexpectedAppendOffset {
                    first_offset: view.base_offset(),
                    log_end: expected,
                });
            }
            self.check_batch_size(view.size() as u64)?;
            metas.push(BatchMeta {
                position_in_buf: pos,
                size_bytes: view.size(),
                last_offset: view.last_offset(),
                max_timestamp: view.max_timestamp(),
            });
            epochs.push((view.partition_leader_epoch(), view.base_offset()));
            producers.extend(ReplicatedProducerBatch::from_view(&view));
            records += view.records_count() as i64;
            expected = view.last_offset() + 1;
        }
        let Some(&(_, first_offset)) = epochs.first() else {
            return Err(BatchError::Truncated {
                needed: batch::BATCH_HEADER_BYTES,
                available: batches.len(),
            }
            .into());
        };
        self.check_batch_size(batches.len() as u64)?;
        let info = self.append_metas(batches, &metas, first_offset, records, wall_clock_ms())?;
        // A replica takes the leader's producer state as it is, unchecked (as Kafka).
        for producer in &producers {
            if let Some(txn) = producer.apply_to(&mut self.producers) {
                self.index_completed_txn(&txn)?;
            }
        }
        self.producers.advance_to(info.last_offset + 1);
        for (epoch, base) in epochs {
            self.epochs.assign(epoch, base)?;
        }
        Ok(info)
    }

    fn check_batch_size(&self, size_bytes: u64) -> Result<(), LogError> {
        let limit = self.config.segment_bytes.min(SEGMENT_BYTES_MAX);
        if size_bytes > limit {
            return Err(LogError::BatchTooLarge {
                size_bytes,
                segment_bytes: limit,
            });
        }
        Ok(())
    }

    /// Rolls if needed, writes, and advances the log end.
    fn append_metas(
        &mut self,
        buf: &[u8],
        metas: &[BatchMeta],
        first_offset: i64,
        record_count: i64,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let last_offset = metas.last().map_or(first_offset, |m| m.last_offset);
        let (max_timestamp, offset_of_max_timestamp) =
            metas.iter().fold((-1i64, first_offset), |acc, m| {
                if m.max_timestamp > acc.0 {
                    (m.max_timestamp, m.last_offset)
                } else {
                    acc
                }
            });
        self.maybe_roll(
            buf.len() as u64,
            metas[0].max_timestamp,
            first_offset,
            last_offset,
            now_ms,
        )?;
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(buf, metas, interval)?;
        self.log_end_offset = last_offset + 1;
        self.unflushed_messages += record_count as u64;
        self.note_change();
        Ok(AppendInfo {
            first_offset,
            last_offset,
            log_append_time: -1,
            max_timestamp,
            offset_of_max_timestamp,
            record_count,
            bytes: buf.len(),
        })
    }

    /// Rolls the active segment when the append would overflow it, it is older than
    /// `segment.ms` (by record timestamps, as Kafka), its indexes are full, or the
    /// relative offsets would not fit.
    fn maybe_roll(
        &mut self,
        append_bytes: u64,
        first_timestamp: i64,
        first_offset: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let seg = self.active();
        let offsets_overflow = last_offset - seg.base_offset() > i32::MAX as i64;
        if seg.size_bytes() == 0 {
            // An empty segment takes any append whose offsets fit its base.
            if offsets_overflow {
                self.roll(first_offset, now_ms)?;
            }
            return Ok(());
        }
        let waited_ms = match seg.rolling_timestamp() {
            Some(first) => first_timestamp - first,
            None => now_ms - seg.created_ms(),
        };
        let full = seg.size_bytes() + append_bytes > self.config.segment_bytes;
        let old = waited_ms >= self.config.segment_ms;
        if full || old || seg.indexes_full() || offsets_overflow {
            self.roll(first_offset, now_ms)?;
        }
        Ok(())
    }

    /// Closes the active segment and starts a new one at `base_offset`.
    pub(crate) fn roll(&mut self, base_offset: i64, now_ms: i64) -> Result<(), LogError> {
        let active_base = self.active().base_offset();
        if base_offset == self.log_end_offset && self.tp.kind() == LogKind::Data {
            // Producer state at the new segment's base, so recovery replays from here.
            self.take_producer_snapshot(false)?;
        }
        if self.active().size_bytes() == 0 {
            // An empty active segment is replaced rather than kept.
            if let Some(seg) = self.segments.remove(&active_base) {
                seg.delete_files()?;
            }
        } else {
            self.active_mut().on_become_inactive()?;
            self.unsynced_index_segments.insert(active_base);
        }
        let seg = LogSegment::create(
            &self.dir,
            base_offset,
            self.config.segment_index_bytes,
            "",
            now_ms,
        )?;
        self.segments.insert(base_offset, seg);
        self.dir_changes += 1;
        tracing::debug!(partition = %self.tp, base_offset, "rolled new log segment");
        Ok(())
    }

    /// Whole batches starting with the one containing `offset`, up to `max_bytes`
    /// total (at least one whole batch when `min_one_batch`), none whose base offset
    /// is >= `max_offset`. `offset == log end` gives an empty result; outside
    /// `[log_start, log_end]` is `OffsetOutOfRange`.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadInfo, LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(self.out_of_range(offset));
        }
        let empty = ReadInfo {
            bytes: Bytes::new(),
            first_offset: offset,
        };
        if offset == self.log_end_offset || offset >= max_offset {
            return Ok(empty);
        }
        let start_base = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(start_base..).map(|(_, s)| s) {
            if let Some((pos, header)) = seg.translate_offset(offset)? {
                let buf = seg.read_from(pos, &header, max_bytes, max_offset, min_one_batch)?;
                if buf.is_empty() {
                    return Ok(empty);
                }
                return Ok(ReadInfo {
                    bytes: Bytes::from(buf),
                    first_offset: header.base_offset,
                });
            }
        }
        Ok(empty)
    }

    pub(crate) fn out_of_range(&self, requested: i64) -> LogError {
        LogError::OffsetOutOfRange {
            requested,
            log_start: self.log_start_offset,
            log_end: self.log_end_offset,
        }
    }

    /// First offset whose record timestamp is >= `ts`, with that record's timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let Some(seg) = self
            .segments
            .values()
            .find(|s| s.max_timestamp() >= ts && s.next_offset() > self.log_start_offset)
        else {
            return Ok(None);
        };
        let from_offset = seg
            .time_index()
            .lookup(ts)?
            .map_or(seg.base_offset(), |(_, off)| off)
            .max(self.log_start_offset)
            .max(seg.base_offset());
        let Some((mut pos, _)) = seg.translate_offset(from_offset)? else {
            return Ok(None);
        };
        while let Some(h) = seg.read_header(pos)? {
            if h.max_timestamp >= ts && h.last_offset >= self.log_start_offset {
                let mut buf = vec![0u8; h.size_bytes as usize];
                use std::os::unix::fs::FileExt;
                seg.log_file()?
                    .read_exact_at(&mut buf, pos)
                    .map_err(LogError::at(&seg.log_path()))?;
                let view = BatchView::parse(&buf)?;
                if let Some(found) =
                    first_record_at_or_after(&view, ts, self.log_start_offset, &seg.log_path())?
                {
                    return Ok(Some(found));
                }
            }
            pos += h.size_bytes;
        }
        Ok(None)
    }

    /// (max timestamp, offset of the record with it) over the whole log (ListOffsets -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let seg = self
            .segments
            .values()
            .filter(|s| s.max_timestamp() >= 0)
            .max_by_key(|s| (s.max_timestamp(), std::cmp::Reverse(s.base_offset())))?;
        let (ts, shallow) = (seg.max_timestamp(), seg.offset_of_max_timestamp());
        // The index holds the batch's last offset; find the record itself.
        let exact = (|| -> Result<Option<i64>, LogError> {
            let Some((pos, h)) = seg.translate_offset(shallow)? else {
                return Ok(None);
            };
            let mut buf = vec![0u8; h.size_bytes as usize];
            use std::os::unix::fs::FileExt;
            seg.log_file()?
                .read_exact_at(&mut buf, pos)
                .map_err(LogError::at(&seg.log_path()))?;
            let view = BatchView::parse(&buf)?;
            Ok(
                first_record_at_or_after(&view, ts, self.log_start_offset, &seg.log_path())?
                    .map(|(o, _)| o),
            )
        })();
        Some((ts, exact.ok().flatten().unwrap_or(shallow)))
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    /// Everything below this offset is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }
    /// Stored here, set by the broker.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    /// Sets the high watermark, clamped to `[log_start, log_end]`.
    pub fn set_high_watermark(&mut self, hw: i64) {
        let hw = hw.clamp(self.log_start_offset, self.log_end_offset);
        if hw != self.high_watermark {
            self.high_watermark = hw;
            self.note_change();
        }
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size_bytes()).sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    /// Closes every segment's cached data file, as eviction would.
    #[cfg(test)]
    pub(crate) fn close_segment_files(&self) {
        for seg in self.segments.values() {
            seg.close_log_file();
        }
    }
    /// How many segments have their data file open in the cache.
    #[cfg(test)]
    pub(crate) fn open_segment_files(&self) -> usize {
        self.segments.values().filter(|s| s.log_is_open()).count()
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    /// Takes effect for later appends, rolls and retention runs.
    pub fn update_config(&mut self, config: LogConfig) {
        self.config = config;
        self.note_change();
    }
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Latest leader epoch in the leader-epoch-checkpoint.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }
    /// For OffsetsForLeaderEpoch: (largest epoch <= `epoch`, its end offset).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset)
    }
    /// Records that leader epoch `epoch` starts at `start_offset` (a new leader marks
    /// its epoch at its log end before its first append, so followers can find
    /// where they diverge). An epoch not newer than the latest is ignored.
    pub fn assign_leader_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        self.check_not_deleted()?;
        self.epochs.assign(epoch, start_offset)
    }
    /// A new leadership at `epoch` starts at the log end: kept in memory and written
    /// to leader-epoch-checkpoint with the first record appended, so a partition that
    /// becomes leader without being written to (every idle partition after a restart)
    /// rewrites no file. Nothing is lost by a crash before that record: no record of
    /// the epoch exists, and the next leadership starts at the same offset.
    pub fn assign_leader_epoch_at_log_end(&mut self, epoch: i32) -> Result<(), LogError> {
        self.check_not_deleted()?;
        self.epochs.assign_at_log_end(epoch, self.log_end_offset);
        Ok(())
    }
    /// The (epoch, start offset) entries of the leader epoch cache.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epochs.entries().to_vec()
    }
    /// Records appended since the last flush (for `flush.messages`).
    pub fn unflushed_messages(&self) -> u64 {
        self.unflushed_messages
    }
    /// True when `flush.messages` or `flush.ms` asks for a background flush now.
    pub fn flush_due(&self, now_ms: i64) -> bool {
        if self.recovery_point >= self.log_end_offset {
            return false;
        }
        let by_count = self
            .config
            .flush_messages
            .is_some_and(|n| self.unflushed_messages >= n);
        let by_time = self
            .config
            .flush_ms
            .is_some_and(|ms| now_ms - self.last_flush_ms >= ms);
        by_count || by_time
    }
    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }
}

/// Offset and timestamp of the first record in `view` with timestamp >= `ts` and
/// offset >= `min_offset`.
fn first_record_at_or_after(
    view: &BatchView<'_>,
    ts: i64,
    min_offset: i64,
    path: &Path,
) -> Result<Option<(i64, i64)>, LogError> {
    let data = record_data(view, DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(|e| LogError::corrupt(path, e.to_string()))?;
    let records = parse_records(&data, view.records_count())
        .map_err(|e| LogError::corrupt(path, e.to_string()))?;
    for r in records {
        let offset = view.base_offset() + r.offset_delta as i64;
        let timestamp = if view.is_log_append_time() {
            view.max_timestamp()
        } else {
            view.base_timestamp() + r.timestamp_delta
        };
        if timestamp >= ts && offset >= min_offset {
            return Ok(Some((offset, timestamp)));
        }
    }
    Ok(None)
}
