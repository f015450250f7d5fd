//! Each listener's TLS and SASL settings, resolved once at start-up from Kafka's
//! properties. A property may be set for every listener (`ssl.client.auth`) or for one
//! (`listener.name.sasl_ssl.ssl.client.auth`, which wins). Everything Moldau cannot
//! honour is refused here with a message, before anything is bound.

use crate::config::{invalid, refused};
use crate::config::{BrokerConfig, ConfigError};
use crate::key_password::KeyPassword;
use moldau_metadata::SecurityProtocol;
use moldau_security::jaas::{JaasConfig, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE};
use moldau_security::plain::PlainUsers;
use moldau_security::principal_mapping::PrincipalMappingRules;
use moldau_security::sasl_client::SaslClientCredentials;
use moldau_security::SaslMechanism;

const LISTENER_PREFIX: &str = "listener.name.";
/// The mechanism-prefixed property with PLAIN's users (and the login this broker
/// presents with PLAIN to other brokers).
const PLAIN_JAAS_PROPERTY: &str = "plain.sasl.jaas.config";
/// The mechanism-prefixed properties with the login this broker presents with SCRAM.
const SCRAM_JAAS_PROPERTIES: [(&str, SaslMechanism); 2] = [
    ("scram-sha-256.sasl.jaas.config", SaslMechanism::ScramSha256),
    ("scram-sha-512.sasl.jaas.config", SaslMechanism::ScramSha512),
];

/// Where a PEM keystore's certificate chain and private key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoreSource {
    /// `ssl.keystore.location`: one file with the chain and the key.
    File(String),
    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key` inline (Kafka 2.7+).
    Inline { chain: String, key: String },
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TruststoreSource {
    File(String),
    Inline(String),
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// The TLS versions rustls speaks, from `ssl.enabled.protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    pub keystore: KeystoreSource,
    /// `ssl.key.password`: the keystore's key is encrypted PKCS#8.
    pub key_password: Option<KeyPassword>,
    pub truststore: Option<TruststoreSource>,
    pub client_auth: ClientAuth,
    pub principal_mapping: PrincipalMappingRules,
    pub versions: Vec<TlsVersion>,
}

/// How one listener authenticates its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSecurity {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// On SSL and SASL_SSL listeners.
    pub ssl: Option<SslSettings>,
    /// On SASL listeners: `sasl.enabled.mechanisms`.
    pub sasl_mechanisms: Vec<SaslMechanism>,
    /// PLAIN's users (`user_<name>` in the listener's PlainLoginModule line).
    pub plain_users: PlainUsers,
    /// The logins this broker presents to this listener on other nodes: the
    /// `username`/`password` of each mechanism's JAAS line.
    pub logins: Vec<SaslClientCredentials>,
}

/// Every listener's security settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    pub listeners: Vec<ListenerSecurity>,
    /// The login for other brokers' inter-broker listener, when it uses SASL
    /// (`sasl.mechanism.inter.broker.protocol`).
    pub inter_broker_login: Option<SaslClientCredentials>,
    /// The login for the controllers' listener, when it uses SASL
    /// (`sasl.mechanism.controller.protocol`).
    pub controller_login: Option<SaslClientCredentials>,
}

/// Splits `listener.name.<listener>.<property>`.
pub fn split_listener_property(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix(LISTENER_PREFIX)?.split_once('.')
}

/// Checks a `listener.name.<listener>.<property>` value on its own (the listener's
/// existence is checked with the others, in [`SecuritySettings::resolve`]).
pub fn validate_listener_property(
    listener: &str,
    property: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let full = format!("{LISTENER_PREFIX}{listener}.{property}");
    if property == PLAIN_JAAS_PROPERTY {
        return parse_plain_jaas(&full, value).map(|_| ());
    }
    if let Some((_, mechanism)) = SCRAM_JAAS_PROPERTIES.iter().find(|(p, _)| *p == property) {
        return parse_scram_jaas(&full, value, *mechanism).map(|_| ());
    }
    let def = crate::config::broker_property(property)
        .filter(|d| d.name.starts_with("ssl.") || d.name == "sasl.enabled.mechanisms")
        .ok_or_else(|| ConfigError::Unknown(full.clone()))?;
    crate::config::validate_value(def, value).map_err(|e| match e {
        ConfigError::Invalid { value, reason, .. } => ConfigError::Invalid {
            name: full.clone(),
            value,
            reason,
        },
        other => other,
    })?;
    check_store_type(&full, property, value)
}

