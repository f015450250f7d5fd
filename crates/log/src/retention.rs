//! Removing data: truncation (replication), DeleteRecords, and time/size retention.

use std::os::unix::fs::MetadataExt;

use crate::error::LogError;
use crate::log_loader::DELETED_SUFFIX;
use crate::partition_log::{wall_clock_ms, PartitionLog};
use crate::segment::LogSegment;
use crate::topic_partition::LogKind;

impl PartitionLog {
    /// Removes every offset >= `offset` (whole batches: the batch holding `offset`
    /// goes too, as in Kafka). Below the log start the log is emptied and restarts
    /// at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_not_deleted()?;
        if offset >= self.log_end_offset {
            // No record goes, but an epoch starting at the log end does (as in Kafka):
            // a replica that led, assigned its epoch there and lost leadership before
            // appending anything keeps an epoch the new leader never had, and its
            // fetches would be answered "diverged, truncate to your end" for ever.
            let end = self.log_end_offset;
            return self.epochs.truncate_from_end(end);
        }
        self.generation += 1;
        #[allow(clippy::expect_used)] // Invariant: a log always has a segment.
        let first_base = *self
            .segments
            .keys()
            .next()
            .expect("a log always has a segment");
        if offset < self.log_start_offset || offset <= first_base {
            return self.truncate_fully_and_start_at(offset.max(0));
        }
        let doomed: Vec<i64> = self.segments.range(offset..).map(|(b, _)| *b).collect();
        let now_ms = wall_clock_ms();
        for base in &doomed {
            if let Some(seg) = self.segments.remove(base) {
                self.schedule_delete(seg, now_ms)?;
            }
        }
        let max_index_bytes = self.config.segment_index_bytes;
        // A closed segment that becomes active again needs its indexes regrown.
        let was_closed = !doomed.is_empty();
        let active_base = self.active().base_offset();
        self.unsynced_index_segments.remove(&active_base);
        let active = self.active_mut();
        let removed = active.truncate_to(offset)?;
        if was_closed {
            active.on_become_active(max_index_bytes)?;
        }
        let new_end = active.next_offset().max(active.base_offset());
        self.log_end_offset = new_end;
        self.recovery_point = self.recovery_point.min(new_end);
        self.high_watermark = self.high_watermark.min(new_end);
        self.cleaner_checkpoint = self.cleaner_checkpoint.min(new_end);
        self.epochs.truncate_from_end(new_end)?;
        if self.tp.kind() == LogKind::Data {
            // The state may describe removed batches: rebuild it from what is left.
            self.load_producer_state()?;
        }
        self.dir_changes += 1;
        self.note_change();
        tracing::info!(partition = %self.tp, offset, new_end, bytes_removed = removed, "truncated log");
        Ok(())
    }

    /// Deletes every segment and starts an empty log at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_not_deleted()?;
        self.generation += 1;
        let now_ms = wall_clock_ms();
        let all: Vec<i64> = self.segments.keys().copied().collect();
        for base in all {
            if let Some(seg) = self.segments.remove(&base) {
                self.schedule_delete(seg, now_ms)?;
            }
        }
        self.unsynced_index_segments.clear();
        let seg = LogSegment::create(
            &self.dir,
            offset,
            self.config.segment_index_bytes,
            "",
            now_ms,
        )?;
        self.segments.insert(offset, seg);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.recovery_point = offset;
        self.high_watermark = offset;
        self.cleaner_checkpoint = offset;
        self.epochs.clear()?;
        crate::producer_state_file::delete_where(&self.dir, |_| true)?;
        self.producers = crate::producer_state::ProducerStateManager::new(offset);
        self.dir_changes += 1;
        self.note_change();
        tracing::info!(partition = %self.tp, offset, "truncated log fully");
        Ok(())
    }

    /// DeleteRecords: raises the log start to `offset` (deleting whole segments below
    /// it); returns the new log start.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        self.check_not_deleted()?;
        if self.tp.kind() == LogKind::Metadata {
            return Err(LogError::Protected(self.tp.to_string()));
        }
        if offset > self.log_end_offset || offset < 0 {
            return Err(self.out_of_range(offset));
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.high_watermark = self.high_watermark.max(offset);
            self.recovery_point = self.recovery_point.max(offset);
            self.cleaner_checkpoint = self.cleaner_checkpoint.max(offset);
            self.epochs.truncate_from_start(offset)?;
            self.delete_segments_below_log_start(wall_clock_ms())?;
            self.note_change();
        }
        Ok(self.log_start_offset)
    }

    /// Closed segments lying wholly below the log start. Returns bytes removed.
    fn delete_segments_below_log_start(&mut self, now_ms: i64) -> Result<u64, LogError> {
        let mut bytes = 0;
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        for pair in bases.windows(2) {
            // The next segment's base <= log start: this one holds nothing visible.
            if pair[1] > self.log_start_offset {
                break;
            }
            if let Some(seg) = self.segments.remove(&pair[0]) {
                bytes += seg.size_bytes();
                self.schedule_delete(seg, now_ms)?;
            }
        }
        Ok(bytes)
    }

    /// Renames a removed segment to `*.deleted`, to be deleted after
    /// `file.delete.delay.ms` (immediately when that is 0).
    pub(crate) fn schedule_delete(
        &mut self,
        mut seg: LogSegment,
        now_ms: i64,
    ) -> Result<(), LogError> {
        self.unsynced_index_segments.remove(&seg.base_offset());
        self.dir_changes += 1;
        self.note_change();
        // Snapshots go with their segments.
        self.delete_old_producer_snapshots()?;
        if self.config.file_delete_delay_ms <= 0 {
            return seg.delete_files();
        }
        seg.change_suffix(DELETED_SUFFIX)?;
        self.pending_deletes
            .push((seg, now_ms.saturating_add(self.config.file_delete_delay_ms)));
        Ok(())
    }

    /// Deletes the `*.deleted` files whose delay has passed.
    pub(crate) fn delete_due_files(&mut self, now_ms: i64) -> Result<(), LogError> {
        let mut i = 0;
        while i < self.pending_deletes.len() {
            if self.pending_deletes[i].1 <= now_ms {
                let (seg, _) = self.pending_deletes.swap_remove(i);
                seg.delete_files()?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Retention + compaction for this log, per its config (a data log's; the
    /// metadata log keeps everything): deletes closed segments
    /// past `retention.ms` (by their newest timestamp) or beyond `retention.bytes`
    /// (oldest first), never the active one, and compacts when `cleanup.policy`
    /// includes `compact`. Returns the bytes deleted by retention.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<u64, LogError> {
        let deleted = self.apply_retention(now_ms)?;
        if self.config.cleanup_policy.compact && !self.deleted {
            self.compact(now_ms)?;
        }
        Ok(deleted)
    }

    /// The retention part of [`PartitionLog::enforce_retention`] (quick: renames).
    pub(crate) fn apply_retention(&mut self, now_ms: i64) -> Result<u64, LogError> {
        if self.deleted {
            // Its files are gone with the renamed directory.
            return Ok(0);
        }
        self.delete_due_files(now_ms)?;
        if self.tp.kind() == LogKind::Metadata {
            return Ok(0);
        }
        let mut deleted = self.delete_segments_below_log_start(now_ms)?;
        if self.config.cleanup_policy.delete {
            deleted += self.delete_retention_ms_breached(now_ms)?;
            deleted += self.delete_retention_size_breached(now_ms)?;
        }
        Ok(deleted)
    }

    /// Newest timestamp in a segment, or its file's modification time if it holds
    /// no timestamps (as Kafka does).
    pub(crate) fn segment_largest_timestamp(seg: &LogSegment) -> i64 {
        if seg.max_timestamp() >= 0 {
            return seg.max_timestamp();
        }
        std::fs::metadata(seg.log_path())
            .map_or(i64::MAX, |m| m.mtime() * 1000 + m.mtime_nsec() / 1_000_000)
    }

    fn delete_oldest_while(
        &mut self,
        now_ms: i64,
        mut doomed: impl FnMut(&LogSegment) -> bool,
    ) -> Result<u64, LogError> {
        let mut bytes = 0;
        loop {
            if self.segments.len() <= 1 {
                break;
            }
            // Invariant: more than one segment (checked above), and the active one stays.
            #[allow(clippy::expect_used)]
            let (&base, seg) = self.segments.iter().next().expect("non-empty");
            if !doomed(seg) {
                break;
            }
            #[allow(clippy::expect_used)] // Invariant: `base` was just read from the map.
            let seg = self.segments.remove(&base).expect("present");
            bytes += seg.size_bytes();
            #[allow(clippy::expect_used)] // Invariant: the active segment remains.
            let next_base = *self.segments.keys().next().expect("active remains");
            self.log_start_offset = self.log_start_offset.max(next_base);
            self.high_watermark = self.high_watermark.max(self.log_start_offset);
            self.recovery_point = self.recovery_point.max(self.log_start_offset);
            self.cleaner_checkpoint = self.cleaner_checkpoint.max(self.log_start_offset);
            tracing::info!(partition = %self.tp, base_offset = base, size_bytes = seg.size_bytes(), "deleting segment by retention");
            self.schedule_delete(seg, now_ms)?;
        }
        if bytes > 0 {
            self.epochs.truncate_from_start(self.log_start_offset)?;
        }
        Ok(bytes)
    }

    fn delete_retention_ms_breached(&mut self, now_ms: i64) -> Result<u64, LogError> {
        let retention_ms = self.config.retention_ms;
        if retention_ms < 0 {
            return Ok(0);
        }
        self.delete_oldest_while(now_ms, |seg| {
            now_ms - Self::segment_largest_timestamp(seg) > retention_ms
        })
    }

    fn delete_retention_size_breached(&mut self, now_ms: i64) -> Result<u64, LogError> {
        let retention_bytes = self.config.retention_bytes;
        if retention_bytes < 0 {
            return Ok(0);
        }
        let mut excess = self.size_bytes() as i64 - retention_bytes;
        self.delete_oldest_while(now_ms, |seg| {
            if excess - seg.size_bytes() as i64 >= 0 {
                excess -= seg.size_bytes() as i64;
                true
            } else {
                false
            }
        })
    }
}
