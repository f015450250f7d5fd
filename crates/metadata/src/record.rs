//! The records that change the metadata image, modelled on KRaft's metadata records
//! (same api keys and field order). Stored as record values in the
//! `__cluster_metadata-0` log and in snapshots; the bytes are specified in
//! docs/format/cluster-metadata.md and produced by `record_codec`.

use crate::record_types::{
    BrokerRegistration, ClientQuotaChange, ConfigResource, PartitionChange, PartitionRecord,
    ScramCredentialRecord,
};
use moldau_protocol::acl::AclRecord;
use serde::{Deserialize, Serialize};

/// A topic's 16-byte id, rendered like Kafka's (URL-safe base64 without padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    pub fn random() -> Self {
        TopicId(*uuid::Uuid::new_v4().as_bytes())
    }
    pub fn as_uuid(&self) -> uuid::Uuid {
        uuid::Uuid::from_bytes(self.0)
    }
}

impl std::fmt::Display for TopicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_uuid())
    }
}

/// One change to the cluster metadata. Variants are named after KRaft's records
/// (`Topic` is TopicRecord, api key 2, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// Api key 0: a broker registers with its listeners and rack.
    RegisterBroker(BrokerRegistration),
    /// Api key 1: the broker is removed from the cluster.
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
    /// Api key 2: a new topic (its partitions and configs follow as their own records).
    Topic { name: String, id: TopicId },
    /// Api key 3: a new partition.
    Partition(PartitionRecord),
    /// Api key 4: set (`Some`) or remove (`None`) one config of a resource.
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// Api key 5: leadership, ISR or replica change of a partition.
    PartitionChange(PartitionChange),
    /// Api key 7: the broker stops leading or serving.
    FenceBroker { broker_id: i32, broker_epoch: i64 },
    /// Api key 8: the broker may lead and serve again.
    UnfenceBroker { broker_id: i32, broker_epoch: i64 },
    /// Api key 9: a topic and all its partitions and configs are deleted.
    RemoveTopic { id: TopicId },
    /// Api key 11: a user's SCRAM credential for one mechanism is set.
    UserScramCredential(ScramCredentialRecord),
    /// Api key 22: a user's SCRAM credential for one mechanism is removed.
    RemoveUserScramCredential { name: String, mechanism: i8 },
    /// Api key 12: a cluster feature's finalized level (`metadata.version`, ...).
    FeatureLevel { name: String, level: i16 },
    /// Api key 14: a client quota of an entity is set or removed.
    ClientQuota(ClientQuotaChange),
    /// Api key 15: a broker took the producer-id block that ends before
    /// `next_producer_id`.
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// Api key 18: an ACL is added (AccessControlEntryRecord).
    AccessControlEntry(AclRecord),
    /// Api key 19: the ACL with this id is removed (RemoveAccessControlEntryRecord).
    RemoveAccessControlEntry { id: [u8; 16] },
    /// Api key 20: changes nothing (a new leader's first write, a heartbeat).
    NoOp,
}

impl MetadataRecord {
    /// The record's bytes: frame version, api key, version, fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::record_codec::encode(self)
    }

    /// Decodes one record written by [`MetadataRecord::to_bytes`]. Never panics; any
    /// malformed input is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::MetadataError> {
        crate::record_codec::decode(bytes)
    }

    /// Decodes one value of the metadata log: a record, or one JSON record written
    /// by Moldau before records were binary, which may stand for several records.
    pub fn from_log_value(bytes: &[u8]) -> Result<Vec<Self>, crate::MetadataError> {
        if crate::legacy_json::is_legacy(bytes) {
            crate::legacy_json::decode(bytes)
        } else {
            Self::from_bytes(bytes).map(|r| vec![r])
        }
    }

    /// The KRaft api key of this record type.
    pub fn api_key(&self) -> u32 {
        crate::record_codec::api_key_of(self)
    }
}
