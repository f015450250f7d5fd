//! What travels between controllers: openraft's three RPCs and their results, and
//! a controller write forwarded by a node that is not the active controller. Every
//! request goes in an envelope naming the sender and its cluster id (the SASL login
//! that may open a connection does not: it belongs to the channel).

use moldau_metadata::raft::{MetadataApplied, MetadataRaftConfig, NodeId};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::raft_transport::error::RaftTransportError;

type C = MetadataRaftConfig;

/// A request as sent: who sends it, for which cluster (KRaft puts the cluster id in
/// every Raft request too).
#[derive(Debug, Serialize, Deserialize)]
pub struct RaftEnvelope<R = RaftRequest> {
    pub cluster_id: String,
    /// The sender's node id.
    pub from: NodeId,
    /// A `RaftRequest`, or a reference to one when sending.
    pub request: R,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    AppendEntries(AppendEntriesRequest<C>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<C>),
    /// Metadata records (an encoded record list) for the active controller to commit
    /// as one entry; validated when applied, on every node alike.
    ControllerWrite(Vec<u8>),
    /// A broker's BrokerRegistration body (Kafka's encoding, api key 62) for the
    /// active controller's broker lifecycle.
    BrokerRegistration(Vec<u8>),
    /// A broker's BrokerHeartbeat body (api key 63).
    BrokerHeartbeat(Vec<u8>),
    /// A partition leader's AlterPartition body (api key 56).
    AlterPartition(Vec<u8>),
    /// A client's ElectLeaders, forwarded (api key 43, `ELECT_LEADERS_VERSION`).
    ElectLeaders(Vec<u8>),
    /// Nothing but the envelope: is the receiver of the sender's cluster?
    Hello,
    /// The first frame on a SASL controller listener: the peer's login (channel.rs).
    SaslAuthenticate {
        mechanism: String,
        message: Vec<u8>,
    },
    /// A client's AlterPartitionReassignments, forwarded (api key 45,
    /// `ALTER_REASSIGNMENTS_VERSION`).
    AlterReassignments(Vec<u8>),
    /// A client's ListPartitionReassignments, forwarded (api key 46,
    /// `LIST_REASSIGNMENTS_VERSION`).
    ListReassignments(Vec<u8>),
    /// A client's CreateTopics, forwarded after the broker's own checks (api key
    /// 19, `CREATE_TOPICS_VERSION`).
    CreateTopics(Vec<u8>),
    /// A client's CreatePartitions, forwarded after the broker's own checks (api
    /// key 37, `CREATE_PARTITIONS_VERSION`).
    CreatePartitions(Vec<u8>),
    /// A client's DeleteTopics, forwarded after authorization (api key 20,
    /// `DELETE_TOPICS_VERSION`).
    DeleteTopics(Vec<u8>),
    /// A client's IncrementalAlterConfigs, forwarded after authorization (api key
    /// 44, `INCREMENTAL_ALTER_CONFIGS_VERSION`).
    IncrementalAlterConfigs(Vec<u8>),
    /// A client's AlterConfigs, forwarded after authorization (api key 33,
    /// `ALTER_CONFIGS_VERSION`).
    AlterConfigs(Vec<u8>),
    /// A client's CreateAcls, forwarded after authorization (api key 30,
    /// `CREATE_ACLS_VERSION`).
    CreateAcls(Vec<u8>),
    /// A client's DeleteAcls, forwarded after authorization (api key 31,
    /// `DELETE_ACLS_VERSION`).
    DeleteAcls(Vec<u8>),
}

