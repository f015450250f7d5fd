//! This node's seat in the metadata quorum: openraft over the `__cluster_metadata-0`
//! log (moldau-metadata's storage) and the controller listener (`raft_transport`).
//! The seam the broker's metadata store will call instead of fsync-and-apply:
//! `write` commits records through the quorum, `image`/`subscribe` show the result.

mod config;
mod error;

pub use config::{QuorumConfig, QUORUM_VOTERS_MAX};
pub use error::QuorumError;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use moldau_log::{TopicPartition, METADATA_LOG_TOPIC};
use moldau_metadata::raft::{
    open_metadata_raft_storage, MetadataApplied, MetadataCommand, MetadataRaftConfig,
    MetadataStateMachine, NodeId,
};
use moldau_metadata::{MetadataImage, MetadataRecord};
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::raft_transport::{serve_raft, TcpRaftNetwork};

/// A running Raft node of the metadata quorum.
pub struct MetadataQuorum {
    node_id: NodeId,
    raft: Raft<MetadataRaftConfig>,
    state_machine: MetadataStateMachine,
    local_addr: SocketAddr,
    write_timeout: std::time::Duration,
    stop_listener: watch::Sender<bool>,
    listener_task: JoinHandle<()>,
}

impl MetadataQuorum {
    /// Opens the metadata log in `config.data_dir`, serves `listener` (this node's
    /// controller listener) and joins the quorum. On a new cluster the voter with
    /// the lowest id writes the first membership (the configured voters) and
    /// campaigns; the others wait to hear from it. (Were every voter to do so, each
    /// would campaign in term 1 at once and split the first elections.)
    pub async fn start(config: QuorumConfig, listener: TcpListener) -> Result<Self, QuorumError> {
        config.validate()?;
        let raft_config = Arc::new(config.raft_config()?);
        let dir = config
            .data_dir
            .join(TopicPartition::new(METADATA_LOG_TOPIC, 0).dir_name());
        let (log_store, state_machine) = open_metadata_raft_storage(&dir)?;
        let network = TcpRaftNetwork {
            local_id: config.node_id,
        };
        let raft = Raft::new(
            config.node_id,
            raft_config,
            network,
            log_store,
            state_machine.clone(),
        )
        .await
        .map_err(|e| QuorumError::Stopped(e.to_string()))?;
        let local_addr = listener.local_addr()?;
        let (stop_listener, stopped) = watch::channel(false);
        let listener_task = tokio::spawn(serve_raft(listener, raft.clone(), stopped));
        let quorum = MetadataQuorum {
            node_id: config.node_id,
            raft,
            state_machine,
            local_addr,
            write_timeout: config.write_timeout,
            stop_listener,
            listener_task,
        };
        if config.voters.keys().next() == Some(&config.node_id) {
            quorum.initialize_if_new(&config.voters).await?;
        }
        tracing::info!(
            node_id = config.node_id,
            controller_listener = %local_addr,
            voters = ?config.voters,
            "metadata quorum started"
        );
        Ok(quorum)
    }

    async fn initialize_if_new(
        &self,
        voters: &BTreeMap<NodeId, String>,
    ) -> Result<(), QuorumError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Stopped(e.to_string()))?;
        if initialized {
            return Ok(());
        }
        let members: BTreeMap<NodeId, BasicNode> = voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            // Another voter's membership reached us first: the same one.
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(QuorumError::Stopped(e.to_string())),
        }
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The controller listener's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Commits `records` as one Raft entry and returns once it is applied here.
    /// Refused on a node that is not the leader; times out without a majority.
    pub async fn write(&self, records: &[MetadataRecord]) -> Result<MetadataApplied, QuorumError> {
        let command = MetadataCommand::from_records(records).map_err(QuorumError::Record)?;
        let written =
            tokio::time::timeout(self.write_timeout, self.raft.client_write(command)).await;
        match written {
            Err(_) => Err(QuorumError::Timeout(self.write_timeout)),
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(QuorumError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(e)) => Err(QuorumError::Stopped(e.to_string())),
        }
    }

    /// True while this node is the active controller.
    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    /// The leader this node knows of.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// The metadata image as of the last entry applied on this node.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.state_machine.image()
    }

    /// Every applied change of the image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.state_machine.subscribe()
    }

    /// The Raft node itself (metrics, membership), for tools and tests.
    pub fn raft(&self) -> &Raft<MetadataRaftConfig> {
        &self.raft
    }

    /// Stops Raft, then the controller listener and its connections.
    pub async fn shutdown(self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum did not stop cleanly");
        }
        self.stop_listener.send_replace(true);
        if let Err(e) = self.listener_task.await {
            tracing::warn!(error = %e, "controller listener task failed");
        }
    }
}
