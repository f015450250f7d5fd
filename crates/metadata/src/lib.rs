//! The cluster's metadata as a state machine.
//!
//! Every change to brokers, topics, partitions and configs is a [`MetadataRecord`];
//! the [`MetadataImage`] is what you get by applying them in order. The broker appends
//! records to the `__cluster_metadata` log and applies them once durable; with one
//! voter that is the whole consensus, and a Raft quorum later replaces only how records
//! become committed, not what they mean.

#![forbid(unsafe_code)]

mod image;
mod record;

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use record::{MetadataRecord, TopicId};

use thiserror::Error;

/// Why a record could not be applied to the image.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("unknown topic id {0}")]
    UnknownTopicId(String),
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    #[error("malformed metadata record: {0}")]
    Malformed(String),
}
