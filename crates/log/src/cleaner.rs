//! Log compaction (`cleanup.policy=compact`): keep the newest record per key.
//!
//! Three phases so that appends and reads never wait for the work:
//! 1. [`PartitionLog::compaction_plan`] (read lock, brief): picks the closed segments
//!    that may be cleaned and takes handles to their files.
//! 2. [`CompactionPlan::build`] (no lock): maps every key of the dirty part to its
//!    latest offset, then rewrites the segments into `*.cleaned` files, keeping each
//!    batch's base and last offset, and the bytes of every batch nothing was removed
//!    from.
//! 3. [`PartitionLog::swap_in`] (write lock, brief): renames cleaned files to
//!    `*.swap`, retires the originals, and renames the swaps into place. A crash at
//!    any point is finished or undone by the loader (see `log_loader.rs`).
//!
//! Transactions and producers, as Kafka: nothing at or after the first unstable
//! offset is cleaned; records of aborted transactions never enter the key map (they
//! must not hide the committed value of their key) and their batches are removed;
//! each producer's last batch is kept whole, so its state (epoch, sequence) can
//! still be rebuilt from the log. A transaction marker goes once no record of its
//! transaction is left: the first cleaning that finds it so stamps it with a delete
//! horizon (`delete.retention.ms`, as tombstones), a cleaning after the horizon
//! drops it with its `.txnindex` entry. Each cleaned segment keeps the `.txnindex`
//! entries of the markers it still holds.
//!
//! Tombstones (null values) follow KIP-534: the first cleaning that retains one
//! stamps its batch with a delete horizon (`now + delete.retention.ms`, stored in the
//! base timestamp with attribute bit 6); a later cleaning after the horizon drops it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use moldau_protocol::batch::{BatchView, BATCH_HEADER_BYTES, DELETE_HORIZON_BIT};
use moldau_protocol::batch_header::{BatchHeader, BATCH_BYTES_MAX};

use crate::batch_reader::{BatchReader, ReadOutcome};
use crate::checkpoint_file::sync_dir;
use crate::error::LogError;
use crate::log_loader::{CLEANED_SUFFIX, SWAP_SUFFIX};
use crate::manager::SharedLog;
use crate::partition_log::PartitionLog;
use crate::segment::{BatchMeta, LogSegment};
use crate::txn_index::AbortedTxn;
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{
    parse_records, record_data, reencode_with_timestamp_delta, Record, RecordError,
};

/// Memory the key -> offset map may use (key bytes plus per-entry overhead).
pub const CLEANER_OFFSET_MAP_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Approximate per-entry overhead of the offset map, for the budget above.
const OFFSET_MAP_ENTRY_OVERHEAD_BYTES: usize = 48;

/// One closed segment as seen by the cleaner.
struct SourceSegment {
    base_offset: i64,
    size_bytes: u64,
    path: PathBuf,
    file: Arc<File>,
    /// The segment's `.txnindex` entries, carried into the cleaned segment.
    aborted: Vec<AbortedTxn>,
}

/// What to clean, captured under the read lock.
pub struct CompactionPlan {
    dir: PathBuf,
    generation: u64,
    segments: Vec<SourceSegment>,
    first_dirty_offset: i64,
    /// First offset not cleanable (active segment or compaction lag).
    end_offset: i64,
    segment_bytes: u64,
    segment_index_bytes: u64,
    index_interval_bytes: u64,
    delete_retention_ms: i64,
    /// Every aborted transaction with data below `end_offset`.
    aborted: Vec<AbortedTxn>,
    /// Last offset of each producer's last data batch.
    producer_last_offsets: HashMap<i64, i64>,
}

impl CompactionPlan {
    /// True for a batch of an aborted transaction.
    fn is_aborted(&self, view: &BatchView<'_>) -> bool {
        view.is_transactional()
            && self.aborted.iter().any(|a| {
                a.producer_id == view.producer_id()
                    && a.first_offset <= view.base_offset()
                    && view.base_offset() <= a.last_offset
            })
    }
}

