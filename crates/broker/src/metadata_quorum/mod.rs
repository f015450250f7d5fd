//! This node's seat in the metadata quorum: openraft over the `__cluster_metadata-0`
//! log (moldau-metadata's storage) and the controller listener (`raft_transport`).
//! The broker's only metadata writer: `write` commits records through the quorum
//! (on the leader; `ControllerClient` forwards from the others), `image`/`subscribe`
//! show the result. A one-node cluster is the same code with one voter and no
//! controller listener.

mod config;
mod error;
mod lifecycle_controller;

pub use config::{QuorumConfig, TopicDefaults, QUORUM_VOTERS_MAX};
pub use error::QuorumError;
pub use lifecycle_controller::{LifecycleAnswer, LifecycleController};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use moldau_log::{TopicPartition, METADATA_LOG_TOPIC};
use moldau_metadata::raft::{
    convert_pre_raft_dir, open_metadata_raft_storage, read_bootstrap_levels, MetadataApplied,
    MetadataCommand, MetadataRaftConfig, MetadataStateMachine, NodeId, QuorumStateFile,
};
use moldau_metadata::{MetadataImage, MetadataRecord};
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::raft_transport::{
    probe_cluster_ids, serve_raft, ClusterActionCheck, ClusterIdCheck, ClusterIdConflict,
    ControllerChannel, TcpRaftNetwork,
};

/// A running Raft node of the metadata quorum.
pub struct MetadataQuorum {
    node_id: NodeId,
    raft: Raft<MetadataRaftConfig>,
    state_machine: MetadataStateMachine,
    /// Broker registrations and heartbeats, decided here while this node leads.
    lifecycle: Arc<LifecycleController>,
    /// The cluster id every Raft request carries, checked on every one received.
    cluster: Arc<ClusterIdCheck>,
    /// The controller listener's address; none for a lone voter without one.
    local_addr: Option<SocketAddr>,
    write_timeout: std::time::Duration,
    channel: ControllerChannel,
    stop_listener: watch::Sender<bool>,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    /// The image at start includes everything this node had committed before.
    caught_up_at_start: bool,
}

