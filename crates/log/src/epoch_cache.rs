//! The leader epoch cache and its `leader-epoch-checkpoint` file.
//!
//! Each entry is (epoch, start offset): the first offset written under that leader
//! epoch. Replication uses it (OffsetsForLeaderEpoch) to find where a follower's log
//! diverges from the leader's.

use std::path::{Path, PathBuf};

use crate::checkpoint_file::{read_checkpoint, write_checkpoint};
use crate::error::LogError;

/// File name inside the partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const LEADER_EPOCH_CHECKPOINT_VERSION: i32 = 0;

/// Epoch -> start offset, ordered by both.
pub(crate) struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<(i32, i64)>,
    /// The file lacks an entry (or keeps one) that only concerns offsets with no
    /// record yet: an epoch taken by becoming leader, or one dropped at load because
    /// it started at the log end. Such an entry is rebuilt or made irrelevant by the
    /// next leadership, so it is written with the next record, not on its own.
    unpersisted: bool,
}

impl LeaderEpochCache {
    /// Loads the checkpoint from `dir` (empty cache if absent).
    pub fn load(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let mut entries = Vec::new();
        if let Some((version, lines)) = read_checkpoint(&path)? {
            if version != LEADER_EPOCH_CHECKPOINT_VERSION {
                return Err(LogError::corrupt(
                    &path,
                    format!("unknown version {version}"),
                ));
            }
            for line in lines {
                let mut parts = line.split_whitespace();
                let parsed = (|| {
                    let epoch: i32 = parts.next()?.parse().ok()?;
                    let offset: i64 = parts.next()?.parse().ok()?;
                    parts.next().is_none().then_some((epoch, offset))
                })();
                let Some(entry) = parsed else {
                    return Err(LogError::corrupt(&path, format!("bad line {line:?}")));
                };
                entries.push(entry);
            }
        }
        Ok(LeaderEpochCache {
            path,
            entries,
            unpersisted: false,
        })
    }

    /// A fresh, empty cache (its file is written on the first change).
    #[cfg(test)]
    pub fn empty(dir: &Path) -> Self {
        LeaderEpochCache {
            path: dir.join(LEADER_EPOCH_CHECKPOINT_FILE),
            entries: Vec::new(),
            unpersisted: false,
        }
    }

