//! moldau-coordinator: Kafka's classic group coordinator and offset store as a
//! deterministic state machine (see DESIGN.md and `docs/format/consumer-offsets.md`).
//!
//! No I/O and no clock: the broker passes requests with the current time, appends the
//! records the coordinator emits to `__consumer_offsets`, reports when they are
//! durable, and delivers the replies the coordinator releases. A new coordinator
//! rebuilds its groups by replaying its partitions through `load_record`.

#![forbid(unsafe_code)]

mod admin;
mod codes;
mod completion;
pub mod config;
pub mod consumer_group;
pub mod consumer_protocol;
pub mod coordinator;
mod deadlines;
mod describe;
pub mod effect;
mod group;
mod join;
mod loader;
mod member;
pub mod member_id;
mod membership;
mod offsets;
pub mod partitioner;
mod pending;
mod rebalance;
pub mod records;
pub mod request;
mod responses;
pub mod txn;
mod txn_offsets;
pub mod wire;

pub use config::GroupConfig;
pub use consumer_group::topic_catalog::{CatalogTopic, TopicCatalog};
pub use consumer_group::MigrationPolicy;
pub use coordinator::GroupCoordinator;
pub use effect::{AppendId, Effect, ReplyId, TxnProducer};
pub use group::GroupState;
pub use member_id::{MemberIdSource, SeededMemberIds};
pub use partitioner::{java_string_hash, partition_for_group};
pub use records::{
    describe_record, GroupMetadataKey, GroupMetadataValue, MemberMetadata, OffsetCommitKey,
    OffsetCommitValue, RecordKey,
};
pub use request::{
    GroupRequest, GroupResponse, PendingRevocation, RequestContext, TopicDescribeCheck,
};
pub use wire::RecordError;

#[cfg(test)]
mod tests;
