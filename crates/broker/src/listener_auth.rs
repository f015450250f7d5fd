//! What each listener needs to authenticate a connection, loaded once at start-up:
//! its resolved security settings and, for SSL and SASL_SSL, its TLS acceptor.

use crate::config::BrokerConfig;
use crate::listener_security::{ListenerSecurity, SecuritySettings};
use crate::tls_acceptor::{TlsListener, TlsSetupError};
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
        Ok(ListenerAuths { by_name })
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