/// What one cleaning pass learns about transactions, batch by batch in log order.
#[derive(Default)]
struct TxnCleaning {
    /// Producers whose transactional records were read since their last marker:
    /// whether any record was kept.
    data_kept: HashMap<i64, bool>,
    /// Offsets of the markers dropped (their `.txnindex` entries go with them).
    dropped_markers: HashSet<i64>,
}

impl TxnCleaning {
    /// Notes a transactional data batch and whether anything of it stays.
    fn on_data(&mut self, producer_id: i64, kept: bool) {
        *self.data_kept.entry(producer_id).or_insert(false) |= kept;
    }

    /// What happens to a marker: kept while records of its transaction remain,
    /// else stamped with a delete horizon, then dropped after it.
    fn on_marker(
        &mut self,
        view: &BatchView<'_>,
        now_ms: i64,
        delete_retention_ms: i64,
    ) -> Result<Filtered, RecordError> {
        if self.data_kept.remove(&view.producer_id()).unwrap_or(false) {
            return Ok(Filtered::Unchanged);
        }
        if !view.has_delete_horizon() {
            let horizon = now_ms.saturating_add(delete_retention_ms);
            return Ok(Filtered::Rewritten(with_delete_horizon(view, horizon)?));
        }
        if now_ms >= view.base_timestamp() {
            self.dropped_markers.insert(view.base_offset());
            return Ok(Filtered::Dropped);
        }
        Ok(Filtered::Unchanged)
    }
}

/// `view` re-encoded with delete horizon `horizon` (KIP-534: the base timestamp
/// holds it, the records' timestamp deltas are rebased on it).
fn with_delete_horizon(view: &BatchView<'_>, horizon: i64) -> Result<Vec<u8>, RecordError> {
    let data = record_data(view, DECOMPRESSED_BATCH_BYTES_MAX)?;
    let records = parse_records(&data, view.records_count())?;
    let mut buffer = BytesMut::with_capacity(BATCH_HEADER_BYTES + data.len());
    buffer.resize(BATCH_HEADER_BYTES, 0);
    for r in &records {
        let timestamp = view.base_timestamp() + r.timestamp_delta;
        reencode_with_timestamp_delta(&mut buffer, r, timestamp - horizon);
    }
    let mut header = BatchHeader::of(view);
    header.set_flag(DELETE_HORIZON_BIT, true);
    header.base_timestamp = horizon;
    Ok(Vec::from(header.seal(
        view.codec(),
        buffer,
        BATCH_BYTES_MAX,
    )?))
}

/// A cleaned segment replacing the original segments `replaced`.
struct CleanedGroup {
    segment: LogSegment,
    replaced: Vec<(i64, u64)>,
}

/// Output of [`CompactionPlan::build`], ready to swap in.
pub struct CleanedLog {
    generation: u64,
    groups: Vec<CleanedGroup>,
    cleaned_up_to: i64,
    bytes_before: u64,
    bytes_after: u64,
    /// Earliest delete horizon stamped on a retained tombstone batch.
    earliest_delete_horizon: Option<i64>,
}

