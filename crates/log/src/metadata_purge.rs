//! The metadata log's only way to lose records: once a snapshot holds everything
//! before an offset, the records before it may go (KRaft does the same). Client
//! DeleteRecords and retention never touch the metadata log.

use crate::partition_log::PartitionLog;
use crate::{LogError, LogKind};

impl PartitionLog {
    /// Raises the metadata log's start to `offset`, which a durable snapshot covers;
    /// whole segments below it are deleted. Returns the new log start.
    pub fn purge_metadata_before(&mut self, offset: i64) -> Result<i64, LogError> {
        self.check_not_deleted()?;
        assert!(
            self.topic_partition().kind() == LogKind::Metadata,
            "only the metadata log is purged below a snapshot"
        );
        self.raise_log_start(offset)
    }
}
