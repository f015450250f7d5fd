//! Kafka's listener settings resolved once at start-up: `listeners`,
//! `advertised.listeners`, `listener.security.protocol.map`,
//! `inter.broker.listener.name` and `controller.listener.names`.

use crate::config::invalid;
use crate::config::ConfigError;
use crate::quorum_voters::split_host_port;
pub use moldau_metadata::SecurityProtocol;

/// `NAME://host:port` from `listeners` or `advertised.listeners`. An empty host binds
/// every interface (as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerEndpoint {
    /// Upper-case, as Kafka normalises listener names.
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl ListenerEndpoint {
    /// `host:port` to bind (an empty host is every IPv4 interface).
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The listeners of this node, validated with Kafka's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Every listener to bind, client and controller ones, in the configured order.
    pub listeners: Vec<ListenerEndpoint>,
    /// Explicit `advertised.listeners` entries (a listener without one advertises the
    /// address it is bound to).
    pub advertised: Vec<ListenerEndpoint>,
    /// The listener other brokers use (and the one this node registers).
    pub inter_broker: String,
    /// Listeners that carry the controller quorum's traffic, not client requests.
    pub controller_names: Vec<String>,
    /// Each listener's security protocol, in the order of `listeners`.
    pub protocols: Vec<(String, SecurityProtocol)>,
}

/// Kafka's default map; controller listeners not in it are PLAINTEXT while the map is
/// not set explicitly (as Kafka does).
const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// The raw property values the listener settings are resolved from.
pub struct ListenerProperties<'a> {
    pub listeners: &'a str,
    pub advertised: Option<&'a str>,
    pub protocol_map: Option<&'a str>,
    pub inter_broker: Option<&'a str>,
    pub controller_names: Option<&'a str>,
}

/// Parses a listener list; names must be unique.
fn parse_endpoints(property: &str, text: &str) -> Result<Vec<ListenerEndpoint>, ConfigError> {
    let mut out: Vec<ListenerEndpoint> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, address) = item
            .split_once("://")
            .ok_or_else(|| invalid(property, text, format!("'{item}' is not NAME://HOST:PORT")))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(invalid(
                property,
                text,
                format!("'{item}' has no listener name"),
            ));
        }
        let (host, port) = match address.rsplit_once(':') {
            // An empty host is allowed in listeners ("PLAINTEXT://:9092").
            Some(("", port)) => ("", port),
            _ => split_host_port(address).ok_or_else(|| {
                invalid(property, text, format!("'{item}' is not NAME://HOST:PORT"))
            })?,
        };
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(property, text, format!("'{item}' has no valid port")))?;
        if out.iter().any(|e| e.name == name) {
            return Err(invalid(
                property,
                text,
                format!("listener name {name} is used more than once"),
            ));
        }
        out.push(ListenerEndpoint {
            name,
            host: host.to_string(),
            port,
        });
    }
    Ok(out)
}

/// `NAME:PROTOCOL,…`; an unknown protocol is refused.
fn parse_protocol_map(text: &str) -> Result<Vec<(String, SecurityProtocol)>, ConfigError> {
    const NAME: &str = "listener.security.protocol.map";
    let mut out: Vec<(String, SecurityProtocol)> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, protocol) = item
            .split_once(':')
            .ok_or_else(|| invalid(NAME, text, format!("'{item}' is not NAME:PROTOCOL")))?;
        let name = name.trim().to_ascii_uppercase();
        let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
            invalid(
                NAME,
                text,
                format!(
                    "unknown security protocol '{}' (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)",
                    protocol.trim()
                ),
            )
        })?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(invalid(
                NAME,
                text,
                format!("listener {name} is mapped twice"),
            ));
        }
        out.push((name, protocol));
    }
    Ok(out)
}

