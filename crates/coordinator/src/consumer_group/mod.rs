//! KIP-848 consumer groups: the broker computes the assignment and reconciles each
//! member towards it with per-member epochs (ConsumerGroupHeartbeat). Offsets and the
//! group's place in `__consumer_offsets` are shared with classic groups (a [`crate::group::Group`]
//! holds a [`ConsumerGroup`] when it is a consumer group).

pub(crate) mod assignment;
mod assignor;
pub(crate) mod changes;
pub(crate) mod describe;
pub(crate) mod group;
mod heartbeat;
pub(crate) mod loading;
pub(crate) mod member;
mod range_assignor;
mod reconciliation;
pub mod records;
mod timers;
pub mod topic_catalog;
pub(crate) mod undo;
mod uniform_assignor;

pub(crate) use group::ConsumerGroup;
pub(crate) use heartbeat::sync_classic_view;
