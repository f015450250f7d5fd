//! A partition being moved to another log directory (AlterReplicaLogDirs): a copy
//! built in `<dest>/<topic>-<p>.<uuid>-future` from the current log's batches while
//! the current log keeps serving, caught up under the partition's write lock, then
//! swapped in. The old directory is renamed `-delete` and removed.
//!
//! Crash safety: until the swap only the `-future` copy exists in the destination,
//! and it is removed at the next start. The swap renames the copy to its final name
//! first and the old directory second: a crash between the two leaves the partition
//! in both directories, which start-up refuses, naming both (they hold the same
//! records; either may be removed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use thiserror::Error;

use crate::checkpoint_file::sync_dir;
use crate::error::LogError;
use crate::log_dirs::LogDirs;
use crate::manager::FUTURE_DIR_SUFFIX;
use crate::partition_log::PartitionLog;
use crate::properties_file::write_partition_metadata;
use crate::topic_partition::TopicPartition;

/// Bytes copied per read of the current log (under its read lock, briefly).
pub const MOVE_COPY_CHUNK_BYTES: usize = 1024 * 1024;

/// Why AlterReplicaLogDirs refused a partition (each maps to Kafka's error code).
#[derive(Debug, Error)]
pub enum MoveError {
    /// LOG_DIR_NOT_FOUND: not one of `log.dirs`.
    #[error("log directory {0} is not one of log.dirs")]
    DirNotFound(String),
    /// KAFKA_STORAGE_ERROR: the destination failed.
    #[error("log directory {0} is offline")]
    DirOffline(String),
    /// KAFKA_STORAGE_ERROR: the partition's log is offline.
    #[error("partition {0} is offline: {1}")]
    PartitionOffline(String, String),
    /// REPLICA_NOT_AVAILABLE: not hosted here (yet); it will be created in the
    /// directory asked for.
    #[error("partition {0} is not hosted on this broker")]
    NotHosted(String),
    /// KAFKA_STORAGE_ERROR.
    #[error(transparent)]
    Storage(#[from] LogError),
}

/// One move in progress.
pub struct FutureReplica {
    pub tp: TopicPartition,
    /// Index of the directory the partition leaves.
    pub src: usize,
    /// Index of the directory the partition goes to.
    pub dest: usize,
    cancelled: AtomicBool,
    end_offset: AtomicI64,
    size_bytes: AtomicU64,
}

impl FutureReplica {
    pub(crate) fn new(tp: TopicPartition, src: usize, dest: usize) -> Self {
        assert_ne!(src, dest, "a move goes to another directory");
        FutureReplica {
            tp,
            src,
            dest,
            cancelled: AtomicBool::new(false),
            end_offset: AtomicI64::new(0),
            size_bytes: AtomicU64::new(0),
        }
    }

    /// Asks the copy to stop; it removes its directory.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The copy's log end offset so far.
    pub fn end_offset(&self) -> i64 {
        self.end_offset.load(Ordering::Relaxed)
    }

    /// The copy's size so far.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes.load(Ordering::Relaxed)
    }