/// Only PEM stores are read; Kafka's JKS and PKCS12 are refused by name.
fn check_store_type(name: &str, property: &str, value: &str) -> Result<(), ConfigError> {
    if !matches!(property, "ssl.keystore.type" | "ssl.truststore.type") {
        return Ok(());
    }
    if value.trim().eq_ignore_ascii_case("PEM") {
        return Ok(());
    }
    Err(ConfigError::Refused {
        name: name.to_string(),
        reason: format!(
            "Moldau reads PEM stores only, not {}; convert it (openssl pkcs12 -in store.p12 -nodes) and set {property}=PEM",
            value.trim()
        ),
    })
}

fn hidden_invalid(name: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_string(),
        // The line holds passwords: never echoed.
        value: "(hidden)".into(),
        reason,
    }
}

fn parse_plain_jaas(
    name: &str,
    value: &str,
) -> Result<(PlainUsers, Option<SaslClientCredentials>), ConfigError> {
    let jaas = JaasConfig::parse(value).map_err(|r| hidden_invalid(name, r))?;
    if jaas.login_module != PLAIN_LOGIN_MODULE {
        return Err(hidden_invalid(
            name,
            format!(
                "the login module must be {PLAIN_LOGIN_MODULE}, not {}",
                jaas.login_module
            ),
        ));
    }
    let login = jaas_login(name, &jaas, SaslMechanism::Plain)?;
    Ok((PlainUsers::new(jaas.plain_users()), login))
}

/// A SCRAM JAAS line: only the login this broker presents (the users it accepts
/// are SCRAM credentials in the metadata log).
fn parse_scram_jaas(
    name: &str,
    value: &str,
    mechanism: SaslMechanism,
) -> Result<Option<SaslClientCredentials>, ConfigError> {
    let jaas = JaasConfig::parse(value).map_err(|r| hidden_invalid(name, r))?;
    if jaas.login_module != SCRAM_LOGIN_MODULE {
        return Err(hidden_invalid(
            name,
            format!(
                "the login module must be {SCRAM_LOGIN_MODULE}, not {}",
                jaas.login_module
            ),
        ));
    }
    jaas_login(name, &jaas, mechanism)
}

/// The `username` and `password` options, when the line has them (both or neither).
fn jaas_login(
    name: &str,
    jaas: &JaasConfig,
    mechanism: SaslMechanism,
) -> Result<Option<SaslClientCredentials>, ConfigError> {
    match (jaas.options.get("username"), jaas.options.get("password")) {
        (Some(username), Some(password)) if !username.is_empty() && !password.is_empty() => {
            Ok(Some(SaslClientCredentials {
                mechanism,
                username: username.clone(),
                password: password.clone(),
            }))
        }
        (None, None) => Ok(None),
        _ => Err(hidden_invalid(
            name,
            "give both username=\"…\" and password=\"…\" (the login this broker presents to others)".into(),
        )),
    }
}

/// One listener's view of the properties: its own prefixed value first.
struct ListenerProperties<'a> {
    config: &'a BrokerConfig,
    listener: &'a str,
}

impl ListenerProperties<'_> {
    /// The prefixed property name that is set for this listener, if any (listener
    /// names are matched in any case, as Kafka lower-cases them in the prefix).
    fn prefixed(&self, property: &str) -> Option<(String, &str)> {
        self.config
            .all_explicit()
            .iter()
            .find(|(k, _)| {
                split_listener_property(k)
                    .is_some_and(|(l, p)| l.eq_ignore_ascii_case(self.listener) && p == property)
            })
            .map(|(k, v)| (k.clone(), v.as_str()))
    }

    /// The explicit value (prefixed or global) and the name it was set under.
    fn explicit(&self, property: &str) -> Option<(String, String)> {
        match self.prefixed(property) {
            Some((name, value)) => Some((name, value.to_string())),
            None => self
                .config
                .explicit(property)
                .map(|v| (property.to_string(), v.to_string())),
        }
    }

    /// The value in force and the name it was set under (the bare name for defaults).
    fn value(&self, property: &str) -> (String, String) {
        self.explicit(property)
            .unwrap_or_else(|| (property.to_string(), self.config.string(property)))
    }
}