impl MetadataQuorum {
    /// Opens the metadata log in `config.data_dir`, serves `listener` (this node's
    /// controller listener) and joins the quorum. On a new cluster the voter with
    /// the lowest id writes the first membership (the configured voters) and
    /// campaigns; the others wait to hear from it. (Were every voter to do so, each
    /// would campaign in term 1 at once and split the first elections.)
    pub async fn start(
        config: QuorumConfig,
        listener: Option<TcpListener>,
    ) -> Result<Self, QuorumError> {
        config.validate()?;
        if listener.is_none() && config.voters.len() > 1 {
            return Err(QuorumError::BadVoters(
                "several voters need a controller listener".into(),
            ));
        }
        let raft_config = Arc::new(config.raft_config()?);
        let dir = config
            .data_dir
            .join(TopicPartition::new(METADATA_LOG_TOPIC, 0).dir_name());
        let members = members(&config.voters);
        if convert_pre_raft_dir(&dir, config.node_id, &members)? {
            tracing::info!(dir = %dir.display(), "metadata log converted to the Raft format");
        }
        // What this node had committed before it stopped: applied before start returns,
        // so the first image is not older than what the node's logs already reflect.
        let committed_at_start = if dir.exists() {
            QuorumStateFile::open(&dir)?.state().committed
        } else {
            None
        };
        let (log_store, state_machine) = open_metadata_raft_storage(&dir)?;
        let cluster = Arc::new(ClusterIdCheck::new(
            config.lifecycle.cluster_id.clone(),
            config.node_id,
            config.voters.keys().copied().collect(),
        ));
        let network = TcpRaftNetwork {
            local_id: config.node_id,
            channel: config.channel.clone(),
            cluster: Arc::clone(&cluster),
            outages: Arc::default(),
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
        let local_addr = match &listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let (stop_listener, stopped) = watch::channel(false);
        // The levels `moldau storage format` chose; the latest without its file.
        let bootstrap_levels =
            read_bootstrap_levels(&config.data_dir)?.unwrap_or(config.bootstrap_levels.clone());
        let lifecycle = Arc::new(
            LifecycleController::new(
                config.node_id,
                bootstrap_levels,
                raft.clone(),
                state_machine.clone(),
                config.write_timeout,
                config.lifecycle.clone(),
                config.topic_defaults,
            )
            .with_broker_config(config.broker_config.clone()),
        );
        let mut tasks = vec![tokio::spawn(
            Arc::clone(&lifecycle).run_ticker(stopped.clone()),
        )];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(probe_cluster_ids(
                config.channel.clone(),
                config.voters.clone(),
                Arc::clone(&cluster),
                stopped.clone(),
            )));
            // Only a SASL login names a principal to check (see cluster_action_check.rs).
            let cluster_action = config
                .channel
                .authorizer
                .clone()
                .filter(|_| config.channel.users.is_some())
                .map(|a| ClusterActionCheck::new(a, state_machine.clone()));
            tasks.push(tokio::spawn(serve_raft(
                listener,
                config.channel.clone(),
                cluster_action,
                raft.clone(),
                Arc::clone(&lifecycle),
                Arc::clone(&cluster),
                stopped.clone(),
            )));
        }
        if let Some(bytes) = config.snapshot_after_bytes {
            tasks.push(tokio::spawn(snapshot_by_bytes(
                raft.clone(),
                state_machine.clone(),
                bytes,
                stopped,
            )));
        }
        let mut quorum = MetadataQuorum {
            caught_up_at_start: true,
            node_id: config.node_id,
            raft,
            state_machine,
            lifecycle,
            cluster,
            local_addr,
            write_timeout: config.write_timeout,
            channel: config.channel.clone(),
            stop_listener,
            tasks: parking_lot::Mutex::new(tasks),
        };
        if config.voters.keys().next() == Some(&config.node_id) {
            quorum.initialize_if_new(&config.voters).await?;
        }
        if let Some(committed) = committed_at_start {
            let replayed = quorum
                .raft
                .wait(Some(config.write_timeout))
                .applied_index_at_least(Some(committed.index), "replay to the committed entry")
                .await;
            if let Err(e) = replayed {
                tracing::warn!(error = %e, "metadata log not replayed to its committed entry yet");
                quorum.caught_up_at_start = false;
            }
        }
        tracing::info!(
            node_id = config.node_id,
            controller_listener = ?local_addr,
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
        match self.raft.initialize(members(voters)).await {
            Ok(()) => Ok(()),
            // Another voter's membership reached us first: the same one.
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(QuorumError::Stopped(e.to_string())),
        }
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The controller listener's bound address (none for a lone voter).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Whether start-up replayed everything this node had committed before it
    /// stopped (else the image may lack topics whose logs are on disk).
    pub fn caught_up_at_start(&self) -> bool {
        self.caught_up_at_start
    }

    /// TLS and the login for other nodes' controller listeners.
    pub fn channel(&self) -> &ControllerChannel {
        &self.channel
    }

    /// How long a write waits for the quorum to commit.
    pub fn write_timeout(&self) -> std::time::Duration {
        self.write_timeout
    }

    /// Commits `records` as one Raft entry and returns once it is applied here.
    /// Refused on a node that is not the leader; times out without a majority.
    pub async fn write(&self, records: &[MetadataRecord]) -> Result<MetadataApplied, QuorumError> {
        write_records(&self.raft, records, self.write_timeout).await
    }

    /// The broker lifecycle this node decides while it is the active controller.
    pub fn lifecycle(&self) -> &Arc<LifecycleController> {
        &self.lifecycle
    }

    /// The cluster id this node sends and accepts on the controller listener.
    pub fn cluster_id_check(&self) -> &Arc<ClusterIdCheck> {
        &self.cluster
    }

    /// Set once a majority of the voters turned out to belong to another cluster.
    pub fn cluster_id_conflict(&self) -> watch::Receiver<Option<ClusterIdConflict>> {
        self.cluster.conflict()
    }

    /// Turns true when the quorum shuts down, for tasks that live as long as it.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop_listener.subscribe()
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

    /// A clean stop leaves a snapshot of everything applied, so the next start
    /// loads it rather than replaying the entries since the last one (after
    /// creating 100 000 partitions that replay held a clean start for 18 s: below
    /// the snapshot thresholds, and each multi-record entry applies to a copy of
    /// the image). Bounded: a stop never waits long for it.
    async fn snapshot_before_stop(&self) {
        if self.state_machine.bytes_since_snapshot() == 0 {
            return;
        }
        let applied = self.raft.metrics().borrow().last_applied;
        if let Err(e) = self.raft.trigger().snapshot().await {
            tracing::warn!(error = %e, "metadata snapshot at stop not triggered");
            return;
        }
        let taken = self
            .raft
            .wait(Some(SNAPSHOT_AT_STOP_LIMIT))
            .metrics(|m| m.snapshot >= applied, "metadata snapshot at stop")
            .await;
        match taken {
            Ok(m) => tracing::info!(up_to = ?m.snapshot, "metadata snapshot taken at stop"),
            Err(e) => tracing::warn!(error = %e, "metadata snapshot at stop not finished"),
        }
    }

    /// Stops Raft, then the controller listener and its connections.
    pub async fn shutdown(&self) {
        self.snapshot_before_stop().await;
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum did not stop cleanly");
        }
        self.stop_listener.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "metadata quorum task failed");
            }
        }
    }
}

/// Commits `records` as one Raft entry through `raft` (the leader) and returns once
/// it is applied here; times out without a majority.
pub(crate) async fn write_records(
    raft: &Raft<MetadataRaftConfig>,
    records: &[MetadataRecord],
    timeout: std::time::Duration,
) -> Result<MetadataApplied, QuorumError> {
    let command = MetadataCommand::from_records(records).map_err(QuorumError::Record)?;
    match tokio::time::timeout(timeout, raft.client_write(command)).await {
        Err(_) => Err(QuorumError::Timeout(timeout)),
        Ok(Ok(response)) => Ok(response.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(QuorumError::NotLeader {
                leader: f.leader_id,
            })
        }
        Ok(Err(e)) => Err(QuorumError::Stopped(e.to_string())),
    }
}

/// The voters as openraft's membership nodes (addressed by controller listener).
fn members(voters: &BTreeMap<NodeId, String>) -> BTreeMap<NodeId, BasicNode> {
    voters
        .iter()
        .map(|(id, addr)| (*id, BasicNode::new(addr)))
        .collect()
}

/// Builds a snapshot whenever `bytes` of records were applied since the last one
/// (`metadata.log.max.record.bytes.between.snapshots`); every node snapshots its
/// own state machine.
async fn snapshot_by_bytes(
    raft: Raft<MetadataRaftConfig>,
    state_machine: MetadataStateMachine,
    bytes: u64,
    mut stopped: watch::Receiver<bool>,
) {
    let mut images = state_machine.subscribe();
    loop {
        tokio::select! {
            changed = images.changed() => if changed.is_err() { return },
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        if state_machine.bytes_since_snapshot() >= bytes {
            if let Err(e) = raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "metadata snapshot not triggered");
                return;
            }
        }
    }
}

/// How long a clean stop waits for its metadata snapshot.
const SNAPSHOT_AT_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
