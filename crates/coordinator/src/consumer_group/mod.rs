//! KIP-848 consumer groups: the broker computes the assignment and reconciles each
//! member towards it with per-member epochs (ConsumerGroupHeartbeat). Offsets and the
//! group's place in `__consumer_offsets` are shared with classic groups (a [`crate::group::Group`]
//! holds a [`ConsumerGroup`] when it is a consumer group).

pub(crate) mod assignment;
mod assignor;
pub(crate) mod changes;
mod classic_members;
pub(crate) mod describe;
mod downgrade;
pub(crate) mod group;
mod heartbeat;
pub(crate) mod loading;
pub(crate) mod member;
pub mod migration_policy;
mod range_assignor;
mod reconciliation;
pub mod records;
mod timers;
pub mod topic_catalog;
pub(crate) mod undo;
mod uniform_assignor;
mod upgrade;

pub(crate) use classic_members::classic_heartbeat;
pub(crate) use group::ConsumerGroup;
pub(crate) use heartbeat::sync_classic_view;
pub use migration_policy::MigrationPolicy;
