//! A partition whose log could not be opened at start. The broker keeps running
//! without it (as Kafka does), reports it offline to clients, and keeps its
//! checkpoint entries so that once repaired it reopens where it was (in particular
//! its log start offset: records deleted before must stay deleted).

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
