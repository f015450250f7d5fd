//! What travels between controllers: openraft's three RPCs and their results.

use moldau_metadata::raft::{MetadataRaftConfig, NodeId};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::raft_transport::error::RaftTransportError;

type C = MetadataRaftConfig;

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    AppendEntries(AppendEntriesRequest<C>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<C>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
}

impl RaftRequest {
    pub fn name(&self) -> &'static str {
        match self {
            RaftRequest::AppendEntries(_) => "AppendEntries",
            RaftRequest::Vote(_) => "Vote",
            RaftRequest::InstallSnapshot(_) => "InstallSnapshot",
        }
    }
}

impl RaftReply {
    pub fn name(&self) -> &'static str {
        match self {
            RaftReply::AppendEntries(_) => "AppendEntries",
            RaftReply::Vote(_) => "Vote",
            RaftReply::InstallSnapshot(_) => "InstallSnapshot",
        }
    }
}

pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, RaftTransportError> {
    serde_json::to_vec(message).map_err(|e| RaftTransportError::Malformed(e.to_string()))
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RaftTransportError> {
    serde_json::from_slice(bytes).map_err(|e| RaftTransportError::Malformed(e.to_string()))
}
