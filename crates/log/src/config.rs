//! Per-log configuration, named after Kafka's topic-level settings.

use crate::error::LogError;

/// `cleanup.policy`: delete old segments, compact by key, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

impl CleanupPolicy {
    /// Parses Kafka's list syntax: `delete`, `compact`, `compact,delete`.
    pub fn parse(text: &str) -> Result<Self, LogError> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                other => {
                    return Err(LogError::InvalidConfig(format!(
                        "cleanup.policy: unknown value {other:?}"
                    )))
                }
            }
        }
        Ok(policy)
    }

    /// Kafka's spelling, e.g. `compact,delete`.
    pub fn as_kafka_str(&self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            (false, true) => "delete",
            (false, false) => "",
        }
    }
}

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// The broker stamps each batch with its append time.
    LogAppendTime,
}

/// Configuration of one partition log. `Default` gives Kafka's defaults, except that
/// flushing is per-ack (see `flush_messages`).
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when it would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is this old.
    pub segment_ms: i64,
    /// `segment.index.bytes`: preallocated size of each offset and time index.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: log bytes between two offset index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete closed segments whose newest record is older (-1 = forever).
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest closed segments while the log is larger (-1 = no limit).
    pub retention_bytes: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long tombstones survive compaction.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: compact when dirty bytes / total bytes reach this.
    pub min_cleanable_dirty_ratio: f64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `flush.messages`: `None` means the broker fsyncs (group commit) before acking;
    /// `Some(n)` means flush in the background after n unflushed messages.
    pub flush_messages: Option<u64>,
    /// `flush.ms`: `None` likewise; `Some(ms)` flushes in the background this often.
    pub flush_ms: Option<i64>,
    /// `file.delete.delay.ms`: deleted segment files linger as `*.deleted` this long.
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            segment_index_bytes: 10_485_760,
            index_interval_bytes: 4096,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::default(),
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ratio: 0.5,
            message_timestamp_type: TimestampType::CreateTime,
            flush_messages: None,
            flush_ms: None,
            file_delete_delay_ms: 60_000,
        }
    }
}

/// Smallest segment Kafka accepts (`segment.bytes` >= 14): one empty batch header.
pub const SEGMENT_BYTES_MIN: u64 = 14;
/// Positions in the offset index are u32, so a segment can never exceed this.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;
/// An index must hold at least one entry of either kind (a time index entry is 12
/// bytes); Kafka's own floor of 4 would leave the log unable to index anything.
pub const SEGMENT_INDEX_BYTES_MIN: u64 = 12;
/// Index sizes are Kafka ints.
pub const SEGMENT_INDEX_BYTES_MAX: u64 = i32::MAX as u64;
/// `segment.ms` must be positive.
pub const SEGMENT_MS_MIN: i64 = 1;
/// Kafka's "never" for `flush.messages` and `flush.ms` (`Long.MAX_VALUE`, their
/// default): a topic with this value keeps fsync-before-acknowledge.
pub const FLUSH_NEVER: i64 = i64::MAX;

impl LogConfig {
    /// True when the topic asked for Kafka's page-cache mode: acknowledge once
    /// appended and flush in the background, instead of fsync-before-acknowledge.
    pub fn page_cache_mode(&self) -> bool {
        self.flush_messages.is_some() || self.flush_ms.is_some()
    }

    /// Checks the ranges the log can work with. The broker validates every topic
    /// config against this before storing it, so this is the one source of the limits.
    pub fn validate(&self) -> Result<(), LogError> {
        let bad = |msg: String| Err(LogError::InvalidConfig(msg));
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return bad(format!(
                "segment.bytes {} must be between {SEGMENT_BYTES_MIN} and {SEGMENT_BYTES_MAX}",
                self.segment_bytes
            ));
        }
        if self.segment_ms < SEGMENT_MS_MIN {
            return bad(format!(
                "segment.ms {} must be at least {SEGMENT_MS_MIN}",
                self.segment_ms
            ));
        }
        if !(SEGMENT_INDEX_BYTES_MIN..=SEGMENT_INDEX_BYTES_MAX).contains(&self.segment_index_bytes)
        {
            return bad(format!(
                "segment.index.bytes {} must be between {SEGMENT_INDEX_BYTES_MIN} and {SEGMENT_INDEX_BYTES_MAX}",
                self.segment_index_bytes
            ));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return bad(format!(
                "min.cleanable.dirty.ratio {} must be in [0, 1]",
                self.min_cleanable_dirty_ratio
            ));
        }
        if self.retention_ms < -1 || self.retention_bytes < -1 {
            return bad("retention.ms / retention.bytes must be >= -1".into());
        }
        if self.delete_retention_ms < 0
            || self.min_compaction_lag_ms < 0
            || self.file_delete_delay_ms < 0
        {
            return bad(
                "delete.retention.ms, min.compaction.lag.ms and file.delete.delay.ms must be >= 0"
                    .into(),
            );
        }
        if self.flush_messages == Some(0) || self.flush_ms.is_some_and(|ms| ms < 0) {
            return bad("flush.messages must be >= 1 and flush.ms >= 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cleanup_policy_lists() {
        let both = CleanupPolicy::parse("compact, delete").unwrap();
        assert!(both.compact && both.delete);
        assert_eq!(both.as_kafka_str(), "compact,delete");
        assert_eq!(
            CleanupPolicy::parse("compact").unwrap().as_kafka_str(),
            "compact"
        );
        assert!(CleanupPolicy::parse("shred").is_err());
    }

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.retention_ms, 7 * 24 * 3600 * 1000);
        assert!(c.validate().is_ok());
        let tiny = LogConfig {
            segment_bytes: 3,
            ..LogConfig::default()
        };
        assert!(tiny.validate().is_err());
        let index_too_small = LogConfig {
            segment_index_bytes: 8,
            ..LogConfig::default()
        };
        assert!(index_too_small.validate().is_err());
    }
}
