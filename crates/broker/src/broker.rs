//! The broker: configuration, logs, metadata, hosted partitions and coordinators,
//! shared by every connection.

use crate::advertised_listeners::AdvertisedListeners;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::fetch_session::FetchSessionCache;
use crate::metadata_store::MetadataStore;
use crate::replica_manager::ReplicaManager;
use crate::topic_config::{log_config_from, resolve_topic_configs, ResolvedConfig};
use moldau_log::properties_file::{random_kafka_uuid, MetaProperties};
use moldau_log::{LogConfig, LogManager};
use moldau_metadata::{
    BrokerEndpoint, BrokerImage, BrokerRegistration, MetadataDelta, MetadataImage, MetadataRecord,
    SecurityProtocol,
};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    /// Where clients reach each client listener; Metadata answers on the one they used.
    pub advertised: AdvertisedListeners,
    pub data_dir: PathBuf,
    pub logs: Arc<LogManager>,
    pub metadata: MetadataStore,
    pub replicas: ReplicaManager,
    pub fetch_sessions: FetchSessionCache,
    pub started_at_ms: i64,
    /// Producer ids for InitProducerId, in blocks claimed through the metadata log.
    pub producer_ids: crate::producer_ids::ProducerIdAllocator,
    /// The group coordinator task, started once the broker exists.
    pub groups: std::sync::OnceLock<crate::group_service::GroupService>,
    /// Request, traffic, connection and flush metrics (rendered by the console).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Broker {
    /// Opens the data directory, replays metadata, registers this broker and hosts
    /// every partition it leads. `advertised` is where clients reach the listener.
    /// Must be called inside a tokio runtime.
    pub fn open(
        config: BrokerConfig,
        advertised: impl Into<AdvertisedListeners>,
    ) -> Result<Arc<Self>, BrokerError> {
        let advertised = advertised.into();
        let node_id = config.node_id();
        let data_dir = PathBuf::from(config.data_dir());
        // A formatted directory must be this node's (and this cluster's, when one is
        // configured); an empty one is formatted here, as `moldau storage format` would.
        let configured_cluster = config.explicit("cluster.id");
        let cluster_id = match MetaProperties::read_checked(&data_dir, node_id, configured_cluster)?
        {
            Some(meta) => meta.cluster_id,
            None => configured_cluster.map_or_else(random_kafka_uuid, str::to_string),
        };
        let logs = Arc::new(LogManager::open(
            &data_dir,
            node_id,
            &cluster_id,
            LogConfig::default(),
            config.long("log.retention.check.interval.ms").max(1) as u64,
        )?);
        logs.set_producer_id_expiration_ms(config.long("producer.id.expiration.ms"));
        assert_eq!(
            logs.cluster_id(),
            cluster_id,
            "meta.properties changed under us"
        );
        let metadata = MetadataStore::open(
            &logs,
            config.long("metadata.log.max.record.bytes.between.snapshots") as u64,
        )?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let replicas = ReplicaManager::new(Arc::clone(&logs), Arc::clone(&metrics));
        let broker = Arc::new(Broker {
            node_id,
            cluster_id,
            advertised,
            data_dir,
            replicas,
            logs,
            metadata,
            fetch_sessions: FetchSessionCache::new(),
            started_at_ms: crate::clock::now_ms(),
            producer_ids: Default::default(),
            groups: std::sync::OnceLock::new(),
            metrics,
            config,
        });
        broker.register()?;
        let image = broker.metadata.image();
        broker.publish(&image, &MetadataDelta::everything_in(&image))?;
        broker.replicas.remove_stray_logs(&image)?;
        let _ = broker
            .groups
            .set(crate::group_service::GroupService::start(&broker));
        Ok(broker)
    }

    /// Registers this broker's listeners and rack unless the image already has them. With one
    /// node there is nobody to catch up with, so it registers unfenced; the broker
    /// epoch is the offset the record lands at, as KRaft's controller assigns it.
    fn register(&self) -> Result<(), BrokerError> {
        let image = self.metadata.image();
        let current = image.broker(self.node_id);
        let rack = self.config.node.rack.clone();
        // Every client listener, the inter-broker one first: the image's host and port
        // are the first endpoint's.
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
                security_protocol: SecurityProtocol::Plaintext,
            });
        }
        let up_to_date = current.is_some_and(|b| b.listeners == endpoints && b.rack == rack);
        if up_to_date {
            return Ok(());
        }
        self.metadata
            .commit(&[MetadataRecord::RegisterBroker(BrokerRegistration {
                broker_id: self.node_id,
                incarnation_id: *uuid::Uuid::new_v4().as_bytes(),
                broker_epoch: image.last_offset() + 1,
                endpoints,
                features: Vec::new(),
                rack,
                fenced: false,
                in_controlled_shutdown: false,
            })])?;
        Ok(())
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

    /// Flushes every log and writes the checkpoints.
    pub fn shutdown(&self) -> Result<(), BrokerError> {
        self.logs.shutdown()?;
        Ok(())
    }
}