fn names(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl ListenerConfig {
    /// Resolves and validates the listener settings with Kafka's rules.
    pub fn resolve(p: &ListenerProperties) -> Result<Self, ConfigError> {
        let listeners = parse_endpoints("listeners", p.listeners)?;
        if listeners.is_empty() {
            return Err(invalid("listeners", p.listeners, "no listener given"));
        }
        let controller_names = names(p.controller_names.unwrap_or(""));
        for name in &controller_names {
            if !listeners.iter().any(|l| &l.name == name) {
                return Err(invalid(
                    "controller.listener.names",
                    p.controller_names.unwrap_or(""),
                    format!("{name} is not one of the listeners ({})", p.listeners),
                ));
            }
        }
        let map = parse_protocol_map(p.protocol_map.unwrap_or(DEFAULT_PROTOCOL_MAP))?;
        let mut protocols = Vec::new();
        for l in &listeners {
            let protocol = match map.iter().find(|(n, _)| *n == l.name) {
                Some((_, protocol)) => *protocol,
                None if p.protocol_map.is_none() && controller_names.contains(&l.name) => {
                    SecurityProtocol::Plaintext
                }
                None => {
                    return Err(invalid(
                        "listener.security.protocol.map",
                        p.protocol_map.unwrap_or(DEFAULT_PROTOCOL_MAP),
                        format!("no security protocol defined for listener {}", l.name),
                    ))
                }
            };
            protocols.push((l.name.clone(), protocol));
        }
        if let Some((a, b)) = duplicate_port(&listeners) {
            return Err(invalid(
                "listeners",
                p.listeners,
                format!("listeners {a} and {b} use the same port"),
            ));
        }
        let advertised_text = p.advertised.unwrap_or("");
        let advertised = parse_endpoints("advertised.listeners", advertised_text)?;
        for a in &advertised {
            if controller_names.contains(&a.name) {
                return Err(invalid(
                    "advertised.listeners",
                    advertised_text,
                    format!(
                        "{} is a controller listener (controller.listener.names); clients are not sent to it",
                        a.name
                    ),
                ));
            }
            if !listeners.iter().any(|l| l.name == a.name) {
                return Err(invalid(
                    "advertised.listeners",
                    advertised_text,
                    format!("{} is not one of the listeners ({})", a.name, p.listeners),
                ));
            }
            if a.host.is_empty() || a.host == "0.0.0.0" || a.host == "::" || a.port == 0 {
                return Err(invalid(
                    "advertised.listeners",
                    advertised_text,
                    format!(
                        "{} must name a host and port clients can reach (not {}:{})",
                        a.name, a.host, a.port
                    ),
                ));
            }
        }
        let inter_broker = match p.inter_broker {
            Some(name) => name.trim().to_ascii_uppercase(),
            None => "PLAINTEXT".to_string(),
        };
        if !listeners.iter().any(|l| l.name == inter_broker) {
            return Err(invalid(
                "inter.broker.listener.name",
                &inter_broker,
                format!(
                    "no listener named {inter_broker} in listeners ({}); set inter.broker.listener.name",
                    p.listeners
                ),
            ));
        }
        if controller_names.contains(&inter_broker) {
            return Err(invalid(
                "inter.broker.listener.name",
                &inter_broker,
                "a controller listener cannot be the inter-broker listener",
            ));
        }
        Ok(ListenerConfig {
            listeners,
            advertised,
            inter_broker,
            controller_names,
            protocols,
        })
    }

    /// Listeners that serve Kafka clients (every one but the controller listeners).
    pub fn client_listeners(&self) -> impl Iterator<Item = &ListenerEndpoint> {
        self.listeners
            .iter()
            .filter(|l| !self.controller_names.contains(&l.name))
    }

    /// Listeners that carry the controller quorum.
    pub fn controller_listeners(&self) -> impl Iterator<Item = &ListenerEndpoint> {
        self.listeners
            .iter()
            .filter(|l| self.controller_names.contains(&l.name))
    }

    /// The security protocol of listener `name`.
    pub fn protocol_of(&self, name: &str) -> Option<SecurityProtocol> {
        self.protocols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
    }

    /// The explicit advertised address of listener `name`, if any.
    pub fn advertised_for(&self, name: &str) -> Option<&ListenerEndpoint> {
        self.advertised.iter().find(|a| a.name == name)
    }
}

/// Two listeners on one fixed port cannot both bind (port 0 picks a free one each).
fn duplicate_port(listeners: &[ListenerEndpoint]) -> Option<(&str, &str)> {
    for (i, a) in listeners.iter().enumerate() {
        for b in &listeners[i + 1..] {
            if a.port != 0
                && a.port == b.port
                && (a.host == b.host || a.host.is_empty() || b.host.is_empty())
            {
                return Some((&a.name, &b.name));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(listeners: &str) -> ListenerProperties<'_> {
        ListenerProperties {
            listeners,
            advertised: None,
            protocol_map: None,
            inter_broker: None,
            controller_names: None,
        }
    }

    #[test]
    fn named_listeners_with_a_protocol_map() {
        let c = ListenerConfig::resolve(&ListenerProperties {
            listeners: "PLAINTEXT://127.0.0.1:9092,internal://:19092,CONTROLLER://127.0.0.1:9093",
            advertised: Some("PLAINTEXT://kafka1:9092,INTERNAL://10.0.0.1:19092"),
            protocol_map: Some("PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"),
            inter_broker: Some("INTERNAL"),
            controller_names: Some("CONTROLLER"),
        })
        .unwrap();
        let client: Vec<&str> = c.client_listeners().map(|l| l.name.as_str()).collect();
        assert_eq!(client, ["PLAINTEXT", "INTERNAL"]);
        assert_eq!(c.controller_listeners().count(), 1);
        assert_eq!(c.listeners[1].bind_address(), "0.0.0.0:19092");
        assert_eq!(c.advertised_for("INTERNAL").unwrap().host, "10.0.0.1");
        assert_eq!(c.inter_broker, "INTERNAL");
    }

    #[test]
    fn controller_listener_defaults_to_plaintext_under_the_default_map() {
        let mut p = props("PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093");
        p.controller_names = Some("CONTROLLER");
        assert!(ListenerConfig::resolve(&p).is_ok());
        p.protocol_map = Some("PLAINTEXT:PLAINTEXT");
        let err = ListenerConfig::resolve(&p).unwrap_err().to_string();
        assert!(
            err.contains("no security protocol defined for listener CONTROLLER"),
            "{err}"
        );
    }

    #[test]
    fn kafka_rules_are_enforced() {
        let refused = |p: ListenerProperties| ListenerConfig::resolve(&p).unwrap_err().to_string();
        assert!(refused(props("PLAINTEXT://a:1,PLAINTEXT://b:2")).contains("more than once"));
        let mut p = props("PLAINTEXT://a:1,OTHER://a:1");
        p.protocol_map = Some("PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT");
        assert!(refused(p).contains("same port"));
        assert!(refused(props("INTERNAL://a:1")).contains("no security protocol"));
        assert!(refused(props("SSL://a:1")).contains("inter.broker.listener.name"));
        let mut p = props("SSL://a:1");
        p.inter_broker = Some("SSL");
        assert!(ListenerConfig::resolve(&p).is_ok(), "brokers may talk SSL");
        // SASL between brokers and TLS or SASL between controllers are secured by
        // their listener's settings (listener_security.rs checks those).
        let mut p = props("SASL_SSL://a:1");
        p.inter_broker = Some("SASL_SSL");
        assert!(ListenerConfig::resolve(&p).is_ok());
        let mut p = props("PLAINTEXT://a:1,SSL://a:2");
        p.controller_names = Some("SSL");
        assert!(ListenerConfig::resolve(&p).is_ok());
        assert!(refused(props("a:1")).contains("NAME://HOST:PORT"));
        let mut p = props("PLAINTEXT://a:1,INTERNAL://a:2");
        p.protocol_map = Some("PLAINTEXT:PLAINTEXT,INTERNAL:KERBEROS");
        assert!(refused(p).contains("unknown security protocol 'KERBEROS'"));
        let mut p = props("PLAINTEXT://a:1,CONTROLLER://a:2");
        p.controller_names = Some("CONTROLLER");
        p.advertised = Some("CONTROLLER://a:2");
        assert!(refused(p).contains("controller listener"));
        let mut p = props("PLAINTEXT://a:1");
        p.advertised = Some("OTHER://b:1");
        assert!(refused(p).contains("not one of the listeners"));
        let mut p = props("PLAINTEXT://a:1");
        p.advertised = Some("PLAINTEXT://0.0.0.0:1");
        assert!(refused(p).contains("clients can reach"));
        let mut p = props("PLAINTEXT://a:1");
        p.controller_names = Some("CONTROLLER");
        assert!(refused(p).contains("controller.listener.names"));
        let p = props("INTERNAL://a:1");
        let mut p2 = p;
        p2.protocol_map = Some("INTERNAL:PLAINTEXT");
        assert!(refused(p2).contains("inter.broker.listener.name"));
        let mut p = props("PLAINTEXT://a:1,CONTROLLER://a:2");
        p.controller_names = Some("CONTROLLER");
        p.inter_broker = Some("CONTROLLER");
        assert!(refused(p).contains("controller listener cannot"));
    }
}
