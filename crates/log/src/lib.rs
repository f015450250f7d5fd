//! moldau-log: one partition's log in Kafka's on-disk format (see DESIGN.md and
//! `docs/format/`): segments of record batches with offset and time indexes, the
//! leader-epoch checkpoint, crash recovery, retention, compaction, and group commit.
//!
//! No async: the broker calls into a [`PartitionLog`] under its lock; the
//! [`LogManager`] runs a flusher thread ([`GroupCommit`]) and a retention thread.

mod at_rest;
mod background_due;
pub mod background_work;
mod batch_header;
mod batch_reader;
mod cached_file;
pub mod change_tracker;
mod checkpoint_file;
pub mod checkpoint_state;
pub mod clean_shutdown_file;
pub mod cleaner;
pub mod config;
pub mod dir_lock;
mod disk_reservation;
pub mod disk_space;
pub mod due_schedule;
pub mod dump;
pub mod dump_json;
mod epoch_cache;
pub mod error;
pub mod file_cache;
pub mod filesystem_sync;
pub mod flush_plan;
pub mod future_replica;
mod group_commit;
mod index_file;
pub mod log_dirs;
mod log_loader;
mod lru;
pub mod manager;
pub mod map_cache;
pub mod offline_partition;
pub mod offset_index;
pub mod partition_log;
pub mod producer_state;
pub mod producer_state_file;
mod producer_state_load;
mod producer_txn;
pub mod properties_file;
mod raft_log_ops;
pub mod recovering;
pub mod region_read;
mod retention;
mod segment;
mod segment_walk;
mod sync_batch;
pub mod time_index;
pub mod topic_partition;
pub mod txn_index;

pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use dir_lock::DirLock;
pub use disk_space::DiskSpace;
pub use dump::dump_files;
pub use error::LogError;
pub use file_cache::FileCache;
pub use flush_plan::FlushPlan;
pub use future_replica::MoveError;
pub use group_commit::{FlushCallback, GroupCommit, OfflineHandler};
pub use log_dirs::{LogDirDescription, LogDirs, ReplicaDescription};
pub use manager::{LogManager, SharedLog, StartupRecovery};
pub use map_cache::MapCache;
pub use offline_partition::OfflinePartition;
pub use partition_log::{AppendInfo, PartitionLog, ReadInfo};
pub use producer_state::AppendOrigin;
pub use recovering::RecoveredHandler;
pub use region_read::RegionRead;
pub use topic_partition::{LogKind, TopicPartition, METADATA_LOG_TOPIC};

#[cfg(test)]
mod background_pass_tests;
#[cfg(test)]
mod clean_start_tests;
#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod file_cache_tests;
#[cfg(test)]
mod group_commit_tests;
#[cfg(test)]
mod log_dirs_tests;
#[cfg(test)]
mod manager_tests;
#[cfg(test)]
mod partition_log_tests;
#[cfg(test)]
mod producer_log_tests;
#[cfg(test)]
mod producer_state_tests;
#[cfg(test)]
mod producer_txn_tests;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod region_read_tests;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod test_util;
