//! Errors of the metadata quorum.

use std::time::Duration;

use moldau_metadata::raft::{NodeId, RaftStoreError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QuorumError {
    #[error("invalid controller.quorum.voters: {0}")]
    BadVoters(String),
    #[error("node.id {0} is not among controller.quorum.voters")]
    NotAVoter(NodeId),
    #[error("metadata record not writable: {0}")]
    Record(moldau_metadata::MetadataError),
    #[error("metadata log storage: {0}")]
    Storage(#[from] RaftStoreError),
    #[error("raft configuration: {0}")]
    Config(String),
    #[error("controller listener: {0}")]
    Listener(#[from] std::io::Error),
    /// Only the active controller (the Raft leader) writes.
    #[error("this node is not the active controller (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The quorum did not commit in time (no majority reachable); the write may
    /// still commit later, as a timed-out Kafka request may.
    #[error("the metadata write was not committed within {0:?}")]
    Timeout(Duration),
    #[error("the metadata quorum stopped: {0}")]
    Stopped(String),
}
