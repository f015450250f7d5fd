//! The `quorum-state` file of `__cluster_metadata-0` (Kafka keeps one by that name):
//! this node's Raft vote, the last committed log id it knows, and the last purged
//! log id (the entries below the log start, covered by a snapshot). JSON, replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory).

use std::io::Write;
use std::path::{Path, PathBuf};

use openraft::{LogId, Vote};
use serde::{Deserialize, Serialize};

use crate::raft::error::RaftStoreError;
use crate::raft::type_config::NodeId;

pub const QUORUM_STATE_FILE: &str = "quorum-state";
/// The file holds three small values; anything bigger is not ours.
pub const QUORUM_STATE_BYTES_MAX: u64 = 64 * 1024;

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumState {
    pub vote: Option<Vote<NodeId>>,
    pub committed: Option<LogId<NodeId>>,
    pub last_purged: Option<LogId<NodeId>>,
}

/// The file in a partition directory, with what it last held.
#[derive(Debug)]
pub struct QuorumStateFile {
    path: PathBuf,
    state: QuorumState,
}

impl QuorumStateFile {
    /// Reads `dir/quorum-state`; absent means a node that never voted.
    pub fn open(dir: &Path) -> Result<Self, RaftStoreError> {
        let path = dir.join(QUORUM_STATE_FILE);
        let state = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => QuorumState::default(),
            Err(e) => return Err(RaftStoreError::io(&path)(e)),
            Ok(meta) if meta.len() > QUORUM_STATE_BYTES_MAX => {
                return Err(RaftStoreError::malformed(
                    "quorum-state",
                    format!("{} bytes, limit {QUORUM_STATE_BYTES_MAX}", meta.len()),
                ))
            }
            Ok(_) => {
                let bytes = std::fs::read(&path).map_err(RaftStoreError::io(&path))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| RaftStoreError::malformed("quorum-state", e))?
            }
        };
        Ok(QuorumStateFile { path, state })
    }

    pub fn state(&self) -> &QuorumState {
        &self.state
    }

    /// Makes `state` durable, then remembers it.
    pub fn store(&mut self, state: QuorumState) -> Result<(), RaftStoreError> {
        if state == self.state {
            return Ok(());
        }
        let json =
            serde_json::to_vec(&state).map_err(|e| RaftStoreError::malformed("quorum-state", e))?;
        write_atomically(&self.path, &json)?;
        self.state = state;
        Ok(())
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RaftStoreError> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp).map_err(RaftStoreError::io(&tmp))?;
        file.write_all(bytes).map_err(RaftStoreError::io(&tmp))?;
        file.sync_all().map_err(RaftStoreError::io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(RaftStoreError::io(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RaftStoreError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    #[test]
    fn stores_and_reloads_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = QuorumStateFile::open(dir.path()).unwrap();
        assert_eq!(file.state(), &QuorumState::default());
        let state = QuorumState {
            vote: Some(Vote::new(3, 2)),
            committed: Some(LogId::new(CommittedLeaderId::new(3, 0), 7)),
            last_purged: None,
        };
        file.store(state.clone()).unwrap();
        assert_eq!(QuorumStateFile::open(dir.path()).unwrap().state(), &state);
        std::fs::write(dir.path().join(QUORUM_STATE_FILE), b"{not json").unwrap();
        assert!(QuorumStateFile::open(dir.path()).is_err());
    }
}