/// Why the active controller did not commit a forwarded write.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum ControllerWriteError {
    /// The receiver is not (or no longer) the leader; `leader` is who it knows.
    #[error("node is not the active controller (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// Not committed within the receiver's write timeout (no majority).
    #[error("not committed in time: {0}")]
    Timeout(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    ControllerWrite(Result<MetadataApplied, ControllerWriteError>),
    /// The BrokerRegistrationResponse body, or why this node could not decide.
    BrokerRegistration(Result<Vec<u8>, ControllerWriteError>),
    /// The BrokerHeartbeatResponse body, or why this node could not decide.
    BrokerHeartbeat(Result<Vec<u8>, ControllerWriteError>),
    /// The AlterPartitionResponse body, or why this node could not decide.
    AlterPartition(Result<Vec<u8>, ControllerWriteError>),
    /// The ElectLeadersResponse body, or why this node could not decide.
    ElectLeaders(Result<Vec<u8>, ControllerWriteError>),
    /// The mechanism's answer, or why the login was refused (then the connection ends).
    SaslAuthenticate(Result<Vec<u8>, String>),
    /// The request came from another cluster and was not looked at; `cluster_id` is
    /// the receiver's (Kafka's INCONSISTENT_CLUSTER_ID).
    InconsistentClusterId {
        cluster_id: String,
    },
    /// The receiver is of the sender's cluster.
    Hello,
    /// The AlterPartitionReassignmentsResponse body, or why this node could not decide.
    AlterReassignments(Result<Vec<u8>, ControllerWriteError>),
    /// The ListPartitionReassignmentsResponse body, or why this node could not answer.
    ListReassignments(Result<Vec<u8>, ControllerWriteError>),
    /// The CreateTopicsResponse body, or why this node could not decide.
    CreateTopics(Result<Vec<u8>, ControllerWriteError>),
    /// The CreatePartitionsResponse body, or why this node could not decide.
    CreatePartitions(Result<Vec<u8>, ControllerWriteError>),
    /// The DeleteTopicsResponse body, or why this node could not decide.
    DeleteTopics(Result<Vec<u8>, ControllerWriteError>),
    /// The IncrementalAlterConfigsResponse body, or why this node could not decide.
    IncrementalAlterConfigs(Result<Vec<u8>, ControllerWriteError>),
    /// The AlterConfigsResponse body, or why this node could not decide.
    AlterConfigs(Result<Vec<u8>, ControllerWriteError>),
    /// The CreateAclsResponse body, or why this node could not decide.
    CreateAcls(Result<Vec<u8>, ControllerWriteError>),
    /// The DeleteAclsResponse body, or why this node could not decide.
    DeleteAcls(Result<Vec<u8>, ControllerWriteError>),
}

impl RaftRequest {
    pub fn name(&self) -> &'static str {
        match self {
            RaftRequest::AppendEntries(_) => "AppendEntries",
            RaftRequest::Vote(_) => "Vote",
            RaftRequest::InstallSnapshot(_) => "InstallSnapshot",
            RaftRequest::ControllerWrite(_) => "ControllerWrite",
            RaftRequest::BrokerRegistration(_) => "BrokerRegistration",
            RaftRequest::BrokerHeartbeat(_) => "BrokerHeartbeat",
            RaftRequest::AlterPartition(_) => "AlterPartition",
            RaftRequest::ElectLeaders(_) => "ElectLeaders",
            RaftRequest::SaslAuthenticate { .. } => "SaslAuthenticate",
            RaftRequest::Hello => "Hello",
            RaftRequest::AlterReassignments(_) => "AlterPartitionReassignments",
            RaftRequest::ListReassignments(_) => "ListPartitionReassignments",
            RaftRequest::CreateTopics(_) => "CreateTopics",
            RaftRequest::CreatePartitions(_) => "CreatePartitions",
            RaftRequest::DeleteTopics(_) => "DeleteTopics",
            RaftRequest::IncrementalAlterConfigs(_) => "IncrementalAlterConfigs",
            RaftRequest::AlterConfigs(_) => "AlterConfigs",
            RaftRequest::CreateAcls(_) => "CreateAcls",
            RaftRequest::DeleteAcls(_) => "DeleteAcls",
        }
    }
}

impl RaftReply {
    pub fn name(&self) -> &'static str {
        match self {
            RaftReply::AppendEntries(_) => "AppendEntries",
            RaftReply::Vote(_) => "Vote",
            RaftReply::InstallSnapshot(_) => "InstallSnapshot",
            RaftReply::ControllerWrite(_) => "ControllerWrite",
            RaftReply::BrokerRegistration(_) => "BrokerRegistration",
            RaftReply::BrokerHeartbeat(_) => "BrokerHeartbeat",
            RaftReply::AlterPartition(_) => "AlterPartition",
            RaftReply::ElectLeaders(_) => "ElectLeaders",
            RaftReply::SaslAuthenticate(_) => "SaslAuthenticate",
            RaftReply::InconsistentClusterId { .. } => "InconsistentClusterId",
            RaftReply::Hello => "Hello",
            RaftReply::AlterReassignments(_) => "AlterPartitionReassignments",
            RaftReply::ListReassignments(_) => "ListPartitionReassignments",
            RaftReply::CreateTopics(_) => "CreateTopics",
            RaftReply::CreatePartitions(_) => "CreatePartitions",
            RaftReply::DeleteTopics(_) => "DeleteTopics",
            RaftReply::IncrementalAlterConfigs(_) => "IncrementalAlterConfigs",
            RaftReply::AlterConfigs(_) => "AlterConfigs",
            RaftReply::CreateAcls(_) => "CreateAcls",
            RaftReply::DeleteAcls(_) => "DeleteAcls",
        }
    }
}

pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, RaftTransportError> {
    serde_json::to_vec(message).map_err(|e| RaftTransportError::Malformed(e.to_string()))
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RaftTransportError> {
    serde_json::from_slice(bytes).map_err(|e| RaftTransportError::Malformed(e.to_string()))
}