    fn persist(&mut self) -> Result<(), LogError> {
        self.unpersisted = false;
        let lines: Vec<String> = self
            .entries
            .iter()
            .map(|(e, o)| format!("{e} {o}"))
            .collect();
        write_checkpoint(&self.path, LEADER_EPOCH_CHECKPOINT_VERSION, &lines)
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// Records that `epoch` starts at `start_offset`, if it is newer than the latest.
    /// Entries with a start offset >= this one are dropped first (they were never
    /// really written). Persists when something changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        if epoch < 0 || self.latest_epoch().is_some_and(|e| e >= epoch) {
            if self.unpersisted && epoch >= 0 {
                // A record is written at or past an entry kept only in memory.
                self.persist()?;
            }
            return Ok(());
        }
        self.entries.retain(|(_, o)| *o < start_offset);
        self.entries.push((epoch, start_offset));
        self.persist()
    }

    /// Like [`Self::assign`] for an epoch that starts at the log end with no record
    /// yet (a new leadership): kept in memory, and written with the first record
    /// appended, so taking leadership of an idle partition writes no file.
    pub fn assign_at_log_end(&mut self, epoch: i32, log_end: i64) {
        if epoch < 0 || self.latest_epoch().is_some_and(|e| e >= epoch) {
            return;
        }
        self.entries.retain(|(_, o)| *o < log_end);
        self.entries.push((epoch, log_end));
        self.unpersisted = true;
    }

    /// At load: drops entries starting at or after the log end (no record of theirs
    /// survived) in memory only; the file is rewritten with the next change.
    pub fn forget_from_end(&mut self, log_end: i64) {
        let before = self.entries.len();
        self.entries.retain(|(_, o)| *o < log_end);
        if self.entries.len() != before {
            self.unpersisted = true;
        }
    }

    /// Whether the file differs from the entries in memory.
    #[cfg(test)]
    pub fn is_unpersisted(&self) -> bool {
        self.unpersisted
    }

    /// Kafka's `endOffsetFor`: `(epoch, end offset)` of the largest epoch <= `epoch`,
    /// where the end is the next epoch's start (or `log_end` for the latest).
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> Option<(i32, i64)> {
        if epoch < 0 {
            return None;
        }
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, log_end));
        }
        let higher = self.entries.iter().find(|(e, _)| *e > epoch)?;
        match self.entries.iter().rev().find(|(e, _)| *e <= epoch) {
            Some((floor, _)) => Some((*floor, higher.1)),
            None => Some((epoch, higher.1)),
        }
    }

    /// Drops entries starting at or after `end_offset` (log truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<(), LogError> {
        let before = self.entries.len();
        self.entries.retain(|(_, o)| *o < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Log start moved to `start_offset`: entries wholly below it go, and the epoch
    /// covering it now starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<(), LogError> {
        let covering = self.entries.iter().rposition(|(_, o)| *o <= start_offset);
        let Some(i) = covering else { return Ok(()) };
        if i == 0 && self.entries[0].1 == start_offset {
            return Ok(());
        }
        self.entries.drain(..i);
        self.entries[0].1 = start_offset;
        self.persist()
    }

    /// Empties the cache (log fully truncated).
    pub fn clear(&mut self) -> Result<(), LogError> {
        if !self.entries.is_empty() {
            self.entries.clear();
            self.persist()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_persists_and_answers_end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        c.assign(1, 0).unwrap();
        c.assign(1, 5).unwrap(); // not newer
        c.assign(3, 10).unwrap();
        c.assign(2, 12).unwrap(); // older epoch: ignored
        assert_eq!(c.entries(), &[(1, 0), (3, 10)]);
        let text = std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n2\n1 0\n3 10\n");
        let c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c.end_offset_for(3, 20), Some((3, 20)));
        assert_eq!(c.end_offset_for(1, 20), Some((1, 10)));
        assert_eq!(c.end_offset_for(2, 20), Some((1, 10)));
        assert_eq!(c.end_offset_for(0, 20), Some((0, 0)));
        assert_eq!(c.end_offset_for(4, 20), None);
    }

    #[test]
    fn an_epoch_without_records_is_written_with_its_first_record() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
        let mut c = LeaderEpochCache::empty(dir.path());
        c.assign(1, 0).unwrap();
        let written = std::fs::read_to_string(&file).unwrap();
        // Leadership at epoch 4 with the log ending at 10: memory only.
        c.assign_at_log_end(4, 10);
        assert_eq!(c.entries(), &[(1, 0), (4, 10)]);
        assert_eq!(c.end_offset_for(1, 10), Some((1, 10)));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
        // The first record under it writes the file.
        c.assign(4, 10).unwrap();
        assert!(!c.is_unpersisted());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0\n2\n1 0\n4 10\n");
        // Reloaded with the log ending at 10 (the epoch-4 record lost in a crash):
        // dropped in memory, the file left alone.
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        c.forget_from_end(10);
        assert_eq!(c.entries(), &[(1, 0)]);
        assert!(c.is_unpersisted());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0\n2\n1 0\n4 10\n");
    }

    #[test]
    fn truncation_from_both_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        c.assign(0, 0).unwrap();
        c.assign(1, 10).unwrap();
        c.assign(2, 20).unwrap();
        c.truncate_from_end(20).unwrap();
        assert_eq!(c.entries(), &[(0, 0), (1, 10)]);
        c.truncate_from_start(15).unwrap();
        assert_eq!(c.entries(), &[(1, 15)]);
    }
}
