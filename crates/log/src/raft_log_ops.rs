//! What the Raft metadata log needs beyond a data partition's operations: its start
//! moves up when a snapshot covers the entries below it (not by DeleteRecords, which
//! the metadata log refuses), and a truncation must be durable on its own (Raft may
//! not see a removed entry come back after a crash).

use crate::error::LogError;
use crate::partition_log::{wall_clock_ms, PartitionLog};

impl PartitionLog {
    /// Raises the log start to `offset`, deleting whole segments below it. Beyond the
    /// log end the log is emptied and restarts at `offset` (a snapshot newer than
    /// every entry was installed). Never lowers the log start.
    pub fn advance_log_start_past_snapshot(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_not_deleted()?;
        if offset <= self.log_start_offset {
            return Ok(());
        }
        if offset >= self.log_end_offset {
            return self.truncate_fully_and_start_at(offset);
        }
        self.log_start_offset = offset;
        self.high_watermark = self.high_watermark.max(offset);
        self.recovery_point = self.recovery_point.max(offset);
        self.cleaner_checkpoint = self.cleaner_checkpoint.max(offset);
        self.epochs.truncate_from_start(offset)?;
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let now_ms = wall_clock_ms();
        for pair in bases.windows(2) {
            // The next segment starts at or below the log start: this one is all purged.
            if pair[1] > offset {
                break;
            }
            if let Some(seg) = self.segments.remove(&pair[0]) {
                self.schedule_delete(seg, now_ms)?;
            }
        }
        Ok(())
    }

    /// fsyncs the active segment and the directory, so that a truncation survives a
    /// crash even when nothing is appended after it.
    pub fn sync_truncation(&mut self) -> Result<(), LogError> {
        self.check_not_deleted()?;
        self.active().sync_all()?;
        crate::checkpoint_file::sync_dir(&self.dir)?;
        self.dir_changes_synced = self.dir_changes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::{fill, small_config};
    use crate::{LogError, PartitionLog, TopicPartition, METADATA_LOG_TOPIC};

    fn open_metadata_log(dir: &std::path::Path, log_start: Option<i64>) -> PartitionLog {
        let tp = TopicPartition::new(METADATA_LOG_TOPIC, 0);
        PartitionLog::open(&dir.join(tp.dir_name()), tp, small_config(), 0, log_start).unwrap()
    }

    #[test]
    fn metadata_log_start_advances_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_metadata_log(dir.path(), None);
        fill(&mut log, 60, 3, 40);
        // DeleteRecords stays refused on the metadata log; a snapshot purge is not.
        assert!(matches!(
            log.delete_records_before(5),
            Err(LogError::Protected(_))
        ));
        let bases = log.segment_base_offsets();
        let target = bases[2] + 1;
        log.advance_log_start_past_snapshot(target).unwrap();
        assert_eq!(log.log_start_offset(), target);
        assert_eq!(log.segment_base_offsets()[0], bases[2]);
        assert!(log.read(target - 1, 10, i64::MAX, false).is_err());
        // Never lowers.
        log.advance_log_start_past_snapshot(1).unwrap();
        assert_eq!(log.log_start_offset(), target);
        log.flush().unwrap();
        let end = log.log_end_offset();
        drop(log);
        let log = open_metadata_log(dir.path(), Some(target));
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (target, end)
        );
    }

    #[test]
    fn advancing_past_the_end_empties_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_metadata_log(dir.path(), None);
        fill(&mut log, 10, 1, 10);
        log.advance_log_start_past_snapshot(25).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (25, 25));
    }

    #[test]
    fn truncation_is_synced_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_metadata_log(dir.path(), None);
        fill(&mut log, 10, 1, 10);
        log.flush().unwrap();
        log.truncate_to(4).unwrap();
        log.sync_truncation().unwrap();
        drop(log);
        let log = open_metadata_log(dir.path(), None);
        assert_eq!(log.log_end_offset(), 4);
    }
}
