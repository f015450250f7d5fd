//! The name of one partition, and its directory name on disk.

use std::fmt;

/// The topic of the Raft metadata log (`__cluster_metadata-0`).
pub const METADATA_LOG_TOPIC: &str = "__cluster_metadata";

/// What a log holds, which decides what may remove data from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// A topic's partition: retention, compaction and DeleteRecords per its config.
    Data,
    /// The Raft metadata log: the only copy of the cluster's metadata until snapshots
    /// cover it, so never subject to retention, compaction or DeleteRecords; only
    /// Raft truncation removes records from it.
    Metadata,
}

/// A topic name and a partition number; its log lives in the directory `topic-N`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    /// Builds a topic-partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// What this partition's log holds.
    pub fn kind(&self) -> LogKind {
        if self.topic == METADATA_LOG_TOPIC {
            LogKind::Metadata
        } else {
            LogKind::Data
        }
    }

    /// The directory name Kafka uses: `topic-N`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses `topic-N`. Topic names may contain `-`, so the partition is what follows
    /// the last one. Returns `None` for names that are not a partition directory
    /// (including ones marked for deletion, `topic-N.<id>-delete`, whose suffix is not a
    /// number).
    pub fn parse_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty()
            || partition.is_empty()
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        Some(TopicPartition {
            topic: topic.to_string(),
            partition,
        })
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_name_round_trips_with_dashes_in_topic() {
        let tp = TopicPartition::new("my-topic-x", 12);
        assert_eq!(tp.dir_name(), "my-topic-x-12");
        assert_eq!(TopicPartition::parse_dir_name("my-topic-x-12"), Some(tp));
    }

    #[test]
    fn rejects_names_that_are_not_partitions() {
        assert_eq!(TopicPartition::parse_dir_name("topic"), None);
        assert_eq!(TopicPartition::parse_dir_name("-3"), None);
        assert_eq!(TopicPartition::parse_dir_name("t-"), None);
        assert_eq!(
            TopicPartition::parse_dir_name("t--1"),
            Some(TopicPartition::new("t-", 1))
        );
        assert_eq!(
            TopicPartition::parse_dir_name("t-0.0123456789abcdef0123456789abcdef-delete"),
            None
        );
        assert_eq!(TopicPartition::parse_dir_name("t-99999999999"), None);
    }
}
