//! openraft's network: one client per peer over the controller listener, which
//! connects on first use, reconnects after any failure, and bounds every call by
//! openraft's timeout. A peer of another cluster is unreachable to openraft.

use std::sync::Arc;
use std::time::Duration;

use moldau_metadata::raft::{MetadataRaftConfig, NodeId};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RPCTypes};

use crate::raft_transport::channel::{ControllerChannel, RaftConnection};
use crate::raft_transport::cluster_id_check::ClusterIdCheck;
use crate::raft_transport::error::RaftTransportError;
use crate::raft_transport::frame::{read_frame, write_frame};
use crate::raft_transport::message::{decode, encode, RaftEnvelope, RaftReply, RaftRequest};
use crate::raft_transport::peer_outages::PeerOutages;

type C = MetadataRaftConfig;
type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

/// Makes a [`PeerClient`] per target; openraft asks for one per replication stream.
#[derive(Clone)]
pub struct TcpRaftNetwork {
    /// This node, for timeouts reported to openraft.
    pub local_id: NodeId,
    /// TLS and the login for peers' controller listeners.
    pub channel: ControllerChannel,
    /// The cluster id sent with every request, and what peers answered.
    pub cluster: Arc<ClusterIdCheck>,
    /// Peers not answering, so each outage is logged once.
    pub outages: Arc<PeerOutages>,
}

impl RaftNetworkFactory<C> for TcpRaftNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            local_id: self.local_id,
            cluster: Arc::clone(&self.cluster),
            outages: Arc::clone(&self.outages),
            target,
            addr: node.addr.clone(),
            channel: self.channel.clone(),
            connection: None,
            login_refused: false,
        }
    }
}

/// A connection to one peer's controller listener.
pub struct PeerClient {
    local_id: NodeId,
    cluster: Arc<ClusterIdCheck>,
    outages: Arc<PeerOutages>,
    target: NodeId,
    addr: String,
    channel: ControllerChannel,
    connection: Option<RaftConnection>,
    /// The peer refused our login and that was logged (once, not every retry).
    login_refused: bool,
}

/// Why a call failed, before it is told to openraft.
enum CallError {
    Connect(RaftTransportError),
    Transport(RaftTransportError),
    TimedOut,
    /// The peer belongs to another cluster.
    Refused(RaftTransportError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "connecting: {e}"),
            CallError::Transport(e) => write!(f, "{e}"),
            CallError::TimedOut => write!(f, "no answer within openraft's timeout"),
            CallError::Refused(e) => write!(f, "refused: {e}"),
        }
    }
}

impl PeerClient {
    async fn call(&mut self, request: RaftRequest, ttl: Duration) -> Result<RaftReply, CallError> {
        let envelope = RaftEnvelope {
            cluster_id: self.cluster.cluster_id().to_string(),
            from: self.local_id,
            request,
        };
        let body = encode(&envelope).map_err(CallError::Transport)?;
        let addr = self.addr.clone();
        let slot = &mut self.connection;
        let channel = &self.channel;
        let exchange = async move {
            let connection = match slot {
                Some(connection) => connection,
                None => slot.insert(channel.connect(&addr).await.map_err(CallError::Connect)?),
            };
            write_frame(connection, &body)
                .await
                .map_err(CallError::Transport)?;
            match read_frame(connection).await.map_err(CallError::Transport)? {
                Some(reply) => decode::<RaftReply>(&reply).map_err(CallError::Transport),
                None => Err(CallError::Transport(RaftTransportError::Io(
                    std::io::ErrorKind::UnexpectedEof.into(),
                ))),
            }
        };
        let result = match tokio::time::timeout(ttl, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::TimedOut),
        };
        match &result {
            Err(CallError::Connect(RaftTransportError::Authentication(why))) => {
                if !self.login_refused {
                    tracing::error!(peer = self.target, addr = %self.addr, reason = %why, "the controller listener refused this node's login; check sasl.mechanism.controller.protocol and the listener's sasl.jaas.config");
                    self.login_refused = true;
                }
            }
            Ok(_) => self.login_refused = false,
            Err(_) => {}
        }
        self.note_outage(&result);
        if result.is_err() {
            // The stream may hold half a frame: start over on the next call.
            self.connection = None;
        }
        match result? {
            RaftReply::InconsistentClusterId { cluster_id } => {
                self.cluster.observe(self.target, &cluster_id);
                Err(CallError::Refused(
                    RaftTransportError::InconsistentClusterId {
                        ours: self.cluster.cluster_id().to_string(),
                        theirs: cluster_id,
                    },
                ))
            }
            reply => Ok(reply),
        }
    }

    /// One WARN when the peer stops answering, one INFO when it answers again, and
    /// each failed attempt in between at DEBUG (openraft retries every few hundred ms).
    fn note_outage(&self, result: &Result<RaftReply, CallError>) {
        let (peer, addr) = (self.target, &self.addr);
        match result {
            Ok(_) => {
                if let Some(attempts) = self.outages.answered(peer) {
                    tracing::info!(peer, %addr, failed_attempts = attempts, "controller peer answers again");
                }
            }
            Err(e) => {
                if self.outages.failed(peer) {
                    tracing::warn!(peer, %addr, error = %e, "controller peer not answering; retries are logged at DEBUG until it answers");
                } else {
                    tracing::debug!(peer, %addr, error = %e, "controller peer still not answering");
                }
            }
        }
    }

    fn rpc_error<E: std::error::Error>(
        &self,
        error: CallError,
        action: RPCTypes,
        ttl: Duration,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        match error {
            CallError::Connect(e) => RPCError::Unreachable(Unreachable::new(&e)),
            // Unreachable: openraft backs off instead of retrying at once.
            CallError::Refused(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Transport(e) => RPCError::Network(NetworkError::new(&e)),
            CallError::TimedOut => RPCError::Timeout(Timeout {
                action,
                id: self.local_id,
                target: self.target,
                timeout: ttl,
            }),
        }
    }

    /// A reply of another kind than the request: the peer is confused, so is the
    /// stream; answered as a network error.
    fn wrong_reply<E: std::error::Error>(
        &mut self,
        sent: &'static str,
        reply: RaftReply,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        self.connection = None;
        let error = RaftTransportError::WrongReply {
            sent,
            got: reply.name(),
        };
        RPCError::Network(NetworkError::new(&error))
    }

    #[allow(clippy::result_large_err)] // openraft's error type, as RaftNetwork returns it
    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<NodeId, E>>,
    ) -> RpcResult<T, E> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<C> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let ttl = option.hard_ttl();
        match self.call(RaftRequest::AppendEntries(rpc), ttl).await {
            Ok(RaftReply::AppendEntries(result)) => self.remote(result),
            Ok(other) => Err(self.wrong_reply("AppendEntries", other)),
            Err(e) => Err(self.rpc_error(e, RPCTypes::AppendEntries, ttl)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<C>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let ttl = option.hard_ttl();
        match self.call(RaftRequest::InstallSnapshot(rpc), ttl).await {
            Ok(RaftReply::InstallSnapshot(result)) => self.remote(result),
            Ok(other) => Err(self.wrong_reply("InstallSnapshot", other)),
            Err(e) => Err(self.rpc_error(e, RPCTypes::InstallSnapshot, ttl)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let ttl = option.hard_ttl();
        match self.call(RaftRequest::Vote(rpc), ttl).await {
            Ok(RaftReply::Vote(result)) => self.remote(result),
            Ok(other) => Err(self.wrong_reply("Vote", other)),
            Err(e) => Err(self.rpc_error(e, RPCTypes::Vote, ttl)),
        }
    }
}