impl PartitionLog {
    /// Picks what compaction would clean now, or `None` (not compacted, nothing
    /// closed, or dirty ratio below `min.cleanable.dirty.ratio`).
    pub fn compaction_plan(&self, now_ms: i64) -> Option<CompactionPlan> {
        if !self.config.cleanup_policy.compact
            || self.deleted
            || self.tp.kind() == crate::topic_partition::LogKind::Metadata
        {
            return None;
        }
        let active_base = self.active().base_offset();
        let lag = self.config.min_compaction_lag_ms;
        let unstable = self.first_unstable_offset().unwrap_or(i64::MAX);
        // The first segment that is active, too young, or holds data of an open
        // transaction ends the cleanable range.
        let end_offset = self
            .segments
            .values()
            .find(|s| {
                s.base_offset() == active_base
                    || s.next_offset() > unstable
                    || (lag > 0 && s.max_timestamp() > now_ms.saturating_sub(lag))
            })
            .map_or(active_base, |s| s.base_offset());
        let first_dirty = self
            .cleaner_checkpoint
            .max(self.log_start_offset)
            .min(end_offset);
        // Tombstones whose delete horizon passed make the log worth cleaning even
        // without new data (KIP-534).
        let horizon_passed = self.earliest_delete_horizon.is_some_and(|h| h <= now_ms);
        if first_dirty >= end_offset && !horizon_passed {
            return None;
        }
        let mut total = 0u64;
        let mut dirty = 0u64;
        let mut segments = Vec::new();
        for seg in self.segments.range(..end_offset).map(|(_, s)| s) {
            total += seg.size_bytes();
            if seg.next_offset() > first_dirty {
                dirty += seg.size_bytes();
            }
            segments.push(SourceSegment {
                base_offset: seg.base_offset(),
                size_bytes: seg.size_bytes(),
                path: seg.log_path(),
                // Out of descriptors: no compaction this pass, the next one retries.
                file: seg.log_file().ok()?,
                aborted: seg.txn_index().entries().to_vec(),
            });
        }
        let ratio_met =
            total > 0 && (dirty as f64) / (total as f64) >= self.config.min_cleanable_dirty_ratio;
        if !(ratio_met && dirty > 0 || horizon_passed && total > 0) {
            return None;
        }
        Some(CompactionPlan {
            dir: self.dir.clone(),
            generation: self.generation,
            segments,
            first_dirty_offset: first_dirty,
            end_offset,
            segment_bytes: self.config.segment_bytes,
            segment_index_bytes: self.config.segment_index_bytes,
            index_interval_bytes: self.config.index_interval_bytes,
            delete_retention_ms: self.config.delete_retention_ms,
            // A transaction below the end may be aborted by a marker anywhere after.
            aborted: self
                .segments
                .values()
                .flat_map(|s| s.txn_index().entries())
                .filter(|a| a.first_offset < end_offset)
                .copied()
                .collect(),
            producer_last_offsets: self
                .producers
                .entries()
                .filter(|e| e.last_offset() >= 0)
                .map(|e| (e.producer_id, e.last_offset()))
                .collect(),
        })
    }

    /// Replaces the original segments with the cleaned ones. Discards the work if
    /// the log changed underneath (truncation, or retention removed a segment).
    pub fn swap_in(&mut self, cleaned: CleanedLog) -> Result<bool, LogError> {
        self.check_not_deleted()?;
        let still_valid = cleaned.generation == self.generation
            && cleaned.groups.iter().all(|g| {
                g.replaced.iter().all(|(base, size)| {
                    self.segments
                        .get(base)
                        .is_some_and(|s| s.size_bytes() == *size)
                })
            });
        if !still_valid {
            for g in &cleaned.groups {
                g.segment.delete_files()?;
            }
            tracing::info!(partition = %self.tp, "log changed during compaction; cleaned segments discarded");
            return Ok(false);
        }
        let now_ms = crate::partition_log::wall_clock_ms();
        for group in cleaned.groups {
            let mut seg = group.segment;
            seg.change_suffix(SWAP_SUFFIX)?;
            for (base, _) in &group.replaced {
                if let Some(old) = self.segments.remove(base) {
                    self.schedule_delete(old, now_ms)?;
                }
            }
            seg.change_suffix("")?;
            self.segments.insert(seg.base_offset(), seg);
        }
        sync_dir(&self.dir)?;
        self.cleaner_checkpoint = self.cleaner_checkpoint.max(cleaned.cleaned_up_to);
        self.earliest_delete_horizon = cleaned.earliest_delete_horizon;
        self.note_change();
        tracing::info!(
            partition = %self.tp,
            bytes_before = cleaned.bytes_before,
            bytes_after = cleaned.bytes_after,
            cleaned_up_to = cleaned.cleaned_up_to,
            "compacted log"
        );
        Ok(true)
    }

