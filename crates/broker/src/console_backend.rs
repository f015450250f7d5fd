//! The one door of the web console into the broker: the services handlers use, plus
//! what only the console needs (start time, console logins, the inter-broker
//! listener it sends abort markers over). The console names no `Broker` field.

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::metrics::Metrics;
use crate::request_access::Access;
use crate::services::{Controller, Groups, MetadataView, Partitions, Transactions};
use crate::tls_connector::TlsConnector;
use moldau_security::sasl_client::SaslClientCredentials;
use moldau_security::KafkaPrincipal;
use std::sync::Arc;

#[derive(Clone)]
pub struct ConsoleBackend {
    broker: Arc<Broker>,
}

impl ConsoleBackend {
    pub fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// The metadata image, this node's identity, the quorum and topic configs.
    pub fn metadata(&self) -> MetadataView {
        MetadataView::new(Arc::clone(&self.broker))
    }

    /// The partitions hosted here and the log directories.
    pub fn partitions(&self) -> Partitions {
        Partitions::new(Arc::clone(&self.broker))
    }

    /// Topic, partition and config changes through the active controller.
    pub fn controller(&self) -> Controller {
        Controller::new(Arc::clone(&self.broker))
    }

    /// The group coordinator runtime.
    pub fn groups(&self) -> Groups {
        Groups::new(Arc::clone(&self.broker))
    }

    /// The transaction coordinator runtime.
    pub fn transactions(&self) -> Transactions {
        Transactions::new(Arc::clone(&self.broker))
    }

    /// The configuration resolved at start-up.
    pub fn config(&self) -> &BrokerConfig {
        &self.broker.config
    }

    /// Request, traffic, connection and flush metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.broker.metrics
    }

    /// When this broker started (ms since the epoch).
    pub fn started_at_ms(&self) -> i64 {
        self.broker.started_at_ms
    }

    /// The authorizer's view for the console's logged-in `principal` at `host`:
    /// the same decisions the broker makes for a Kafka request of that principal.
    pub fn access(&self, principal: KafkaPrincipal, host: &str) -> Access {
        Access::for_principal(self.metadata(), principal, host)
    }

    /// True when `user` exists in a SASL user store and `password` is theirs.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.broker.check_password(user, password)
    }

    /// The listener brokers reach each other on.
    pub fn inter_broker_listener(&self) -> &str {
        &self.broker.advertised.inter_broker().name
    }

    /// TLS for connections to the inter-broker listener, when it uses TLS.
    pub fn inter_broker_tls(&self) -> Option<&TlsConnector> {
        self.broker.listener_auths.inter_broker_tls.as_ref()
    }

    /// The SASL login for connections to the inter-broker listener, when it has one.
    pub fn inter_broker_sasl(&self) -> Option<&SaslClientCredentials> {
        self.broker.listener_auths.inter_broker_sasl.as_ref()
    }
}