fn resolve_ssl(p: &ListenerProperties) -> Result<SslSettings, ConfigError> {
    let listener = p.listener;
    for secret in ["ssl.keystore.password", "ssl.truststore.password"] {
        if let Some((name, _)) = p.explicit(secret) {
            return Err(refused(
                &name,
                "Moldau reads PEM stores, which take no store password (an encrypted private key takes ssl.key.password)",
            ));
        }
    }
    let key_password = p
        .explicit("ssl.key.password")
        .map(|(_, password)| KeyPassword::new(password));
    let location = p.explicit("ssl.keystore.location");
    let chain = p.explicit("ssl.keystore.certificate.chain");
    let key = p.explicit("ssl.keystore.key");
    let keystore = match (location, chain, key) {
        (Some((_, path)), None, None) => KeystoreSource::File(path),
        (None, Some((_, chain)), Some((_, key))) => KeystoreSource::Inline { chain, key },
        (None, None, None) => {
            return Err(invalid(
                "ssl.keystore.location",
                "",
                format!("listener {listener} uses TLS and needs a PEM keystore (ssl.keystore.location, or ssl.keystore.certificate.chain with ssl.keystore.key)"),
            ))
        }
        _ => {
            return Err(invalid(
                "ssl.keystore.location",
                "",
                format!("listener {listener}: give either ssl.keystore.location or both ssl.keystore.certificate.chain and ssl.keystore.key"),
            ))
        }
    };
    let (name, store_type) = p.value("ssl.keystore.type");
    check_store_type(&name, "ssl.keystore.type", &store_type)?;
    let truststore = match (
        p.explicit("ssl.truststore.location"),
        p.explicit("ssl.truststore.certificates"),
    ) {
        (Some((_, path)), None) => Some(TruststoreSource::File(path)),
        (None, Some((_, pem))) => Some(TruststoreSource::Inline(pem)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(invalid(
                "ssl.truststore.location",
                "",
                format!("listener {listener}: give ssl.truststore.location or ssl.truststore.certificates, not both"),
            ))
        }
    };
    if truststore.is_some() {
        let (name, store_type) = p.value("ssl.truststore.type");
        check_store_type(&name, "ssl.truststore.type", &store_type)?;
    }
    let (name, auth) = p.value("ssl.client.auth");
    let client_auth = match auth.trim() {
        "none" => ClientAuth::None,
        "requested" => ClientAuth::Requested,
        "required" => ClientAuth::Required,
        _ => return Err(invalid(&name, &auth, "must be required, requested or none")),
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(invalid(
            &name,
            &auth,
            format!("listener {listener} checks client certificates and needs ssl.truststore.location (PEM CA certificates)"),
        ));
    }
    let (name, rules) = p.value("ssl.principal.mapping.rules");
    let principal_mapping =
        PrincipalMappingRules::parse(&rules).map_err(|r| invalid(&name, &rules, r))?;
    let (name, protocols) = p.value("ssl.enabled.protocols");
    let mut versions = Vec::new();
    for item in protocols
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let version = match item {
            "TLSv1.2" => TlsVersion::Tls12,
            "TLSv1.3" => TlsVersion::Tls13,
            other => {
                return Err(invalid(
                    &name,
                    &protocols,
                    format!("'{other}' is not offered: TLSv1.2 and TLSv1.3 only"),
                ))
            }
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err(invalid(&name, &protocols, "name TLSv1.2 and/or TLSv1.3"));
    }
    Ok(SslSettings {
        keystore,
        key_password,
        truststore,
        client_auth,
        principal_mapping,
        versions,
    })
}

type SaslSettings = (Vec<SaslMechanism>, PlainUsers, Vec<SaslClientCredentials>);

fn resolve_sasl(p: &ListenerProperties) -> Result<SaslSettings, ConfigError> {
    let (name, text) = p.value("sasl.enabled.mechanisms");
    let mut mechanisms = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mechanism = SaslMechanism::parse_configured(item).map_err(|reason| {
            let hint = if p.config.explicit("sasl.enabled.mechanisms").is_none()
                && p.prefixed("sasl.enabled.mechanisms").is_none()
            {
                " (Kafka's default is GSSAPI: set sasl.enabled.mechanisms)"
            } else {
                ""
            };
            refused(&name, format!("listener {}: {reason}{hint}", p.listener))
        })?;
        if !mechanisms.contains(&mechanism) {
            mechanisms.push(mechanism);
        }
    }
    if mechanisms.is_empty() {
        return Err(invalid(
            &name,
            &text,
            format!("listener {} uses SASL and enables no mechanism", p.listener),
        ));
    }
    let mut logins = Vec::new();
    let plain_users = match p.prefixed(PLAIN_JAAS_PROPERTY) {
        Some((name, value)) => {
            let (users, login) = parse_plain_jaas(&name, value)?;
            logins.extend(login);
            users
        }
        None if mechanisms.contains(&SaslMechanism::Plain) => {
            return Err(invalid(
                &format!(
                    "{LISTENER_PREFIX}{}.{PLAIN_JAAS_PROPERTY}",
                    p.listener.to_ascii_lowercase()
                ),
                "",
                format!("listener {} enables PLAIN and needs its users: {PLAIN_LOGIN_MODULE} required user_<name>=\"<password>\";", p.listener),
            ))
        }
        None => PlainUsers::default(),
    };
    for (property, mechanism) in SCRAM_JAAS_PROPERTIES {
        if let Some((name, value)) = p.prefixed(property) {
            logins.extend(parse_scram_jaas(&name, value, mechanism)?);
        }
    }
    Ok((mechanisms, plain_users, logins))
}