    /// Copies, catches up and swaps. `Ok(false)` when cancelled or when the
    /// partition went away meanwhile. The copy's directory is removed on any
    /// outcome but success.
    pub(crate) fn run(&self, dirs: &LogDirs) -> Result<bool, LogError> {
        let dest_root = dirs.dirs()[self.dest].data_dir().to_path_buf();
        let future_dir = dest_root.join(format!(
            "{}.{}{}",
            self.tp.dir_name(),
            uuid::Uuid::new_v4().simple(),
            FUTURE_DIR_SUFFIX
        ));
        let result = self.copy_and_swap(dirs, &future_dir);
        if !matches!(result, Ok(true)) && future_dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&future_dir) {
                tracing::warn!(dir = %future_dir.display(), error = %e, "could not remove an unfinished partition copy; it is removed at the next start");
            }
        }
        result
    }

    fn copy_and_swap(&self, dirs: &LogDirs, future_dir: &PathBuf) -> Result<bool, LogError> {
        let src = &dirs.dirs()[self.src];
        let dest = &dirs.dirs()[self.dest];
        let Some(log) = src.get(&self.tp) else {
            return Ok(false);
        };
        let topic_id = src.topic_id(&self.tp);
        let (config, start, mut generation) = {
            let l = log.read();
            (l.config().clone(), l.log_start_offset(), l.generation)
        };
        let mut future = PartitionLog::open(future_dir, self.tp.clone(), config, 0, None)?;
        if start > 0 {
            future.truncate_fully_and_start_at(start)?;
        }
        if let Some(id) = &topic_id {
            write_partition_metadata(future_dir, id)?;
        }
        // Copy while the current log serves, one chunk per brief read lock, until a
        // read finds less than a chunk left.
        loop {
            if self.is_cancelled() {
                return Ok(false);
            }
            let chunk = {
                let l = log.read();
                if l.is_deleted() {
                    return Ok(false);
                }
                if l.generation != generation {
                    // Truncated meanwhile: what was copied may differ, start again.
                    generation = l.generation;
                    future.truncate_fully_and_start_at(l.log_start_offset())?;
                }
                let next = future.log_end_offset().max(l.log_start_offset());
                if next > future.log_end_offset() {
                    future.truncate_fully_and_start_at(next)?;
                }
                l.read(next, MOVE_COPY_CHUNK_BYTES, i64::MAX, true)?
            };
            if !chunk.bytes.is_empty() {
                future.append_as_follower(&chunk.bytes)?;
                self.progress(&future);
            }
            if chunk.bytes.len() < MOVE_COPY_CHUNK_BYTES {
                break;
            }
        }
        // Catch up and swap with appends held off by the write lock.
        let mut current = log.write();
        if self.is_cancelled() || current.is_deleted() {
            return Ok(false);
        }
        if current.generation != generation {
            future.truncate_fully_and_start_at(current.log_start_offset())?;
        }
        if current.log_start_offset() > future.log_start_offset() {
            future.delete_records_before(current.log_start_offset())?;
        }
        while future.log_end_offset() < current.log_end_offset() {
            let next = future.log_end_offset().max(current.log_start_offset());
            let chunk = current.read(next, MOVE_COPY_CHUNK_BYTES, i64::MAX, true)?;
            if chunk.bytes.is_empty() {
                break;
            }
            future.append_as_follower(&chunk.bytes)?;
        }
        assert_eq!(
            future.log_end_offset(),
            current.log_end_offset(),
            "the copy of {} caught up",
            self.tp
        );
        // Leader epochs taken without records are not in any batch.
        for (epoch, start_offset) in current.epoch_entries() {
            future.assign_leader_epoch(epoch, start_offset)?;
        }
        future.close_for_shutdown()?;
        let end = future.log_end_offset();
        drop(future);
        let final_dir = dest.data_dir().join(self.tp.dir_name());
        if final_dir.exists() {
            return Err(LogError::DuplicatePartition {
                partition: self.tp.to_string(),
                first: src.data_dir().to_path_buf(),
                second: dest.data_dir().to_path_buf(),
            });
        }
        std::fs::rename(future_dir, &final_dir).map_err(LogError::at(future_dir))?;
        sync_dir(dest.data_dir())?;
        let reopened = PartitionLog::open_with_options(
            &final_dir,
            self.tp.clone(),
            current.config().clone(),
            end,
            Some(current.log_start_offset()),
            true,
        );
        let mut moved = match reopened {
            Ok(moved) => moved,
            Err(e) => {
                // Back to its temporary name, so that it is removed like any copy
                // that did not finish.
                std::fs::rename(&final_dir, future_dir).map_err(LogError::at(&final_dir))?;
                return Err(e);
            }
        };
        moved.set_high_watermark(current.high_watermark());
        moved.set_cleaner_checkpoint(current.cleaner_checkpoint());
        moved.track_changes(dest.change_tracker());
        let mut old = std::mem::replace(&mut *current, moved);
        // Visible in the destination before it leaves the source: a flush asked for
        // meanwhile finds it in one or the other, both holding the same log.
        dest.adopt(&self.tp, std::sync::Arc::clone(&log), topic_id);
        src.release(&self.tp);
        let from = old.dir().to_path_buf();
        let to = src.deletion_path(&self.tp);
        std::fs::rename(&from, &to).map_err(LogError::at(&from))?;
        old.mark_deleted(to.clone());
        drop(current);
        drop(old);
        sync_dir(src.data_dir())?;
        if let Err(e) = std::fs::remove_dir_all(&to) {
            tracing::warn!(dir = %to.display(), error = %e, "could not delete the moved partition's old directory; it is removed at the next start");
        }
        Ok(true)
    }

    fn progress(&self, future: &PartitionLog) {
        self.end_offset
            .store(future.log_end_offset(), Ordering::Relaxed);
        self.size_bytes
            .store(future.size_bytes(), Ordering::Relaxed);
    }
}
