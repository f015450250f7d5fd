//! What each listener needs to authenticate a connection, loaded once at start-up:
//! its resolved security settings and, for SSL and SASL_SSL, its TLS acceptor.

use crate::config::BrokerConfig;
use crate::listener_security::{ListenerSecurity, SecuritySettings};
use crate::raft_transport::ControllerChannel;
use crate::tls_acceptor::{TlsListener, TlsSetupError};
use crate::tls_connector::TlsConnector;
use moldau_metadata::SecurityProtocol;
use moldau_security::plain::PlainUsers;
use moldau_security::sasl_client::SaslClientCredentials;
use std::collections::HashMap;
use std::sync::Arc;

pub struct ListenerAuth {
    pub security: ListenerSecurity,
    pub tls: Option<TlsListener>,
}

impl ListenerAuth {
    /// True on SASL_PLAINTEXT and SASL_SSL listeners.
    pub fn uses_sasl(&self) -> bool {
        matches!(
            self.security.protocol,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn plaintext(name: &str) -> Self {
        ListenerAuth {
            security: ListenerSecurity {
                name: name.to_string(),
                protocol: SecurityProtocol::Plaintext,
                ssl: None,
                sasl_mechanisms: Vec::new(),
                plain_users: PlainUsers::default(),
                logins: Vec::new(),
            },
            tls: None,
        }
    }
}

/// TLS for the connections this node opens to `listener` on other nodes, when it is
/// SSL or SASL_SSL.
fn connector(
    config: &BrokerConfig,
    listener: &str,
    what: &str,
) -> Result<Option<TlsConnector>, TlsSetupError> {
    let Some(security) = config.security.listener(listener) else {
        return Ok(None);
    };
    if !matches!(
        security.protocol,
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
    ) {
        return Ok(None);
    }
    let ssl = security.ssl.as_ref().ok_or_else(|| TlsSetupError {
        property: "ssl.keystore.location",
        reason: format!("{what} listener {listener} has no SSL settings"),
    })?;
    TlsConnector::load(ssl)
        .map(Some)
        .map_err(|e| TlsSetupError {
            property: e.property,
            reason: format!("{what} listener {listener}: {}", e.reason),
        })
}

/// Every listener's authentication, by listener name.
pub struct ListenerAuths {
    by_name: HashMap<String, Arc<ListenerAuth>>,
    /// TLS for the connections this broker opens to other brokers, when the
    /// inter-broker listener is SSL or SASL_SSL.
    pub inter_broker_tls: Option<TlsConnector>,
    /// The SASL login for those connections, when the inter-broker listener uses SASL.
    pub inter_broker_sasl: Option<SaslClientCredentials>,
    /// How the controller listener is secured, both ways.
    pub controller_channel: ControllerChannel,
}

impl ListenerAuths {
    /// Loads every TLS keystore and truststore; a problem stops start-up. Warns about
    /// plaintext listeners reachable from other machines.
    pub fn load(config: &BrokerConfig) -> Result<Self, TlsSetupError> {
        let mut by_name = HashMap::new();
        for security in &config.security.listeners {
            let tls = match &security.ssl {
                Some(ssl) => Some(TlsListener::load(ssl).map_err(|e| TlsSetupError {
                    property: e.property,
                    reason: format!("listener {}: {}", security.name, e.reason),
                })?),
                None => None,
            };
            by_name.insert(
                security.name.clone(),
                Arc::new(ListenerAuth {
                    security: security.clone(),
                    tls,
                }),
            );
        }
        // With an authorizer, a PLAINTEXT client is User:ANONYMOUS and the ACLs decide.
        if config.authorizer.is_none() {
            for address in SecuritySettings::exposed_plaintext_listeners(config) {
                tracing::warn!(
                    "listener on {address} is PLAINTEXT, reachable beyond this machine and without an authorizer: anyone who can connect can read, write and delete every topic; bind it to 127.0.0.1, use SSL/SASL_SSL, or set authorizer.class.name"
                );
            }
        }
        let inter_broker = &config.node.listeners.inter_broker;
        let inter_broker_tls = connector(config, inter_broker, "inter-broker")?;
        let controller_channel = match config.node.listeners.controller_names.first() {
            Some(name) => ControllerChannel {
                connector: connector(config, name, "controller")?,
                acceptor: by_name
                    .get(name)
                    .and_then(|l: &Arc<ListenerAuth>| l.tls.as_ref())
                    .map(|t| t.acceptor.clone()),
                login: config.security.controller_login.clone(),
                users: by_name
                    .get(name)
                    .filter(|l| l.uses_sasl())
                    .map(|l| Arc::new(l.security.plain_users.clone())),
                authorizer: config.authorizer.clone(),
            },
            None => ControllerChannel::default(),
        };
        Ok(ListenerAuths {
            by_name,
            inter_broker_tls,
            inter_broker_sasl: config.security.inter_broker_login.clone(),
            controller_channel,
        })
    }

    /// Every configured listener's authentication.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ListenerAuth>> {
        self.by_name.values()
    }

    /// The listener's authentication; a listener the configuration does not name (an
    /// in-process test listener) is plaintext.
    pub fn get(&self, name: &str) -> Arc<ListenerAuth> {
        self.by_name
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::new(ListenerAuth::plaintext(name)))
    }
}
