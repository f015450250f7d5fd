//! Flushing a partition log: which files must be fsynced for everything appended so
//! far to be durable, run without the log's lock, then the recovery point advanced.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::LogError;
use crate::partition_log::{wall_clock_ms, PartitionLog};

/// fsyncs that a flush needs, gathered under the lock and run outside it.
pub struct FlushPlan {
    /// Offset that is durable once the files are synced.
    pub(crate) target_offset: i64,
    generation: u64,
    dir_changes: u64,
    /// Segments whose indexes this plan syncs.
    index_bases: Vec<i64>,
    /// Data files (fdatasync) and index files (fsync, they are written via mmap).
    files: Vec<(PathBuf, Arc<File>, bool)>,
    dir: Option<PathBuf>,
    /// A file that could not be opened while planning (out of descriptors): the
    /// flush fails with it and nothing is advanced.
    open_error: Option<LogError>,
}

impl FlushPlan {
    /// Runs the fsyncs. Takes no lock: appends and reads continue meanwhile.
    pub fn execute(&self) -> Result<(), LogError> {
        if let Some(e) = &self.open_error {
            return Err(e.clone());
        }
        for (path, file, data_only) in &self.files {
            let r = if *data_only {
                file.sync_data()
            } else {
                file.sync_all()
            };
            r.map_err(LogError::at(path))?;
        }
        if let Some(dir) = &self.dir {
            crate::checkpoint_file::sync_dir(dir)?;
        }
        Ok(())
    }

    /// True when a sync of the filesystem `device` covers everything `execute`
    /// would sync: every file could be opened and lies on that filesystem.
    pub fn covered_by_filesystem(&self, device: u64) -> bool {
        if self.open_error.is_some() {
            return false;
        }
        let files_there = self
            .files
            .iter()
            .all(|(_, file, _)| file.metadata().is_ok_and(|m| m.dev() == device));
        let dir_there = match (&self.dir, self.files.is_empty()) {
            // A directory's entries live on its own filesystem, its files' one.
            (Some(dir), true) => std::fs::metadata(dir).is_ok_and(|m| m.dev() == device),
            _ => true,
        };
        files_there && dir_there
    }

    /// How many fsync calls `execute` makes.
    pub fn fsync_count(&self) -> usize {
        self.files.len() + usize::from(self.dir.is_some())
    }

    /// The offset that is durable once executed.
    pub fn target_offset(&self) -> i64 {
        self.target_offset
    }
}

impl PartitionLog {
    /// Gathers the fsyncs needed to make everything appended so far durable. `None`
    /// when nothing is dirty.
    pub fn flush_plan(&self) -> Option<FlushPlan> {
        if self.deleted {
            // Nothing of a removed log needs to survive a crash.
            return None;
        }
        let dir_dirty = self.dir_changes != self.dir_changes_synced;
        if self.recovery_point >= self.log_end_offset
            && !dir_dirty
            && self.unsynced_index_segments.is_empty()
        {
            return None;
        }
        let mut files = Vec::new();
        let mut index_bases = Vec::new();
        let mut open_error = None;
        // Only segments from the one holding the recovery point can hold unsynced data.
        let from = self
            .segments
            .range(..=self.recovery_point)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            if seg.next_offset() > self.recovery_point {
                match seg.log_file() {
                    Ok(file) => files.push((seg.log_path(), file, true)),
                    Err(e) => open_error = Some(e),
                }
            }
        }
        // A closed segment's indexes must be durable before the recovery point
        // passes it: recovery only rebuilds from the segment holding that point.
        for base in &self.unsynced_index_segments {
            if let Some(seg) = self.segments.get(base) {
                match seg.index_files() {
                    Ok(index_files) => {
                        for (path, file) in index_files {
                            files.push((path, file, false));
                        }
                    }
                    Err(e) => open_error = Some(e),
                }
                index_bases.push(*base);
            }
        }
        Some(FlushPlan {
            target_offset: self.log_end_offset,
            generation: self.generation,
            dir_changes: self.dir_changes,
            files,
            index_bases,
            dir: dir_dirty.then(|| self.dir.clone()),
            open_error,
        })
    }

    /// Advances the recovery point after `plan` was executed. Returns the new one.
    pub fn complete_flush(&mut self, plan: &FlushPlan, now_ms: i64) -> i64 {
        if plan.generation == self.generation {
            let target = plan.target_offset.min(self.log_end_offset);
            if target > self.recovery_point {
                self.recovery_point = target;
            }
            self.dir_changes_synced = self.dir_changes_synced.max(plan.dir_changes);
            for base in &plan.index_bases {
                self.unsynced_index_segments.remove(base);
            }
            if self.recovery_point >= self.log_end_offset {
                self.unflushed_messages = 0;
            }
            self.last_flush_ms = now_ms;
            self.note_change();
        }
        self.recovery_point
    }

    /// Flushes everything, including the active segment's indexes, for a clean
    /// shutdown (the next open trusts them). A log with nothing written since its
    /// files were last left that way (opened after a clean shutdown, or closed
    /// before) is not touched at all. Returns whether anything was written.
    pub fn close_for_shutdown(&mut self) -> Result<bool, LogError> {
        if self.is_at_rest() {
            return Ok(false);
        }
        self.flush()?;
        if self.tp.kind() == crate::topic_partition::LogKind::Data {
            self.take_producer_snapshot(true)?;
        }
        // As Kafka does on close: final time index entry, indexes trimmed to their
        // entries (so the next open reads no preallocated space), all synced.
        self.active_mut().on_become_inactive()?;
        self.active().sync_all()?;
        crate::checkpoint_file::sync_dir(&self.dir)?;
        // The directory sync covers the snapshot just renamed into place.
        self.dir_changes_synced = self.dir_changes;
        self.mark_at_rest();
        Ok(true)
    }

    /// Synchronous flush of everything appended so far; returns the new recovery point.
    pub fn flush(&mut self) -> Result<i64, LogError> {
        match self.flush_plan() {
            None => Ok(self.recovery_point),
            Some(plan) => {
                plan.execute()?;
                Ok(self.complete_flush(&plan, wall_clock_ms()))
            }
        }
    }
}
