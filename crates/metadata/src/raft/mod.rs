//! The metadata quorum's Raft storage, driven by openraft: the log is the
//! `__cluster_metadata-0` partition (one Kafka record per entry), the vote lives in
//! `quorum-state`, and the state machine is the [`crate::MetadataImage`]. The
//! transport between controllers belongs to the broker.

mod bootstrap_file;
mod entry_codec;
mod error;
mod image_snapshot;
mod log_store;
mod pre_raft_dir;
mod quorum_state;
mod record_list;
mod snapshot_file;
mod state_machine;
mod type_config;

#[cfg(test)]
mod storage_suite_tests;

pub use bootstrap_file::{
    read_bootstrap_levels, write_bootstrap_levels, BOOTSTRAP_FILE, BOOTSTRAP_FILE_BYTES_MAX,
};
pub use entry_codec::{MetadataEntry, ENTRY_KEY_BLANK, ENTRY_KEY_MEMBERSHIP, ENTRY_KEY_NORMAL};
pub use error::RaftStoreError;
pub use log_store::MetadataLogStore;
pub use pre_raft_dir::{convert_pre_raft_dir, is_pre_raft_dir, load_pre_raft_image};
pub use quorum_state::{QuorumState, QuorumStateFile, QUORUM_STATE_FILE};
pub use snapshot_file::SNAPSHOT_FILE;
pub use state_machine::MetadataStateMachine;
pub use type_config::{MetadataApplied, MetadataCommand, MetadataRaftConfig, NodeId};

use std::path::Path;

/// The log storage and state machine of the metadata partition directory `dir`.
pub fn open_metadata_raft_storage(
    dir: &Path,
) -> Result<(MetadataLogStore, MetadataStateMachine), RaftStoreError> {
    Ok((
        MetadataLogStore::open(dir)?,
        MetadataStateMachine::open(dir)?,
    ))
}
