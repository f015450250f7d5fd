//! The current snapshot on disk: `metadata-snapshot` in `__cluster_metadata-0`, a
//! 4-byte big-endian length, the snapshot's Raft metadata (last log id,
//! membership, id) as JSON of that length, then the body (`image_snapshot`).
//! Replaced atomically; the log is purged only after it is durable.

use std::path::{Path, PathBuf};

use openraft::{BasicNode, SnapshotMeta};

use crate::raft::error::RaftStoreError;
use crate::raft::quorum_state::write_atomically;
use crate::raft::type_config::NodeId;

pub const SNAPSHOT_FILE: &str = "metadata-snapshot";
/// Largest snapshot file read back.
pub const SNAPSHOT_FILE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Largest metadata header inside it.
pub const SNAPSHOT_META_BYTES_MAX: usize = 16 * 1024 * 1024;

pub type MetadataSnapshotMeta = SnapshotMeta<NodeId, BasicNode>;

/// A snapshot held in memory: its metadata and body.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    pub meta: MetadataSnapshotMeta,
    pub body: Vec<u8>,
}

pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

pub fn write_snapshot(dir: &Path, snapshot: &StoredSnapshot) -> Result<(), RaftStoreError> {
    let meta = serde_json::to_vec(&snapshot.meta)
        .map_err(|e| RaftStoreError::malformed("snapshot metadata", e))?;
    let mut bytes = Vec::with_capacity(4 + meta.len() + snapshot.body.len());
    bytes.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&meta);
    bytes.extend_from_slice(&snapshot.body);
    write_atomically(&snapshot_path(dir), &bytes)
}

/// The snapshot in `dir`, if one was written.
pub fn read_snapshot(dir: &Path) -> Result<Option<StoredSnapshot>, RaftStoreError> {
    let path = snapshot_path(dir);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RaftStoreError::io(&path)(e)),
        Ok(m) if m.len() > SNAPSHOT_FILE_BYTES_MAX => {
            return Err(RaftStoreError::malformed(
                "snapshot file",
                format!("{} bytes, limit {SNAPSHOT_FILE_BYTES_MAX}", m.len()),
            ))
        }
        Ok(_) => {}
    }
    let bytes = std::fs::read(&path).map_err(RaftStoreError::io(&path))?;
    let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(RaftStoreError::malformed(
            "snapshot file",
            "shorter than its header",
        ));
    };
    let len = u32::from_be_bytes(*len) as usize;
    if len > SNAPSHOT_META_BYTES_MAX || len > rest.len() {
        return Err(RaftStoreError::malformed(
            "snapshot file",
            format!("metadata of {len} bytes, {} present", rest.len()),
        ));
    }
    let meta = serde_json::from_slice(&rest[..len])
        .map_err(|e| RaftStoreError::malformed("snapshot metadata", e))?;
    Ok(Some(StoredSnapshot {
        meta,
        body: rest[len..].to_vec(),
    }))
}
