//! The cluster's metadata as a state machine.
//!
//! Every change to brokers, topics, partitions and configs is a [`MetadataRecord`]
//! (KRaft's records as model, binary, specified in docs/format/cluster-metadata.md);
//! the [`MetadataImage`] is what you get by applying them in order, and applying a
//! batch also yields the [`MetadataDelta`] the rest of the broker acts on. A snapshot
//! is the records that recreate an image, so the log before it may go.

#![forbid(unsafe_code)]

mod acl_index;
pub mod client_quotas;
pub mod controller;
mod delta;
pub mod features;
mod image;
mod legacy_json;
mod partition_index;
pub mod raft;
mod record;
pub mod record_codec;
mod record_types;
pub mod snapshot;
mod wire;

pub use acl_index::AclIndex;
pub use delta::{DeletedTopic, MetadataDelta};
pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use moldau_protocol::acl::{
    AclLookup, AclOperation, AclPatternType, AclPermission, AclRecord, AclResourceType,
    ACL_WILDCARD, CLUSTER_RESOURCE_NAME,
};
pub use record::{MetadataRecord, TopicId};
pub use record_types::{
    BrokerEndpoint, BrokerFeature, BrokerRegistration, ClientQuotaChange, ConfigResource,
    PartitionChange, PartitionRecord, QuotaEntity, QuotaEntityPart, ScramCredentialRecord,
    SecurityProtocol, LEADER_UNCHANGED, NO_LEADER, SCRAM_MECHANISM_CODES,
};
pub use wire::{RECORD_ARRAY_ITEMS_MAX, RECORD_STRING_BYTES_MAX, RECORD_TAGGED_FIELDS_MAX};

use thiserror::Error;

/// Why a record could not be decoded or applied to the image. Serializable: a
/// refusal on apply travels back to the controller client that forwarded the write.
#[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetadataError {
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("unknown topic id {0}")]
    UnknownTopicId(String),
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    #[error("unknown broker {0}")]
    UnknownBroker(i32),
    #[error("malformed metadata record: {0}")]
    Malformed(String),
    /// Well formed, but it contradicts the image (a stale epoch, a duplicate id).
    #[error("metadata record refused: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod image_tests;
#[cfg(test)]
mod record_codec_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod test_records;
