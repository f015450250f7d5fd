//! The log's error type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use moldau_protocol::batch::BatchError;
use thiserror::Error;

/// Everything that can go wrong in the log. `Clone` because one failed fsync must be
/// reported to every waiter of a group commit.
#[derive(Debug, Error, Clone)]
pub enum LogError {
    /// A file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The requested offset lies outside `[log_start, log_end]`.
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// A batch handed to `append` is malformed.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A batch (or a whole append) is larger than a segment may hold.
    #[error("record batch of {size_bytes} bytes exceeds segment_bytes {segment_bytes}")]
    BatchTooLarge { size_bytes: u64, segment_bytes: u64 },
    /// A follower append does not continue the log (offsets must grow from the log end).
    #[error("append at offset {first_offset} does not follow log end {log_end}")]
    UnexpectedAppendOffset { first_offset: i64, log_end: i64 },
    /// A file on disk does not have the expected format.
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// meta.properties belongs to another node.
    #[error(
        "data directory {path} is formatted for node.id {found} (meta.properties), but this node's node.id is {expected}"
    )]
    NodeIdMismatch {
        path: PathBuf,
        found: i32,
        expected: i32,
    },
    /// meta.properties belongs to another cluster.
    #[error(
        "data directory {path} is formatted for cluster.id {found} (meta.properties), but this node expects cluster.id {expected}"
    )]
    ClusterIdMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    /// The partition's data is still being checked after an unclean shutdown.
    #[error(
        "partition {0} is being recovered after an unclean shutdown; it is served once recovered"
    )]
    Recovering(String),
    /// No log is open for this topic-partition.
    #[error("unknown topic-partition {0}")]
    UnknownPartition(String),
    /// A configuration value is out of its allowed range.
    #[error("invalid log config: {0}")]
    InvalidConfig(String),
    /// Another process (or another log manager) holds the data directory's `.lock`.
    #[error("data directory {dir} is in use by another broker (its .lock file is held); stop that broker or use another directory")]
    DirLocked { dir: PathBuf },
    /// Two log directories of one broker belong to different clusters.
    #[error(
        "log directory {dir} belongs to cluster {found}, the other log directories to {expected}"
    )]
    DirClusterMismatch {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    /// A partition's log was found in two log directories.
    #[error("partition {partition} is in two log directories, {first} and {second}; remove one copy (after a move that was interrupted, they hold the same records)")]
    DuplicatePartition {
        partition: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// Every log directory failed at start-up: nothing is left to serve.
    #[error("every log directory failed, the broker cannot start: {reasons}")]
    AllDirsFailed { reasons: String },
    /// Records of the metadata log are never deleted (DeleteRecords, retention).
    #[error("records of {0} are never deleted")]
    Protected(String),
    /// The partition was removed (its topic deleted); this log object is retired.
    #[error("partition {0} was deleted")]
    Deleted(String),
    /// An earlier write or fsync in this log directory failed: nothing more is
    /// written or acknowledged from it (Kafka takes the directory offline).
    #[error("log directory is offline after an I/O error")]
    DirOffline,
    /// A produced batch breaks its producer's epoch or sequence.
    /// A control batch that is not a COMMIT or ABORT marker of a producer.
    #[error("control batch is not a transaction marker of a producer")]
    InvalidControlBatch,
    #[error(transparent)]
    Producer(#[from] crate::producer_state::ProducerStateError),
    /// The manager is shutting down and takes no more work.
    #[error("log manager is shut down")]
    ShutDown,
}

impl LogError {
    /// Wraps an `io::Error` with the path it happened on.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }

    /// A closure for `map_err` that attaches `path`.
    pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
        move |e| LogError::io(path, e)
    }

    /// Whether this is a fault of the directory's storage (an I/O error, a corrupt
    /// file), which takes only that directory offline, rather than a configuration
    /// mistake (another node's or cluster's directory, a directory in use by another
    /// broker), which stops the broker so the operator fixes it.
    pub fn is_storage_fault(&self) -> bool {
        matches!(self, LogError::Io { .. } | LogError::Corrupt { .. })
            && !self.is_descriptor_shortage()
    }

    /// Whether this is the process (or system) running out of file descriptors: a
    /// retriable shortage, never a reason to take the log directory offline.
    pub fn is_descriptor_shortage(&self) -> bool {
        matches!(self, LogError::Io { source, .. } if crate::file_cache::is_descriptor_shortage(source))
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        LogError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