/// The login this broker presents on `listener` with the mechanism `property`
/// names, when the listener uses SASL; refused when it cannot authenticate.
fn resolve_login(
    config: &BrokerConfig,
    listener: &ListenerSecurity,
    property: &str,
    controller: bool,
) -> Result<Option<SaslClientCredentials>, ConfigError> {
    if listener.sasl_mechanisms.is_empty() {
        return Ok(None);
    }
    let text = config.string(property);
    let mechanism = SaslMechanism::parse_configured(&text).map_err(|reason| {
        let hint = if config.explicit(property).is_none() {
            " (Kafka's default is GSSAPI: set it)"
        } else {
            ""
        };
        refused(property, format!("{reason}{hint}"))
    })?;
    if controller && mechanism != SaslMechanism::Plain {
        // SCRAM credentials live in the metadata log this listener replicates: a
        // controller could not check them before it has caught up.
        return Err(refused(
            property,
            format!(
                "the controller listener {} authenticates with PLAIN only (SCRAM credentials are stored in the metadata log the controllers replicate)",
                listener.name
            ),
        ));
    }
    if !listener.sasl_mechanisms.contains(&mechanism) {
        return Err(invalid(
            property,
            &text,
            format!(
                "listener {} does not enable {} in sasl.enabled.mechanisms",
                listener.name,
                mechanism.name()
            ),
        ));
    }
    let login = listener
        .logins
        .iter()
        .find(|l| l.mechanism == mechanism)
        .cloned()
        .ok_or_else(|| {
            invalid(
                &format!(
                    "{LISTENER_PREFIX}{}.{}.sasl.jaas.config",
                    listener.name.to_ascii_lowercase(),
                    mechanism.name().to_ascii_lowercase()
                ),
                "",
                format!(
                    "listener {} carries traffic between nodes with {}: its JAAS line needs username=\"…\" password=\"…\" for this broker's login",
                    listener.name,
                    mechanism.name()
                ),
            )
        })?;
    Ok(Some(login))
}

impl SecuritySettings {
    pub fn resolve(config: &BrokerConfig) -> Result<Self, ConfigError> {
        let listeners = &config.node.listeners;
        for name in config.all_explicit().keys() {
            if let Some((listener, _)) = split_listener_property(name) {
                if !listeners
                    .listeners
                    .iter()
                    .any(|l| l.name.eq_ignore_ascii_case(listener))
                {
                    return Err(invalid(
                        name,
                        "",
                        format!("there is no listener named {listener} in listeners"),
                    ));
                }
            }
        }
        let mut out = Vec::new();
        for (name, protocol) in &listeners.protocols {
            let p = ListenerProperties {
                config,
                listener: name,
            };
            let ssl = match protocol {
                SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => Some(resolve_ssl(&p)?),
                _ => None,
            };
            let (sasl_mechanisms, plain_users, logins) = match protocol {
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => resolve_sasl(&p)?,
                _ => (Vec::new(), PlainUsers::default(), Vec::new()),
            };
            out.push(ListenerSecurity {
                name: name.clone(),
                protocol: *protocol,
                ssl,
                sasl_mechanisms,
                plain_users,
                logins,
            });
        }
        let find = |name: &str| out.iter().find(|l| l.name == name);
        let inter_broker_login = match find(&listeners.inter_broker) {
            Some(l) => resolve_login(config, l, "sasl.mechanism.inter.broker.protocol", false)?,
            None => None,
        };
        // Kafka's controllers talk on the first of controller.listener.names.
        let controller_login = match listeners.controller_names.first().and_then(|n| find(n)) {
            Some(l) => resolve_login(config, l, "sasl.mechanism.controller.protocol", true)?,
            None => None,
        };
        Ok(SecuritySettings {
            listeners: out,
            inter_broker_login,
            controller_login,
        })
    }

