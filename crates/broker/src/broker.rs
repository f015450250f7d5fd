//! The broker: configuration, logs, metadata, hosted partitions and coordinators,
//! shared by every connection.

use crate::advertised_listeners::AdvertisedListeners;
use crate::config::BrokerConfig;
use crate::controller_client::ControllerClient;
use crate::error::BrokerError;
use crate::fetch_session::FetchSessionCache;
use crate::lifecycle_agent::LifecycleAgent;
use crate::metadata_quorum::{MetadataQuorum, QuorumConfig};
use crate::replica_manager::ReplicaManager;
use crate::topic_config::{log_config_from, resolve_topic_configs, ResolvedConfig};
use moldau_log::dir_lock::DirLock;
use moldau_log::properties_file::{random_kafka_uuid, MetaProperties};
use moldau_log::{LogConfig, LogDirs, StartupRecovery};
use moldau_metadata::controller::{
    LeaderRebalance, LifecycleConfig, LocalBroker, UNCLEAN_LEADER_ELECTION_CONFIG,
};
use moldau_metadata::{
    BrokerEndpoint, BrokerImage, MetadataDelta, MetadataImage, SecurityProtocol,
};
use moldau_protocol::ResponseError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    /// Where clients reach each client listener; Metadata answers on the one they used.
    pub advertised: AdvertisedListeners,
    /// The first log directory.
    pub data_dir: PathBuf,
    /// Every log directory (`log.dirs`).
    pub logs: Arc<LogDirs>,
    /// The `.lock` of `metadata.log.dir` when it is not one of the log directories.
    _metadata_dir_lock: Option<DirLock>,
    /// This node's seat in the metadata quorum: the image as applied here.
    pub metadata: Arc<MetadataQuorum>,
    /// Where metadata changes go (the active controller).
    pub controller: ControllerClient,
    /// The offset of the last image the publisher acted on (`-1` before any).
    pub(crate) published: tokio::sync::watch::Sender<i64>,
    /// The last image the publisher acted on, locked while partitions are hosted, so
    /// the publisher and partitions finishing recovery never host one twice.
    pub(crate) hosting: parking_lot::Mutex<Option<Arc<MetadataImage>>>,
    pub replicas: ReplicaManager,
    /// Fetch the partitions this broker follows from their leaders.
    pub fetchers: crate::replica_fetchers::ReplicaFetchers,
    pub fetch_sessions: FetchSessionCache,
    pub started_at_ms: i64,
    /// Producer ids for InitProducerId, in blocks claimed through the metadata log.
    pub producer_ids: crate::producer_ids::ProducerIdAllocator,
    /// The group coordinator task, started once the broker exists.
    pub groups: std::sync::OnceLock<crate::group_service::GroupService>,
    /// The transaction coordinator task, started once the broker exists.
    pub txns: std::sync::OnceLock<crate::txn_service::TxnService>,
    /// Request, traffic, connection and flush metrics (rendered by the console).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Byte rates of clients under a produce or fetch quota.
    pub client_quotas: crate::client_quota_manager::ClientQuotaManager,
    /// Partitions created and deleted by clients under a controller mutation quota.
    pub controller_mutations: crate::controller_mutation_quota::ControllerMutationQuotas,
    /// This broker's registration and heartbeats with the active controller.
    pub lifecycle: LifecycleAgent,
    /// How each listener authenticates (TLS acceptors, SASL mechanisms).
    pub listener_auths: crate::listener_auth::ListenerAuths,
}

