//! An async Kafka client for Moldau and any Kafka-compatible broker: a batching
//! producer, a consumer with groups or manual assignment, an admin client, and chunk
//! processing with ordered commits.
//!
//! Everything is `async` on tokio; errors are typed ([`Error`]) and carry Kafka's
//! error names; nothing a broker sends can panic the client.

#![warn(missing_docs)]

pub mod admin;
pub mod api_versions;
pub mod batch_builder;
pub mod batch_decoder;
pub mod chunk;
mod chunk_transactional;
pub mod cluster;
pub mod codec;
pub mod connection;
pub mod consumer;
pub mod coordinator;
pub mod error;
pub mod foreign_protocol;
pub mod metadata;
pub mod offsets;
pub mod partitioner;
pub mod producer;
pub mod property;
pub mod record;

pub use admin::AdminClient;
pub use cluster::{ClientConfig, Cluster};
pub use codec::Compression;
pub use connection::{Connection, ConnectionConfig};
pub use consumer::{Consumer, ConsumerBuilder, ConsumerConfig, OffsetReset, SeekTo};
pub use error::{BrokerError, Error, Result};
pub use producer::{Acks, DeliveryFuture, Producer, ProducerBuilder, ProducerConfig};
pub use record::{
    ConsumerRecord, Header, ProducerRecord, RecordMetadata, TimestampType, TopicPartition,
};

/// The tokio runtime to run background tasks on; an error, not a panic, outside one.
pub(crate) fn runtime() -> Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        Error::Config("producers and consumers must be created inside a tokio runtime".into())
    })
}