    /// Compaction has cleaned everything below this offset.
    pub fn cleaner_checkpoint(&self) -> i64 {
        self.cleaner_checkpoint
    }

    /// Restores the cleaner checkpoint (from `cleaner-offset-checkpoint`), clamped
    /// to the log.
    pub fn set_cleaner_checkpoint(&mut self, offset: i64) {
        self.cleaner_checkpoint = offset.clamp(self.log_start_offset, self.log_end_offset);
        self.note_change();
    }

    /// Plans, builds and swaps in one go (the caller holds the write lock
    /// throughout; the manager's thread uses the three phases instead).
    pub fn compact(&mut self, now_ms: i64) -> Result<bool, LogError> {
        let Some(plan) = self.compaction_plan(now_ms) else {
            return Ok(false);
        };
        let cleaned = plan.build(now_ms)?;
        self.swap_in(cleaned)
    }
}

/// Visits every valid batch of a source segment.
fn for_each_batch(
    seg: &SourceSegment,
    f: &mut dyn FnMut(u64, BatchView<'_>) -> Result<(), LogError>,
) -> Result<(), LogError> {
    let mut reader = BatchReader::new(&seg.file, &seg.path, 0, seg.size_bytes, true);
    loop {
        match reader.next_batch()? {
            ReadOutcome::End => return Ok(()),
            ReadOutcome::Invalid { position, reason } => {
                return Err(LogError::corrupt(
                    &seg.path,
                    format!("at position {position}: {reason}"),
                ))
            }
            ReadOutcome::Batch { position, bytes } => f(position, BatchView::parse(bytes)?)?,
        }
    }
}

fn corrupt(seg: &SourceSegment, e: impl std::fmt::Display) -> LogError {
    LogError::corrupt(&seg.path, e.to_string())
}

impl CompactionPlan {
    /// Builds the cleaned segments. Takes no lock; reads only closed segments.
    pub fn build(self, now_ms: i64) -> Result<CleanedLog, LogError> {
        // 1. key -> latest offset over the dirty range, within the memory budget.
        let mut map: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut map_bytes = 0usize;
        let mut end_offset = self.end_offset;
        for (i, seg) in self.segments.iter().enumerate() {
            let seg_end = self
                .segments
                .get(i + 1)
                .map_or(self.end_offset, |s| s.base_offset);
            if seg_end <= self.first_dirty_offset {
                continue;
            }
            if map_bytes > CLEANER_OFFSET_MAP_BYTES_MAX {
                end_offset = seg.base_offset;
                break;
            }
            for_each_batch(seg, &mut |_, view| {
                if view.is_control() || self.is_aborted(&view) {
                    return Ok(());
                }
                let data = record_data(&view, DECOMPRESSED_BATCH_BYTES_MAX)
                    .map_err(|e| corrupt(seg, e))?;
                for r in parse_records(&data, view.records_count()).map_err(|e| corrupt(seg, e))? {
                    let offset = view.base_offset() + r.offset_delta as i64;
                    if let (Some(key), true) = (r.key, offset >= self.first_dirty_offset) {
                        if map.insert(key.to_vec(), offset).is_none() {
                            map_bytes += key.len() + OFFSET_MAP_ENTRY_OVERHEAD_BYTES;
                        }
                    }
                }
                Ok(())
            })?;
        }

        // 2. Rewrite segments below end_offset, grouped so each group fits a segment.
        let cleanable: Vec<&SourceSegment> = self
            .segments
            .iter()
            .filter(|s| s.base_offset < end_offset)
            .collect();
        let mut groups = Vec::new();
        let mut bytes_before = 0;
        let mut bytes_after = 0;
        let mut earliest_horizon = None;
        let mut txns = TxnCleaning::default();
        let mut i = 0;
        while i < cleanable.len() {
            let mut j = i + 1;
            let mut size = cleanable[i].size_bytes;
            while j < cleanable.len() && size + cleanable[j].size_bytes <= self.segment_bytes {
                size += cleanable[j].size_bytes;
                j += 1;
            }
            let group = &cleanable[i..j];
            let base = group[0].base_offset;
            let mut out = LogSegment::create(
                &self.dir,
                base,
                self.segment_index_bytes,
                CLEANED_SUFFIX,
                now_ms,
            )?;
            match self.clean_group(group, &map, now_ms, &mut txns, &mut out) {
                Ok(h) => {
                    if let Some(h) = h {
                        earliest_horizon = Some(earliest_horizon.map_or(h, |e: i64| e.min(h)));
                    }
                }
                Err(e) => {
                    out.delete_files()?;
                    for g in &groups {
                        let g: &CleanedGroup = g;
                        g.segment.delete_files()?;
                    }
                    return Err(e);
                }
            }
            for txn in group.iter().flat_map(|s| &s.aborted) {
                if !txns.dropped_markers.contains(&txn.last_offset) {
                    out.txn_index_mut().append(*txn)?;
                }
            }
            out.on_become_inactive()?;
            out.sync_all()?;
            bytes_before += size;
            bytes_after += out.size_bytes();
            groups.push(CleanedGroup {
                segment: out,
                replaced: group
                    .iter()
                    .map(|s| (s.base_offset, s.size_bytes))
                    .collect(),
            });
            i = j;
        }
        Ok(CleanedLog {
            generation: self.generation,
            groups,
            cleaned_up_to: end_offset,
            bytes_before,
            bytes_after,
            earliest_delete_horizon: earliest_horizon,
        })
    }

    /// Writes the cleaned batches of `group` into `out`; returns the earliest
    /// delete horizon among the batches kept.
    fn clean_group(
        &self,
        group: &[&SourceSegment],
        map: &HashMap<Vec<u8>, i64>,
        now_ms: i64,
        txns: &mut TxnCleaning,
        out: &mut LogSegment,
    ) -> Result<Option<i64>, LogError> {
        let mut earliest_horizon: Option<i64> = None;
        for seg in group {
            for_each_batch(seg, &mut |_, view| {
                let producers_last = view.producer_id() >= 0
                    && self.producer_last_offsets.get(&view.producer_id())
                        == Some(&view.last_offset());
                let kept = if view.is_control() && view.producer_id() >= 0 {
                    txns.on_marker(&view, now_ms, self.delete_retention_ms)
                        .map_err(|e| corrupt(seg, e))?
                } else if producers_last {
                    Filtered::Unchanged
                } else if self.is_aborted(&view) {
                    Filtered::Dropped
                } else {
                    filter_batch(&view, map, now_ms, self.delete_retention_ms)
                        .map_err(|e| corrupt(seg, e))?
                };
                if view.is_transactional() && !view.is_control() {
                    txns.on_data(view.producer_id(), kept != Filtered::Dropped);
                }
                let bytes: &[u8] = match &kept {
                    Filtered::Unchanged => view.bytes(),
                    Filtered::Rewritten(b) => b,
                    Filtered::Dropped => return Ok(()),
                };
                let rewritten = BatchView::parse(bytes)?;
                if rewritten.has_delete_horizon() {
                    let h = rewritten.base_timestamp();
                    earliest_horizon = Some(earliest_horizon.map_or(h, |e| e.min(h)));
                }
                let meta = BatchMeta {
                    position_in_buf: 0,
                    size_bytes: bytes.len(),
                    last_offset: rewritten.last_offset(),
                    max_timestamp: rewritten.max_timestamp(),
                };
                out.append(bytes, &[meta], self.index_interval_bytes)
            })?;
        }
        Ok(earliest_horizon)
    }
}

/// What compaction does to one batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Every record stays: the original bytes are kept.
    Unchanged,
    /// Some records (or the delete horizon) changed: the new batch bytes.
    Rewritten(Vec<u8>),
    /// No record stays.
    Dropped,
}

