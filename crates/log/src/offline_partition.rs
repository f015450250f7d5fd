//! A partition whose log could not be opened at start. The broker keeps running
//! without it (as Kafka does), reports it offline to clients, and keeps its
//! checkpoint entries so that once repaired it reopens where it was (in particular
//! its log start offset: records deleted before must stay deleted).

use crate::checkpoint_state::CHECKPOINT_FILE_COUNT;
use crate::topic_partition::TopicPartition;

/// Why the partition is offline and what the checkpoints last said about it.
#[derive(Debug, Clone, Default)]
pub struct OfflinePartition {
    /// The error that kept the log from opening.
    pub reason: String,
    pub(crate) recovery_point: Option<i64>,
    pub(crate) high_watermark: Option<i64>,
    pub(crate) log_start_offset: Option<i64>,
    pub(crate) cleaned_up_to: Option<i64>,
}

impl OfflinePartition {
    /// Adds this partition's kept lines to the checkpoint `files` that are `dirty`
    /// (recovery points, high watermarks, log starts, cleaner offsets).
    pub(crate) fn push_lines(
        &self,
        tp: &TopicPartition,
        dirty: [bool; CHECKPOINT_FILE_COUNT],
        files: &mut [Vec<(TopicPartition, i64)>; CHECKPOINT_FILE_COUNT],
    ) {
        let values = [
            self.recovery_point,
            self.high_watermark,
            self.log_start_offset,
            self.cleaned_up_to,
        ];
        for (i, value) in values.into_iter().enumerate() {
            if let (true, Some(offset)) = (dirty[i], value) {
                files[i].push((tp.clone(), offset));
            }
        }
    }
}
