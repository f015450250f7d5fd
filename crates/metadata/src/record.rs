//! The records that change the metadata image. Stored as JSON record values in the
//! `__cluster_metadata-0` log (see docs/format/cluster-metadata.md).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// A broker announces itself (and its advertised listener).
    RegisterBroker {
        id: i32,
        host: String,
        port: i32,
        rack: Option<String>,
    },
    CreateTopic {
        name: String,
        id: TopicId,
        internal: bool,
        configs: BTreeMap<String, String>,
    },
    /// A partition of an existing topic, with its assignment and leadership.
    CreatePartition {
        topic_id: TopicId,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    /// Leadership or ISR change of a partition.
    ChangePartition {
        topic_id: TopicId,
        partition: i32,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    DeleteTopic {
        id: TopicId,
    },
    /// Set (Some) or remove (None) a topic config override.
    SetTopicConfig {
        topic: String,
        key: String,
        value: Option<String>,
    },
    /// Set or remove a dynamic broker config (broker None = cluster-wide default).
    SetBrokerConfig {
        broker: Option<i32>,
        key: String,
        value: Option<String>,
    },
}

impl MetadataRecord {
    // Invariant: serialising plain data (no maps with non-string keys) into a Vec
    // cannot fail.
    #[allow(clippy::expect_used)]
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata record serialises")
    }
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::MetadataError> {
        serde_json::from_slice(bytes).map_err(|e| crate::MetadataError::Malformed(e.to_string()))
    }
}
