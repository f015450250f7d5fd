//! This node's place in the cluster, resolved once at start-up from Kafka's KRaft
//! properties: `process.roles`, `node.id`, `controller.quorum.voters`,
//! `controller.quorum.bootstrap.servers`, `broker.rack`, the broker heartbeat and
//! session timeouts, and the listeners.

use crate::config::{invalid, refused};
use crate::config::{BrokerConfig, ConfigError};
use crate::listener_config::{ListenerConfig, ListenerProperties};
use crate::quorum_voters::{parse_voters, QuorumVoter};

/// One of `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    Broker,
    Controller,
}

/// The node's identity, roles, quorum and listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub node_id: i32,
    /// `cluster.id` when given: a data directory of another cluster is refused.
    pub cluster_id: Option<String>,
    pub roles: Vec<ProcessRole>,
    /// The controller quorum; this node alone when `controller.quorum.voters` is unset.
    pub voters: Vec<QuorumVoter>,
    pub rack: Option<String>,
    pub heartbeat_interval_ms: i64,
    pub session_timeout_ms: i64,
    pub listeners: ListenerConfig,
}

fn parse_roles(text: &str) -> Result<Vec<ProcessRole>, ConfigError> {
    let mut roles = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let role = match item {
            "broker" => ProcessRole::Broker,
            "controller" => ProcessRole::Controller,
            other => {
                return Err(invalid(
                    "process.roles",
                    text,
                    format!("unknown role '{other}' (broker, controller)"),
                ))
            }
        };
        if roles.contains(&role) {
            return Err(invalid(
                "process.roles",
                text,
                format!("'{item}' is listed twice"),
            ));
        }
        roles.push(role);
    }
    if roles.is_empty() {
        return Err(invalid(
            "process.roles",
            text,
            "give broker, controller or both",
        ));
    }
    Ok(roles)
}

impl NodeConfig {
    /// Stands in while the properties themselves are checked, before `resolve`.
    pub(crate) fn placeholder() -> Self {
        NodeConfig {
            node_id: 0,
            cluster_id: None,
            roles: Vec::new(),
            voters: Vec::new(),
            rack: None,
            heartbeat_interval_ms: 0,
            session_timeout_ms: 0,
            listeners: ListenerConfig {
                listeners: Vec::new(),
                advertised: Vec::new(),
                inter_broker: String::new(),
                controller_names: Vec::new(),
                protocols: Vec::new(),
            },
        }
    }

