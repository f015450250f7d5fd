//! Errors of the Raft storage, and their mapping onto openraft's `StorageError`
//! (which shuts the Raft node down: storage that cannot be trusted must not vote).

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};
use thiserror::Error;

use crate::raft::type_config::NodeId;

#[derive(Debug, Error)]
pub enum RaftStoreError {
    #[error("metadata log: {0}")]
    Log(#[from] moldau_log::LogError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("raft term {0} does not fit a partition leader epoch (i32)")]
    TermTooLarge(u64),
    #[error("raft index {0} does not fit a log offset (i64)")]
    IndexTooLarge(u64),
    #[error("entry {index} does not follow the log end {log_end}")]
    NotContiguous { index: u64, log_end: i64 },
}

impl RaftStoreError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| RaftStoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        RaftStoreError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn into_storage(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> StorageError<NodeId> {
        StorageIOError::new(subject, verb, AnyError::new(&self)).into()
    }
}

/// `result` with its error mapped for openraft.
#[allow(clippy::result_large_err)] // openraft's error type, as its traits return it
pub(crate) fn storage<T>(
    result: Result<T, RaftStoreError>,
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
) -> Result<T, StorageError<NodeId>> {
    result.map_err(|e| e.into_storage(subject, verb))
}
