//! What a handler may know of the cluster: the metadata image as applied here, this
//! node's identity, where clients reach each broker, the quorum, and the typed
//! configuration (broker-wide and each topic's effective one).

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::quorum_view::QuorumView;
use crate::topic_config::ResolvedConfig;
use moldau_log::LogConfig;
use moldau_metadata::{BrokerImage, MetadataImage};
use std::sync::Arc;

#[derive(Clone)]
pub struct MetadataView {
    broker: Arc<Broker>,
}

impl MetadataView {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// The current image; hold the `Arc` to answer a request from one image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.broker.metadata.image()
    }

    /// Every applied image, for a check that outlives a request and must not hold
    /// the broker.
    pub fn images(&self) -> tokio::sync::watch::Receiver<Arc<MetadataImage>> {
        self.broker.metadata.subscribe()
    }

    pub fn node_id(&self) -> i32 {
        self.broker.node_id
    }

    pub fn cluster_id(&self) -> &str {
        &self.broker.cluster_id
    }

    /// The configuration resolved at start-up.
    pub fn config(&self) -> &BrokerConfig {
        &self.broker.config
    }

    /// The (host, port) clients that came in on `listener` are given for `b`.
    pub fn address_on(&self, b: &BrokerImage, listener: &str) -> (String, i32) {
        self.broker.address_on(b, listener)
    }

    /// The controller id Metadata and DescribeCluster answer with.
    pub fn controller_for_clients(&self, image: &MetadataImage) -> i32 {
        self.broker.controller_for_clients(image)
    }

    /// The metadata quorum as this node sees it (DescribeQuorum).
    pub fn quorum_view(&self) -> QuorumView {
        self.broker.quorum_view()
    }

    /// Every topic config of `topic` as in force in `image`.
    pub fn topic_configs(&self, image: &MetadataImage, topic: &str) -> Vec<ResolvedConfig> {
        self.broker.topic_configs(image, topic)
    }

    /// `topic`'s log settings as in force in `image`.
    pub fn log_config(&self, image: &MetadataImage, topic: &str) -> LogConfig {
        self.broker.log_config(image, topic)
    }
}
