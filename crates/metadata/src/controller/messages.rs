//! What a broker sends the controller to register and heartbeat, and what it is
//! answered: the fields of Kafka's BrokerRegistration (api key 62) and BrokerHeartbeat
//! (63) that the controller decides on, without their wire form.

use crate::{BrokerEndpoint, BrokerFeature};

/// A broker (re)registering at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequest {
    pub broker_id: i32,
    /// The cluster id in the broker's meta.properties.
    pub cluster_id: String,
    /// Random per process start: a restart has a new one, a duplicate broker another.
    pub incarnation_id: [u8; 16],
    pub listeners: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    /// KIP-966's `PreviousBrokerEpoch`: the epoch this broker stopped under at its last
    /// clean shutdown (kept in `.kafka_cleanshutdown`); none after a crash.
    pub previous_broker_epoch: Option<i64>,
}

/// A registration accepted: the broker's new epoch, which its heartbeats carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationReply {
    pub broker_epoch: i64,
}

/// A broker's periodic heartbeat (every `broker.heartbeat.interval.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The offset of the last metadata record the broker has applied.
    pub current_metadata_offset: i64,
    /// The broker asks to stay (or become) fenced, e.g. while it loads its logs.
    pub want_fence: bool,
    /// The broker is stopping and asks for a controlled shutdown.
    pub want_shut_down: bool,
}

/// The controller's answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The broker has applied the metadata up to its own registration.
    pub is_caught_up: bool,
    pub is_fenced: bool,
    /// Leadership has been moved away from the broker for its shutdown.
    pub in_controlled_shutdown: bool,
    /// The controlled shutdown is done: the broker may stop now.
    pub should_shut_down: bool,
}
