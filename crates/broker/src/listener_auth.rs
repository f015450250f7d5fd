//! What each listener needs to authenticate a connection, loaded once at start-up:
//! its resolved security settings and, for SSL and SASL_SSL, its TLS acceptor.

use crate::config::BrokerConfig;
use crate::listener_security::{ListenerSecurity, SecuritySettings};
use crate::tls_acceptor::{TlsListener, TlsSetupError};
use crate::tls_connector::TlsConnector;
use moldau_metadata::SecurityProtocol;
use moldau_security::plain::PlainUsers;
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
            },
            tls: None,
        }
    }
}

/// Every listener's authentication, by listener name.
pub struct ListenerAuths {
    by_name: HashMap<String, Arc<ListenerAuth>>,
    /// TLS for the connections this broker opens to other brokers, when the
    /// inter-broker listener is SSL.
    pub inter_broker_tls: Option<TlsConnector>,
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
        let inter_broker_tls = match config.security.listener(inter_broker) {
            Some(security) if security.protocol == SecurityProtocol::Ssl => {
                let ssl = security.ssl.as_ref().ok_or_else(|| TlsSetupError {
                    property: "ssl.keystore.location",
                    reason: format!("inter-broker listener {inter_broker} has no SSL settings"),
                })?;
                Some(TlsConnector::load(ssl).map_err(|e| TlsSetupError {
                    property: e.property,
                    reason: format!("inter-broker listener {inter_broker}: {}", e.reason),
                })?)
            }
            _ => None,
        };
        Ok(ListenerAuths {
            by_name,
            inter_broker_tls,
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
