//! The payloads of the larger metadata records (KRaft's RegisterBrokerRecord,
//! PartitionRecord and PartitionChangeRecord), and the resource a ConfigRecord is on.

use crate::TopicId;

/// `PartitionRecord.leader` / `PartitionChange.leader`: the partition has no leader.
pub const NO_LEADER: i32 = -1;
/// `PartitionChange.leader`: the leader did not change.
pub const LEADER_UNCHANGED: i32 = -2;

/// How a listener's connections authenticate (Kafka's SecurityProtocol); RegisterBrokerRecord
/// stores its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }
    /// Kafka's name of the protocol, as `listener.security.protocol.map` spells it.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
    /// Parses a name as [`Self::name`] prints it, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
    pub fn from_id(id: i16) -> Option<Self> {
        Some(match id {
            0 => SecurityProtocol::Plaintext,
            1 => SecurityProtocol::Ssl,
            2 => SecurityProtocol::SaslPlaintext,
            3 => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }
}

/// One listener a broker can be reached on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    /// The listener name (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: SecurityProtocol,
}

/// A feature the broker supports, with the range of levels it understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerFeature {
    pub name: String,
    pub min_supported: i16,
    pub max_supported: i16,
}

/// A broker registering (or re-registering after a restart) with the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    /// Random per process start: tells a restart from a duplicate registration.
    pub incarnation_id: [u8; 16],
    /// Assigned by the controller (the offset of this record); later records about
    /// this broker name it to be sure they mean this registration.
    pub broker_epoch: i64,
    pub endpoints: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// A new partition with its assignment and leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    pub topic_id: TopicId,
    pub partition: i32,
    /// Sorted by preference: the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// [`NO_LEADER`] or a broker id.
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change to the partition.
    pub partition_epoch: i32,
}

/// A change to an existing partition; absent fields did not change. A new leader
/// bumps the leader epoch; every change bumps the partition epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChange {
    pub topic_id: TopicId,
    pub partition: i32,
    pub isr: Option<Vec<i32>>,
    /// [`LEADER_UNCHANGED`], [`NO_LEADER`] or the new leader.
    pub leader: i32,
    pub replicas: Option<Vec<i32>>,
    /// Replicas a reassignment (KIP-455) is taking away / bringing in; `Some(empty)`
    /// ends the reassignment.
    pub removing_replicas: Option<Vec<i32>>,
    pub adding_replicas: Option<Vec<i32>>,
}

impl PartitionChange {
    /// A change of nothing yet, to fill in.
    pub fn new(topic_id: TopicId, partition: i32) -> Self {
        PartitionChange {
            topic_id,
            partition,
            isr: None,
            leader: LEADER_UNCHANGED,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
        }
    }
}

/// What a ConfigRecord configures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    Topic(String),
    /// A broker's dynamic config; `None` is the cluster-wide default.
    Broker(Option<i32>),
}

impl ConfigResource {
    /// Kafka's ConfigResource.Type id.
    pub const TOPIC_TYPE: i8 = 2;
    pub const BROKER_TYPE: i8 = 4;
}

/// One part of a client-quota entity (KIP-546): its type (`user`, `client-id`, `ip`)
/// and name, `None` being the default entity of that type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaEntityPart {
    pub entity_type: String,
    pub name: Option<String>,
}

/// A client-quota entity: its parts ordered by type, each type at most once.
pub type QuotaEntity = Vec<QuotaEntityPart>;

/// KRaft's ClientQuotaRecord: set (`remove` false) or remove one quota of an entity.
#[derive(Debug, Clone)]
pub struct ClientQuotaChange {
    pub entity: QuotaEntity,
    pub key: String,
    pub value: f64,
    pub remove: bool,
}

// Equality by the value's bits, so a record equals its decoded bytes (NaN included).
impl PartialEq for ClientQuotaChange {
    fn eq(&self, other: &Self) -> bool {
        self.entity == other.entity
            && self.key == other.key
            && self.value.to_bits() == other.value.to_bits()
            && self.remove == other.remove
    }
}
impl Eq for ClientQuotaChange {}

/// A user's SCRAM credential for one mechanism (KRaft's UserScramCredentialRecord):
/// what the broker keeps of a password, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentialRecord {
    pub name: String,
    /// 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    pub mechanism: i8,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// SCRAM mechanism codes a credential record may carry.
pub const SCRAM_MECHANISM_CODES: [i8; 2] = [1, 2];