    pub fn listener(&self, name: &str) -> Option<&ListenerSecurity> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// Client listeners that take unauthenticated, unencrypted connections from beyond
    /// this machine: worth a warning at start-up.
    pub fn exposed_plaintext_listeners(config: &BrokerConfig) -> Vec<String> {
        let listeners = &config.node.listeners;
        listeners
            .client_listeners()
            .filter(|l| listeners.protocol_of(&l.name) == Some(SecurityProtocol::Plaintext))
            .filter(|l| !is_loopback_host(&l.host))
            .map(|l| l.bind_address())
            .collect()
    }
}

/// True for hosts that only this machine reaches.
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        let props: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_properties(props)
    }

    const LISTENERS: (&str, &str) = (
        "listeners",
        "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094,SASL_PLAINTEXT://127.0.0.1:9095",
    );
    const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#;

    #[test]
    fn per_listener_settings_win_over_global_ones() {
        let c = config(&[
            LISTENERS,
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", "/etc/moldau/server.pem"),
            (
                "listener.name.sasl_ssl.ssl.keystore.location",
                "/etc/moldau/sasl.pem",
            ),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/etc/moldau/ca.pem"),
            ("listener.name.ssl.ssl.client.auth", "required"),
            ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256"),
            (
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                "SCRAM-SHA-512",
            ),
            ("listener.name.sasl_ssl.plain.sasl.jaas.config", JAAS),
        ])
        .unwrap();
        let s = &c.security;
        let ssl = s.listener("SSL").unwrap().ssl.as_ref().unwrap();
        assert_eq!(ssl.client_auth, ClientAuth::Required);
        assert_eq!(
            ssl.keystore,
            KeystoreSource::File("/etc/moldau/server.pem".into())
        );
        assert_eq!(ssl.versions, [TlsVersion::Tls12, TlsVersion::Tls13]);
        let sasl_ssl = s.listener("SASL_SSL").unwrap();
        assert_eq!(
            sasl_ssl.ssl.as_ref().unwrap().keystore,
            KeystoreSource::File("/etc/moldau/sasl.pem".into())
        );
        assert_eq!(sasl_ssl.ssl.as_ref().unwrap().client_auth, ClientAuth::None);
        assert_eq!(
            sasl_ssl.sasl_mechanisms,
            [SaslMechanism::Plain, SaslMechanism::ScramSha256]
        );
        assert!(sasl_ssl
            .plain_users
            .authenticate(b"\0alice\0alice-secret")
            .is_ok());
        let sasl_plain = s.listener("SASL_PLAINTEXT").unwrap();
        assert_eq!(sasl_plain.sasl_mechanisms, [SaslMechanism::ScramSha512]);
        assert!(sasl_plain.ssl.is_none());
        assert!(s.listener("PLAINTEXT").unwrap().ssl.is_none());
    }

    #[test]
    fn unsafe_or_unsupported_settings_stop_start_up() {
        let refused = |pairs: &[(&str, &str)]| config(pairs).unwrap_err().to_string();
        let ssl = (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093",
        );
        let pem = ("ssl.keystore.type", "PEM");
        let file = ("ssl.keystore.location", "/k.pem");
        assert!(refused(&[ssl]).contains("needs a PEM keystore"));
        assert!(refused(&[ssl, file]).contains("PEM stores only, not JKS"));
        assert!(refused(&[ssl, pem, file, ("ssl.keystore.password", "x")])
            .contains("no store password"));
        let key_password = ("ssl.key.password", "hunter2");
        let with_key_password = config(&[ssl, pem, file, key_password]).unwrap();
        let settings = with_key_password.security.listener("SSL").unwrap();
        let debug = format!("{:?}", settings.ssl.as_ref().unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(refused(&[ssl, pem, file, ("ssl.client.auth", "required")]).contains("truststore"));
        assert!(refused(&[ssl, pem, file, ("ssl.client.auth", "always")])
            .contains("required, requested or none"));
        assert!(
            refused(&[ssl, pem, file, ("ssl.enabled.protocols", "TLSv1.1")])
                .contains("TLSv1.2 and TLSv1.3 only")
        );
        assert!(refused(&[
            ssl,
            pem,
            file,
            ("ssl.principal.mapping.rules", "RULE:x/$1/")
        ])
        .contains("no group 1"));
        assert!(
            refused(&[("listener.name.ssl.ssl.keystore.type", "PKCS12")])
                .contains("PEM stores only")
        );
        assert!(refused(&[("listener.name.nope.ssl.client.auth", "none")])
            .contains("no listener named nope"));
        assert!(refused(&[("listener.name.ssl.ssl.no.such", "1")]).contains("unknown property"));
        assert!(config(&[ssl, pem, file]).is_ok());

        let sasl = (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093",
        );
        assert!(refused(&[sasl]).contains("Kafka's default is GSSAPI"));
        assert!(
            refused(&[sasl, ("sasl.enabled.mechanisms", "PLAIN,DIGEST-MD5")])
                .contains("unknown SASL mechanism 'DIGEST-MD5'")
        );
        assert!(refused(&[sasl, ("sasl.enabled.mechanisms", "PLAIN")]).contains("needs its users"));
        let bad_module = (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "com.example.Login required user_a=\"b\";",
        );
        let err = refused(&[sasl, ("sasl.enabled.mechanisms", "PLAIN"), bad_module]);
        assert!(err.contains("login module must be"), "{err}");
        let secret = (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"hunter2\"",
        );
        let err = refused(&[sasl, ("sasl.enabled.mechanisms", "PLAIN"), secret]);
        assert!(
            !err.contains("hunter2"),
            "passwords are never echoed: {err}"
        );
        assert!(config(&[sasl, ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),]).is_ok());
    }

    #[test]
    fn logins_between_nodes_come_from_the_listeners_jaas_lines() {
        let listeners = (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094",
        );
        let map = (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        );
        let names = [
            ("inter.broker.listener.name", "INTERNAL"),
            ("controller.listener.names", "CONTROLLER"),
        ];
        let plain = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="pw" user_broker="pw";"#;
        let scram = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="scram-pw";"#;
        let base = |inter: &'static str, controller: &'static str| {
            vec![
                listeners,
                map,
                names[0],
                names[1],
                ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
                ("listener.name.internal.plain.sasl.jaas.config", plain),
                (
                    "listener.name.internal.scram-sha-512.sasl.jaas.config",
                    scram,
                ),
                ("listener.name.controller.plain.sasl.jaas.config", plain),
                ("sasl.mechanism.inter.broker.protocol", inter),
                ("sasl.mechanism.controller.protocol", controller),
            ]
        };
        let c = config(&base("SCRAM-SHA-512", "PLAIN")).unwrap();
        let inter = c.security.inter_broker_login.as_ref().unwrap();
        assert_eq!(inter.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(inter.password, "scram-pw");
        let controller = c.security.controller_login.as_ref().unwrap();
        assert_eq!(
            (controller.mechanism, controller.username.as_str()),
            (SaslMechanism::Plain, "broker")
        );

        let refused = |pairs: &[(&str, &str)]| config(pairs).unwrap_err().to_string();
        assert!(refused(&base("PLAIN", "SCRAM-SHA-512")).contains("PLAIN only"));
        assert!(refused(&base("SCRAM-SHA-256", "PLAIN")).contains("does not enable SCRAM-SHA-256"));
        let mut no_default = base("PLAIN", "PLAIN");
        no_default.retain(|(k, _)| *k != "sasl.mechanism.inter.broker.protocol");
        assert!(refused(&no_default).contains("GSSAPI"));
        let mut no_login = base("PLAIN", "PLAIN");
        no_login[5].1 =
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_broker="pw";"#;
        assert!(refused(&no_login).contains("username"));
        let mut half = base("PLAIN", "PLAIN");
        half[6].1 = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker";"#;
        let err = refused(&half);
        assert!(err.contains("both username"), "{err}");
        assert!(!err.contains("scram-pw"));
    }

    #[test]
    fn plaintext_beyond_loopback_is_reported() {
        let c = config(&[
            ("listeners", "PLAINTEXT://127.0.0.1:9092,OUTSIDE://0.0.0.0:9093,LOCAL://localhost:9094,V6://[::1]:9095"),
            ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,OUTSIDE:PLAINTEXT,LOCAL:PLAINTEXT,V6:PLAINTEXT"),
        ])
        .unwrap();
        assert_eq!(
            SecuritySettings::exposed_plaintext_listeners(&c),
            ["0.0.0.0:9093"]
        );
    }
}
