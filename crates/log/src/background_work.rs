//! Counters of what the background passes did, so tests (and operators) can see
//! that a pass costs what changed, not what exists.

use std::sync::atomic::{AtomicU64, Ordering};

/// Totals since the manager opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackgroundWork {
    /// Background passes run.
    pub passes: u64,
    /// Partitions a pass looked at (changed, or due by time).
    pub partitions_visited: u64,
    /// Checkpoint files rewritten.
    pub checkpoint_files_written: u64,
    /// Partitions a clean shutdown had to write and fsync (the others had nothing
    /// written since they were last left at rest).
    pub partitions_synced_at_shutdown: u64,
}

/// The live counters behind [`BackgroundWork`].
#[derive(Debug, Default)]
pub struct BackgroundCounters {
    passes: AtomicU64,
    partitions_visited: AtomicU64,
    checkpoint_files_written: AtomicU64,
    partitions_synced_at_shutdown: AtomicU64,
}

impl BackgroundCounters {
    pub fn pass(&self, partitions_visited: u64) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.partitions_visited
            .fetch_add(partitions_visited, Ordering::Relaxed);
    }

    pub fn file_written(&self) {
        self.checkpoint_files_written
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn synced_at_shutdown(&self) {
        self.partitions_synced_at_shutdown
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> BackgroundWork {
        BackgroundWork {
            passes: self.passes.load(Ordering::Relaxed),
            partitions_visited: self.partitions_visited.load(Ordering::Relaxed),
            checkpoint_files_written: self.checkpoint_files_written.load(Ordering::Relaxed),
            partitions_synced_at_shutdown: self
                .partitions_synced_at_shutdown
                .load(Ordering::Relaxed),
        }
    }
}