impl Broker {
    /// A user's SCRAM credential for `mechanism`, as the metadata image holds it.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: moldau_security::ScramMechanism,
    ) -> Option<moldau_security::ScramCredential> {
        let image = self.metadata.image();
        let c = image.scram_credential(user, mechanism.code())?;
        Some(moldau_security::ScramCredential {
            salt: c.salt.clone(),
            stored_key: c.stored_key.clone(),
            server_key: c.server_key.clone(),
            iterations: c.iterations,
        })
    }

    /// Opens the data directory, joins the metadata quorum (serving its transport on
    /// `controller_listener`; a lone voter needs none), publishes the image,
    /// registers this broker and starts publishing every committed change.
    /// `advertised` is where clients reach the listeners.
    pub async fn open(
        config: BrokerConfig,
        advertised: impl Into<AdvertisedListeners>,
        controller_listener: Option<tokio::net::TcpListener>,
    ) -> Result<Arc<Self>, BrokerError> {
        let advertised = advertised.into();
        // Certificates first: a bad keystore stops start-up before anything is opened.
        let listener_auths = crate::listener_auth::ListenerAuths::load(&config)
            .map_err(|e| BrokerError::Tls(e.to_string()))?;
        let node_id = config.node_id();
        let data_dir = PathBuf::from(config.data_dir());
        let log_dirs: Vec<PathBuf> = config.log_dirs().into_iter().map(PathBuf::from).collect();
        let metadata_dir = PathBuf::from(config.metadata_log_dir());
        // A formatted directory must be this node's (and this cluster's, when one is
        // configured); an empty one is formatted here, as `moldau storage format` would.
        let configured_cluster = config.explicit("cluster.id").map(str::to_string);
        let (logs, metadata_dir_lock) = {
            let config = config.clone();
            let metadata_dir = metadata_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
                // Every directory must agree; the first formatted one names the cluster.
                let mut cluster_id = configured_cluster.clone();
                for dir in log_dirs.iter().chain(std::iter::once(&metadata_dir)) {
                    match MetaProperties::read_checked(dir, node_id, cluster_id.as_deref()) {
                        Ok(Some(meta)) => {
                            cluster_id.get_or_insert(meta.cluster_id);
                        }
                        Ok(None) => {}
                        // A log directory whose storage fails is taken offline when
                        // the logs are opened; the metadata directory must work.
                        Err(e) if e.is_storage_fault() && *dir != metadata_dir => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                // As KRaft: the members of a quorum share the id `storage format`
                // gave them; only a lone node names a new cluster itself.
                let cluster_id = match cluster_id {
                    Some(id) => id,
                    None if config.node.voters.len() > 1 => {
                        return Err(BrokerError::Unformatted(unformatted_member(
                            &metadata_dir,
                            config.node.voters.len(),
                        )))
                    }
                    None => random_kafka_uuid(),
                };
                let metadata_dir_lock = if log_dirs.contains(&metadata_dir) {
                    None
                } else {
                    // Its own directory, with its own lock and identity, as in Kafka.
                    std::fs::create_dir_all(&metadata_dir)
                        .map_err(|e| moldau_log::LogError::io(&metadata_dir, e))?;
                    let lock = DirLock::acquire(&metadata_dir)?;
                    if MetaProperties::read(&metadata_dir)?.is_none() {
                        MetaProperties::new_directory(&cluster_id, node_id).write(&metadata_dir)?;
                    }
                    Some(lock)
                };
                // After a crash partitions are recovered while the broker serves
                // those done (see `host_recovered`).
                let logs = LogDirs::open_with(
                    &log_dirs,
                    node_id,
                    &cluster_id,
                    LogConfig::default(),
                    config.long("log.retention.check.interval.ms").max(1) as u64,
                    StartupRecovery::Background,
                )?;
                assert_eq!(
                    logs.cluster_id(),
                    cluster_id,
                    "meta.properties changed under us"
                );
                if let Some(i) = log_dirs.iter().position(|d| *d == metadata_dir) {
                    if let Some(why) = logs.dirs()[i].failed_at_start() {
                        // The metadata log lives there: Kafka stops when it fails.
                        return Err(BrokerError::Corrupt(format!(
                            "the metadata log directory {} (metadata.log.dir) failed: {why}",
                            metadata_dir.display()
                        )));
                    }
                }
                logs.set_producer_id_expiration_ms(config.long("producer.id.expiration.ms"));
                Ok((Arc::new(logs), metadata_dir_lock))
            })
            .await
            .map_err(|e| BrokerError::Corrupt(format!("opening the logs: {e}")))??
        };
        let cluster_id = logs.cluster_id().to_string();
        let mut quorum_config = quorum_config(&config, &metadata_dir)?;
        quorum_config.channel = listener_auths.controller_channel.clone();
        // Random per process start: tells this incarnation from an earlier one.
        let incarnation_id = *uuid::Uuid::new_v4().as_bytes();
        quorum_config.lifecycle = LifecycleConfig {
            local_broker: Some(LocalBroker {
                broker_id: node_id,
                incarnation_id,
            }),
            cluster_id: cluster_id.clone(),
            session_timeout_ms: config.node.session_timeout_ms.max(1) as u64,
            unclean_leader_election: config.bool(UNCLEAN_LEADER_ELECTION_CONFIG),
            leader_rebalance: config.bool("auto.leader.rebalance.enable").then(|| {
                LeaderRebalance {
                    check_interval_ms: (config
                        .long("leader.imbalance.check.interval.seconds")
                        .max(1) as u64)
                        .saturating_mul(1000),
                    imbalance_percentage: config
                        .int("leader.imbalance.per.broker.percentage")
                        .max(0) as u32,
                }
            }),
        };
        quorum_config.topic_defaults = crate::metadata_quorum::TopicDefaults {
            partitions: config.settings.num_partitions,
            replication_factor: config.settings.default_replication_factor,
        };
        quorum_config.broker_config = Some(Arc::new(config.clone()));
        let voters = quorum_config.voters.clone();
        let metadata = Arc::new(
            MetadataQuorum::start(quorum_config, controller_listener)
                .await
                .map_err(|e| BrokerError::Corrupt(format!("metadata quorum: {e}")))?,
        );
        let controller = ControllerClient::new(Arc::clone(&metadata), voters);
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let replicas = ReplicaManager::new(Arc::clone(&logs), Arc::clone(&metrics), node_id);
        let fetchers = crate::replica_fetchers::ReplicaFetchers::new(
            node_id,
            advertised.inter_broker().name.clone(),
            listener_auths.inter_broker_tls.clone(),
            listener_auths.inter_broker_sasl.clone(),
            Arc::clone(&metadata),
            crate::replica_fetchers::ReplicaFetchSettings::from_config(&config),
        );
        let image = metadata.image();
        let (published, _) = tokio::sync::watch::channel(-1);
        let broker = Arc::new(Broker {
            node_id,
            cluster_id,
            advertised,
            data_dir,
            _metadata_dir_lock: metadata_dir_lock,
            replicas,
            fetchers,
            logs,
            metadata,
            controller,
            published,
            hosting: parking_lot::Mutex::new(None),
            fetch_sessions: FetchSessionCache::new(),
            started_at_ms: crate::clock::now_ms(),
            producer_ids: Default::default(),
            groups: std::sync::OnceLock::new(),
            txns: std::sync::OnceLock::new(),
            metrics,
            client_quotas: Default::default(),
            controller_mutations: Default::default(),
            lifecycle: LifecycleAgent::new(
                incarnation_id,
                Duration::from_millis(config.node.heartbeat_interval_ms.max(1) as u64),
                Duration::from_millis(config.node.session_timeout_ms.max(1) as u64),
            ),
            listener_auths,
            config,
        });
        tracing::info!(
            metadata_offset = image.last_offset(),
            caught_up = broker.metadata.caught_up_at_start(),
            "publishing the metadata image replayed at start"
        );
        {
            let broker = Arc::clone(&broker);
            let image = Arc::clone(&image);
            tokio::task::spawn_blocking(move || -> Result<(), BrokerError> {
                broker.publish(&image, &MetadataDelta::everything_in(&image))?;
                if !broker.metadata.caught_up_at_start() {
                    // Logs of topics the image does not show yet are kept.
                    return Ok(());
                }
                broker.replicas.remove_stray_logs(&image)
            })
            .await
            .map_err(|e| BrokerError::Corrupt(format!("publishing metadata: {e}")))??;
        }
        broker.published.send_replace(image.last_offset());
        broker.watch_cluster_id_conflict();
        broker.host_as_recovered();
        broker.start_publisher(image);
        crate::isr_maintenance::start(&broker);
        // Registering a new incarnation fences the previous one, which takes its
        // leadership away until this one is unfenced: coordinators start after that, so
        // a restart does not load every offsets partition, drop it and load it again.
        broker.start_lifecycle().await;
        if let Some(why) = broker.lifecycle.refusal().borrow().clone() {
            return Err(BrokerError::api(ResponseError::InconsistentClusterId, why));
        }
        let _ = broker
            .groups
            .set(crate::group_service::GroupService::start(&broker));
        let _ = broker
            .txns
            .set(crate::txn_service::TxnService::start(&broker));
        Ok(broker)
    }

    /// A majority of the voters turned out to belong to another cluster: this node
    /// can neither vote nor replicate there, so the broker stops, saying why.
    fn watch_cluster_id_conflict(self: &Arc<Self>) {
        let mut conflict = self.metadata.cluster_id_conflict();
        let broker = Arc::downgrade(self);
        tokio::spawn(async move {
            let Ok(found) = conflict.wait_for(Option::is_some).await.map(|c| c.clone()) else {
                return;
            };
            let (Some(found), Some(broker)) = (found, broker.upgrade()) else {
                return;
            };
            let theirs: Vec<String> = found
                .theirs
                .iter()
                .map(|(node, id)| format!("node {node}: {id}"))
                .collect();
            let why = format!(
                "INCONSISTENT_CLUSTER_ID: this node's data directory {} is formatted for cluster {}, but a majority of controller.quorum.voters belong to another cluster ({}); they refuse its Raft requests. Format it for their cluster id (moldau storage format --cluster-id) or use an empty directory with --cluster-id",
                broker.data_dir.display(),
                found.ours,
                theirs.join(", ")
            );
            tracing::error!("{why}");
            broker.lifecycle.refuse(why);
        });
    }

    /// Starts registering and heartbeating; start-up waits until the controller has
    /// unfenced this broker, up to the write timeout (a quorum still electing, or an
    /// earlier incarnation's session not yet expired, may take longer: then it goes
    /// on in the background).
    async fn start_lifecycle(self: &Arc<Self>) {
        let mut status = self.lifecycle.status();
        tokio::spawn(LifecycleAgent::run(
            Arc::downgrade(self),
            self.metadata.stopped(),
        ));
        let mut refusal = self.lifecycle.refusal();
        let unfenced = status
            .wait_for(|s| s.epoch.is_some() && (!s.fenced || self.stays_fenced_while_recovering()));
        let refused = refusal.wait_for(Option::is_some);
        let settled = tokio::time::timeout(self.metadata.write_timeout(), async {
            tokio::select! {
                _ = unfenced => {}
                _ = refused => {}
            }
        });
        if settled.await.is_err() {
            tracing::warn!("broker not registered and unfenced yet; still trying");
        }
    }

    /// In a cluster with other live brokers, a broker still recovering partitions
    /// after an unclean shutdown stays fenced: it could be elected leader of a
    /// partition whose replica here is not recovered (Kafka's broker does not even
    /// register before its logs are loaded). Alone it is unfenced at once and
    /// serves each partition as it is recovered.
    pub(crate) fn stays_fenced_while_recovering(&self) -> bool {
        self.logs.recovery_progress().0 > 0
            && self
                .metadata
                .image()
                .brokers()
                .any(|b| b.id != self.node_id && !b.fenced)
    }

    /// Kafka's controlled shutdown: heartbeats ask to shut down, the controller moves
    /// the leadership of this broker's partitions to other in-sync replicas, and
    /// answers `should_shut_down` once every other live broker has seen that. Waits
    /// at most `limit`; a broker alone in the cluster has nobody to hand over to.
    pub async fn controlled_shutdown(&self, limit: Duration) {
        let image = self.metadata.image();
        let others = image.brokers().any(|b| b.id != self.node_id && !b.fenced);
        let status = *self.lifecycle.status().borrow();
        if !others || status.epoch.is_none() || status.fenced {
            return;
        }
        tracing::info!("controlled shutdown: handing leadership over");
        let mut status = self.lifecycle.status();
        self.lifecycle.request_shut_down();
        let handed_over = tokio::time::timeout(limit, status.wait_for(|s| s.should_shut_down))
            .await
            .is_ok_and(|r| r.is_ok());
        if handed_over {
            tracing::info!("controlled shutdown: leadership handed over");
        } else {
            tracing::warn!(
                ?limit,
                "controlled shutdown not confirmed in time; stopping anyway"
            );
        }
    }

    /// Every client listener as registered, the inter-broker one first: the image's
    /// host and port are the first endpoint's.
    pub(crate) fn registered_endpoints(&self) -> Result<Vec<BrokerEndpoint>, BrokerError> {
        let inter_broker = self.advertised.inter_broker();
        let mut endpoints = Vec::new();
        for a in std::iter::once(inter_broker).chain(
            self.advertised
                .iter()
                .filter(|a| a.name != inter_broker.name),
        ) {
            let port = u16::try_from(a.port).map_err(|_| {
                BrokerError::Corrupt(format!(
                    "advertised port {} of listener {} out of range",
                    a.port, a.name
                ))
            })?;
            endpoints.push(BrokerEndpoint {
                name: a.name.clone(),
                host: a.host.clone(),
                port,
                security_protocol: self
                    .config
                    .node
                    .listeners
                    .protocol_of(&a.name)
                    .unwrap_or(SecurityProtocol::Plaintext),
            });
        }
        Ok(endpoints)
    }

    /// Connects to another broker's inter-broker listener as this node, with the
    /// listener's TLS and SASL login when it has them.
    pub async fn connect_inter_broker(
        &self,
        host: &str,
        port: i32,
    ) -> Result<
        crate::inter_broker_client::InterBrokerConnection,
        crate::inter_broker_client::InterBrokerError,
    > {
        crate::inter_broker_client::InterBrokerConnection::connect(
            host,
            port,
            self.node_id,
            self.listener_auths.inter_broker_tls.as_ref(),
            self.listener_auths.inter_broker_sasl.as_ref(),
        )
        .await
    }

    /// The (host, port) clients that came in on `listener` are given for broker `b`:
    /// its registered endpoint of that name (a broker without one is given by its
    /// first endpoint; with one node every broker has them all).
    pub fn address_on(&self, b: &BrokerImage, listener: &str) -> (String, i32) {
        match b.listeners.iter().find(|e| e.name == listener) {
            Some(e) => (e.host.clone(), i32::from(e.port)),
            None => {
                let (host, port) = b.first_address();
                (host.to_string(), port)
            }
        }
    }

    /// Every topic config of `topic` as in force now.
    pub fn topic_configs(&self, image: &MetadataImage, topic: &str) -> Vec<ResolvedConfig> {
        let empty = Default::default();
        let overrides = image.topic(topic).map(|t| &t.configs).unwrap_or(&empty);
        resolve_topic_configs(&self.config, image.broker_configs(None), overrides)
    }

    pub fn log_config(&self, image: &MetadataImage, topic: &str) -> LogConfig {
        log_config_from(&self.topic_configs(image, topic))
    }

    /// Leaves the metadata quorum (stops Raft and the controller listener).
    pub async fn stop_metadata_quorum(&self) {
        self.metadata.shutdown().await;
    }

    /// Flushes every log and writes the checkpoints (of every log directory).
    pub fn shutdown(&self) -> Result<(), BrokerError> {
        self.fetchers.shutdown();
        self.logs.shutdown()?;
        Ok(())
    }
}

