//! Whether a partition's files are still exactly what a clean shutdown leaves
//! (everything synced, indexes trimmed, a producer snapshot at the log end), so the
//! next clean shutdown has nothing to write or fsync for it. Most partitions of a
//! large broker are idle: syncing each of them at every stop is what made a clean
//! stop take as long as the partition count.

use crate::partition_log::PartitionLog;

/// What changes whenever a partition's files change: recorded when its files were
/// last left at rest (a clean open, a clean close) and compared at shutdown. An
/// append moves the log end, a truncation bumps the generation, a roll, a deletion,
/// a compaction swap or a snapshot bumps the directory changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AtRest {
    generation: u64,
    dir_changes: u64,
    log_start_offset: i64,
    log_end_offset: i64,
    segment_count: usize,
    active_base_offset: Option<i64>,
}

impl AtRest {
    /// `log`'s state now.
    pub(crate) fn of(log: &PartitionLog) -> Self {
        AtRest {
            generation: log.generation,
            dir_changes: log.dir_changes,
            log_start_offset: log.log_start_offset,
            log_end_offset: log.log_end_offset,
            segment_count: log.segments.len(),
            active_base_offset: log.segments.keys().next_back().copied(),
        }
    }
}

impl PartitionLog {
    /// True when nothing was written to this log since its files were last left as a
    /// clean shutdown leaves them: a clean shutdown needs no write and no fsync.
    pub fn is_at_rest(&self) -> bool {
        !self.deleted
            && self.recovery_point >= self.log_end_offset
            && self.dir_changes == self.dir_changes_synced
            && self.unsynced_index_segments.is_empty()
            && self.at_rest == Some(AtRest::of(self))
    }

    /// Records that the files are now as a clean shutdown leaves them.
    pub(crate) fn mark_at_rest(&mut self) {
        self.at_rest = Some(AtRest::of(self));
    }
}
