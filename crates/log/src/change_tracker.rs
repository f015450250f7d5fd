//! Which partitions changed since the background pass last looked at them, so a
//! pass visits those (and the ones whose time came) instead of every partition.

use std::collections::HashSet;

use parking_lot::Mutex;

use crate::topic_partition::TopicPartition;

/// Partitions marked changed (appended to, truncated, flushed, reconfigured…).
/// A log marks itself at most once between two passes (see
/// `PartitionLog::note_change`), so a busy partition costs one insert per pass.
#[derive(Debug, Default)]
pub struct ChangeTracker {
    changed: Mutex<HashSet<TopicPartition>>,
}

impl ChangeTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `tp` changed.
    pub fn mark(&self, tp: &TopicPartition) {
        let mut changed = self.changed.lock();
        if !changed.contains(tp) {
            changed.insert(tp.clone());
        }
    }

    /// The partitions changed since the last call, forgetting them.
    pub fn take(&self) -> Vec<TopicPartition> {
        std::mem::take(&mut *self.changed.lock())
            .into_iter()
            .collect()
    }

    /// How many partitions are marked now.
    pub fn len(&self) -> usize {
        self.changed.lock().len()
    }

    /// True when no partition is marked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