/// Applies the compaction rules to one batch: a record stays if it has a key, no
/// newer record of that key exists in `latest`, and it is not a tombstone past its
/// delete horizon. Control batches are kept as they are.
pub fn filter_batch(
    view: &BatchView<'_>,
    latest: &HashMap<Vec<u8>, i64>,
    now_ms: i64,
    delete_retention_ms: i64,
) -> Result<Filtered, RecordError> {
    if view.is_control() {
        return Ok(Filtered::Unchanged);
    }
    let data = record_data(view, DECOMPRESSED_BATCH_BYTES_MAX)?;
    let records = parse_records(&data, view.records_count())?;
    let horizon_passed = view.has_delete_horizon() && now_ms >= view.base_timestamp();
    let mut kept: Vec<&Record<'_>> = Vec::with_capacity(records.len());
    let mut has_tombstone = false;
    for r in &records {
        let offset = view.base_offset() + r.offset_delta as i64;
        let Some(key) = r.key else { continue };
        if latest.get(key).is_some_and(|&newest| newest > offset) {
            continue;
        }
        if r.value.is_none() {
            if horizon_passed {
                continue;
            }
            has_tombstone = true;
        }
        kept.push(r);
    }
    if kept.is_empty() {
        return Ok(Filtered::Dropped);
    }
    let set_horizon = has_tombstone && !view.has_delete_horizon();
    if kept.len() == records.len() && !set_horizon {
        return Ok(Filtered::Unchanged);
    }
    let timestamp_of = |r: &Record<'_>| view.base_timestamp() + r.timestamp_delta;
    let new_base_ts = if set_horizon {
        now_ms.saturating_add(delete_retention_ms)
    } else {
        view.base_timestamp()
    };
    let mut buffer = BytesMut::with_capacity(BATCH_HEADER_BYTES + data.len());
    buffer.resize(BATCH_HEADER_BYTES, 0);
    for r in &kept {
        if set_horizon {
            reencode_with_timestamp_delta(&mut buffer, r, timestamp_of(r) - new_base_ts);
        } else {
            buffer.extend_from_slice(r.bytes);
        }
    }
    let max_ts = if view.is_log_append_time() {
        view.max_timestamp()
    } else {
        kept.iter().map(|r| timestamp_of(r)).max().unwrap_or(-1)
    };
    // Base offset, last offset delta, producer fields and codec stay: offsets of
    // the kept records do not change.
    let mut header = BatchHeader::of(view);
    if set_horizon {
        header.set_flag(DELETE_HORIZON_BIT, true);
    }
    header.base_timestamp = new_base_ts;
    header.max_timestamp = max_ts;
    header.records_count = kept.len() as i32;
    let out = Vec::from(header.seal(view.codec(), buffer, BATCH_BYTES_MAX)?);
    Ok(Filtered::Rewritten(out))
}

/// Background work for one log: retention under the write lock (quick), then
/// compaction in three phases with the lock held only to plan and to swap.
pub(crate) fn run_retention_and_compaction(log: &SharedLog, now_ms: i64) -> Result<u64, LogError> {
    let deleted = log.write().apply_retention(now_ms)?;
    let plan = log.read().compaction_plan(now_ms);
    if let Some(plan) = plan {
        let generation = plan.generation;
        match plan.build(now_ms) {
            Ok(cleaned) => {
                let mut log = log.write();
                // A log removed while its cleaning was built has nothing to swap.
                if !log.is_deleted() {
                    log.swap_in(cleaned)?;
                }
            }
            // A truncation while building can make the source files shrink under
            // the reader; that is a change to retry later, not corruption.
            Err(_) if log.read().generation != generation => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
impl CleanedLog {
    /// The cleaned segments, for tests that simulate a crash mid-swap.
    pub(crate) fn into_groups_for_test(self) -> Vec<LogSegment> {
        self.groups.into_iter().map(|g| g.segment).collect()
    }
}