    /// Resolves and validates with Kafka's rules; settings whose behaviour Moldau does
    /// not have yet are refused by name.
    pub fn resolve(config: &BrokerConfig) -> Result<Self, ConfigError> {
        let node_id = config.node_id();
        let roles = parse_roles(&config.string("process.roles"))?;
        if roles != [ProcessRole::Broker, ProcessRole::Controller]
            && roles != [ProcessRole::Controller, ProcessRole::Broker]
        {
            return Err(refused(
                "process.roles",
                "only combined nodes (broker,controller) run yet: broker-only and controller-only nodes are not built",
            ));
        }
        let listeners = ListenerConfig::resolve(&ListenerProperties {
            listeners: &config.string("listeners"),
            advertised: config.explicit("advertised.listeners"),
            protocol_map: config.explicit("listener.security.protocol.map"),
            inter_broker: config.explicit("inter.broker.listener.name"),
            controller_names: config.explicit("controller.listener.names"),
        })?;
        if let Some(text) = config.explicit("controller.quorum.bootstrap.servers") {
            for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if crate::quorum_voters::split_host_port(item)
                    .is_none_or(|(_, port)| port.parse::<u16>().is_err())
                {
                    return Err(invalid(
                        "controller.quorum.bootstrap.servers",
                        text,
                        format!("'{item}' is not HOST:PORT"),
                    ));
                }
            }
            return Err(refused(
                "controller.quorum.bootstrap.servers",
                "a dynamic controller quorum (KIP-853) is not built yet; use controller.quorum.voters",
            ));
        }
        let voters = match config.explicit("controller.quorum.voters") {
            Some(text) => {
                let voters = parse_voters(text)
                    .map_err(|e| invalid("controller.quorum.voters", text, e.to_string()))?;
                if !voters.iter().any(|v| v.id == node_id) {
                    return Err(invalid(
                        "controller.quorum.voters",
                        text,
                        format!("a controller's node.id ({node_id}) must be one of the voters"),
                    ));
                }
                if listeners.controller_names.is_empty() {
                    return Err(invalid(
                        "controller.listener.names",
                        "",
                        "a controller needs a controller listener (e.g. --controller HOST:PORT)",
                    ));
                }
                voters
            }
            // A standalone node: the quorum is this node and needs no listener.
            None => Vec::new(),
        };
        let heartbeat_interval_ms = config.long("broker.heartbeat.interval.ms");
        let session_timeout_ms = config.long("broker.session.timeout.ms");
        if heartbeat_interval_ms >= session_timeout_ms {
            return Err(invalid(
                "broker.heartbeat.interval.ms",
                &heartbeat_interval_ms.to_string(),
                format!(
                    "must be less than broker.session.timeout.ms ({session_timeout_ms}): a broker heartbeating that seldom would be fenced between heartbeats"
                ),
            ));
        }
        let rack = config
            .explicit("broker.rack")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        Ok(NodeConfig {
            node_id,
            cluster_id: config.explicit("cluster.id").map(str::to_string),
            roles,
            voters,
            rack,
            heartbeat_interval_ms,
            session_timeout_ms,
            listeners,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn resolve(pairs: &[(&str, &str)]) -> Result<NodeConfig, ConfigError> {
        let props: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_properties(props).map(|c| c.node)
    }

    #[test]
    fn a_standalone_combined_node_by_default() {
        let node = resolve(&[]).unwrap();
        assert_eq!(node.roles, [ProcessRole::Broker, ProcessRole::Controller]);
        assert!(node.voters.is_empty());
        assert_eq!(node.listeners.inter_broker, "PLAINTEXT");
        assert_eq!(
            (node.heartbeat_interval_ms, node.session_timeout_ms),
            (2000, 9000)
        );
        assert_eq!(node.rack, None);
    }

    #[test]
    fn a_single_voter_with_its_controller_listener() {
        let node = resolve(&[
            ("node.id", "3"),
            ("process.roles", "controller,broker"),
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
            ("controller.quorum.voters", "3@127.0.0.1:9093"),
            ("broker.rack", "r1"),
        ])
        .unwrap();
        assert_eq!(node.voters[0].id, 3);
        assert_eq!(node.rack.as_deref(), Some("r1"));
        assert_eq!(node.listeners.controller_listeners().count(), 1);
    }

    #[test]
    fn what_does_not_run_yet_is_refused_by_name() {
        let with_controller = |extra: (&str, &str)| {
            resolve(&[
                (
                    "listeners",
                    "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
                ),
                ("controller.listener.names", "CONTROLLER"),
                extra,
            ])
            .unwrap_err()
        };
        let with_controller_ok = |extra: (&str, &str)| {
            resolve(&[
                (
                    "listeners",
                    "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
                ),
                ("controller.listener.names", "CONTROLLER"),
                extra,
            ])
        };
        let refused_name = |e: ConfigError| match e {
            ConfigError::Refused { name, .. } | ConfigError::Invalid { name, .. } => name,
            ConfigError::Unknown(name) => name,
        };
        // Several voters run; this node must be one of them.
        assert!(with_controller_ok(("controller.quorum.voters", "1@a:1,2@b:2")).is_ok());
        assert_eq!(
            refused_name(with_controller(("controller.quorum.voters", "2@a:1"))),
            "controller.quorum.voters"
        );
        assert_eq!(
            refused_name(resolve(&[("controller.quorum.voters", "1@a:1")]).unwrap_err()),
            "controller.listener.names"
        );
        for roles in ["broker", "controller", "broker,broker", "observer"] {
            assert_eq!(
                refused_name(resolve(&[("process.roles", roles)]).unwrap_err()),
                "process.roles"
            );
        }
        assert_eq!(
            refused_name(
                resolve(&[("controller.quorum.bootstrap.servers", "127.0.0.1:9093")]).unwrap_err()
            ),
            "controller.quorum.bootstrap.servers"
        );
    }

    #[test]
    fn heartbeat_and_session_settings_are_taken_when_the_interval_is_shorter() {
        let node = resolve(&[
            ("broker.heartbeat.interval.ms", "500"),
            ("broker.session.timeout.ms", "3000"),
        ])
        .unwrap();
        assert_eq!(
            (node.heartbeat_interval_ms, node.session_timeout_ms),
            (500, 3000)
        );
        for (interval, timeout) in [("3000", "3000"), ("9001", "9000")] {
            match resolve(&[
                ("broker.heartbeat.interval.ms", interval),
                ("broker.session.timeout.ms", timeout),
            ])
            .unwrap_err()
            {
                ConfigError::Invalid { name, reason, .. } => {
                    assert_eq!(name, "broker.heartbeat.interval.ms");
                    assert!(
                        reason.contains("less than broker.session.timeout.ms"),
                        "{reason}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        // Zero or negative is refused by the settings' minimum.
        assert!(resolve(&[("broker.session.timeout.ms", "0")]).is_err());
    }
}