/// The quorum this node belongs to: `controller.quorum.voters`, or this node alone.
fn quorum_config(
    config: &BrokerConfig,
    data_dir: &std::path::Path,
) -> Result<QuorumConfig, BrokerError> {
    let node_id = config.node_id();
    let quorum_error = |e: crate::metadata_quorum::QuorumError| {
        BrokerError::api(moldau_protocol::ResponseError::InvalidConfig, e.to_string())
    };
    let mut quorum = if config.node.voters.is_empty() {
        let id = u64::try_from(node_id).map_err(|_| {
            BrokerError::api(
                moldau_protocol::ResponseError::InvalidConfig,
                format!("node.id {node_id} is negative"),
            )
        })?;
        // A lone voter never dials itself: its address is never used.
        QuorumConfig::new(
            id,
            std::collections::BTreeMap::from([(id, String::new())]),
            data_dir.to_path_buf(),
        )
    } else {
        QuorumConfig::from_voters(node_id, &config.node.voters, data_dir.to_path_buf())
            .map_err(quorum_error)?
    };
    let snapshot_bytes = config.long("metadata.log.max.record.bytes.between.snapshots");
    quorum.snapshot_after_bytes = u64::try_from(snapshot_bytes).ok().filter(|b| *b > 0);
    Ok(quorum)
}

/// Why a member of a multi-voter quorum will not name a cluster itself.
fn unformatted_member(dir: &std::path::Path, voters: usize) -> String {
    format!(
        "the data directory {} is not formatted and no cluster id is given: a node of a {voters}-voter quorum needs the cluster id every voter shares (as KRaft's kafka-storage.sh format). Create one with `moldau storage random-uuid`, then run `moldau storage format --cluster-id <id>` on every node or start each with --cluster-id <id>",
        dir.display()
    )
}
