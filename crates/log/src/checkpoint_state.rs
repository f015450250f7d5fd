//! What the offset checkpoint files (recovery points, high watermarks, log starts,
//! cleaner offsets) say, kept in memory so a pass updates only the partitions that
//! changed and rewrites only a file whose content changed.

use std::collections::BTreeMap;

use crate::topic_partition::TopicPartition;

/// One partition's line in each checkpoint file (`cleaned` only for a log
/// compaction has cleaned past its start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointEntry {
    pub recovery_point: i64,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub cleaned_up_to: Option<i64>,
}

/// The checkpoint files, by index into [`CheckpointState::dirty`].
pub const CHECKPOINT_FILE_COUNT: usize = 4;

/// Every partition's entry and which files differ from what was last written.
#[derive(Debug)]
pub struct CheckpointState {
    entries: BTreeMap<TopicPartition, CheckpointEntry>,
    /// recovery, replication, log start, cleaner: content differs from the file.
    dirty: [bool; CHECKPOINT_FILE_COUNT],
}

impl Default for CheckpointState {
    /// Nothing known yet: every file is written by the first pass.
    fn default() -> Self {
        CheckpointState {
            entries: BTreeMap::new(),
            dirty: [true; CHECKPOINT_FILE_COUNT],
        }
    }
}

impl CheckpointState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `tp`'s entry, marking the files whose line changes.
    pub fn update(&mut self, tp: &TopicPartition, entry: CheckpointEntry) {
        match self.entries.get_mut(tp) {
            Some(old) => {
                if *old == entry {
                    return;
                }
                self.dirty[0] |= old.recovery_point != entry.recovery_point;
                self.dirty[1] |= old.high_watermark != entry.high_watermark;
                self.dirty[2] |= old.log_start_offset != entry.log_start_offset;
                self.dirty[3] |= old.cleaned_up_to != entry.cleaned_up_to;
                *old = entry;
            }
            None => {
                self.entries.insert(tp.clone(), entry);
                self.dirty[..3].fill(true);
                self.dirty[3] |= entry.cleaned_up_to.is_some();
            }
        }
    }

    /// Forgets `tp` (removed, or moved to another directory).
    pub fn remove(&mut self, tp: &TopicPartition) {
        if let Some(old) = self.entries.remove(tp) {
            self.dirty[..3].fill(true);
            self.dirty[3] |= old.cleaned_up_to.is_some();
        }
    }

    /// Every file must be rewritten (something outside the entries changed).
    pub fn mark_all_dirty(&mut self) {
        self.dirty = [true; CHECKPOINT_FILE_COUNT];
    }

    /// Which files differ from what was written.
    pub fn dirty(&self) -> [bool; CHECKPOINT_FILE_COUNT] {
        self.dirty
    }

    /// Which files differ from what was written, now taken to be written.
    pub fn take_dirty(&mut self) -> [bool; CHECKPOINT_FILE_COUNT] {
        std::mem::replace(&mut self.dirty, [false; CHECKPOINT_FILE_COUNT])
    }

    /// These files still need writing (a write failed).
    pub fn mark_dirty(&mut self, files: [bool; CHECKPOINT_FILE_COUNT]) {
        for (dirty, again) in self.dirty.iter_mut().zip(files) {
            *dirty |= again;
        }
    }

    pub fn entries(&self) -> &BTreeMap<TopicPartition, CheckpointEntry> {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(recovery_point: i64, high_watermark: i64) -> CheckpointEntry {
        CheckpointEntry {
            recovery_point,
            high_watermark,
            log_start_offset: 0,
            cleaned_up_to: None,
        }
    }

    #[test]
    fn only_changed_lines_make_files_dirty() {
        let tp = TopicPartition::new("t", 0);
        let mut s = CheckpointState::new();
        s.update(&tp, entry(5, 5));
        assert_eq!(s.dirty(), [true; 4]);
        s.take_dirty();
        s.update(&tp, entry(5, 5));
        assert_eq!(s.dirty(), [false; 4]);
        s.update(&tp, entry(5, 7));
        assert_eq!(s.dirty(), [false, true, false, false]);
        s.take_dirty();
        s.remove(&tp);
        assert_eq!(s.dirty(), [true, true, true, false]);
    }
}
