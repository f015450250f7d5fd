//! Consumer lag: how many records, and how much time, a group is behind on a partition.
//!
//! Kafka's tool prints `log end offset - committed offset`, which is wrong in two
//! common cases this module gets right:
//! - after retention moved the log start past the committed offset, the records below
//!   the log start are gone and will never be consumed: the lag counts from the log
//!   start (`hw - max(committed, log_start)`);
//! - on a compacted topic offsets have gaps, so the offset difference overstates the
//!   records left: the lag counts the records actually there, scanning up to
//!   [`LAG_SCAN_BYTES_MAX`] of log and adding the offset span beyond that (then
//!   `lag_exact` is false).
//!
//! Time lag is how old the next record the group would read is: `now - timestamp` of
//! the first record at its position, 0 when caught up.
//!
//! Reading the log costs, and lag is computed for every group on every scrape, page
//! view and history sample, so each such round shares one [`ScanBudget`]: once it is
//! spent, compacted partitions fall back to the offset span (inexact) and time lag is
//! left unknown, rather than the console loading the disks.

use crate::reader::{first_timestamp_from, partition_state, read_chunk, READ_STEP_BYTES};
use moldau_broker::partition::Partition;
use moldau_broker::services::Partitions;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most log bytes read to count the records left on one compacted partition.
pub const LAG_SCAN_BYTES_MAX: usize = 4 << 20;
/// Most log bytes one round of lag computations (all groups, once) may read.
pub const LAG_ROUND_SCAN_BYTES_MAX: usize = 64 << 20;

/// Log bytes a round of lag computations may still read; shared by its threads.
#[derive(Debug)]
pub struct ScanBudget {
    left: AtomicUsize,
}

impl ScanBudget {
    pub fn new(bytes: usize) -> Self {
        ScanBudget {
            left: AtomicUsize::new(bytes),
        }
    }

    /// A full budget for one round.
    pub fn for_round() -> Arc<Self> {
        Arc::new(Self::new(LAG_ROUND_SCAN_BYTES_MAX))
    }

    pub fn left(&self) -> usize {
        self.left.load(Ordering::Relaxed)
    }

    fn spend(&self, bytes: usize) {
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_sub(bytes))
            });
    }
}

/// A group's position on one partition, and how far behind it is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Committed offset; `None` when the group has committed nothing here.
    /// (JSON names as `moldau group describe --json` prints them.)
    #[serde(rename = "committed_offset")]
    pub committed: Option<i64>,
    /// -1 when this broker does not host the partition.
    pub log_start_offset: i64,
    /// The high watermark (what consumers can read up to); -1 when not hosted.
    #[serde(rename = "log_end_offset")]
    pub end_offset: i64,
    /// Records left to consume; `None` without a committed offset.
    pub lag: Option<i64>,
    /// Age of the next record to consume, in milliseconds; 0 when caught up.
    pub time_lag_ms: Option<i64>,
    /// False when a compacted partition had too much to scan and the offset span
    /// stands in for the unscanned part.
    pub lag_exact: bool,
}

/// Computes the lag of a committed offset (blocking: reads the log when it must).
pub fn partition_lag(
    hosted: &Partitions,
    topic: &str,
    partition: i32,
    committed: Option<i64>,
    now_ms: i64,
    budget: &ScanBudget,
) -> PartitionLag {
    let mut out = PartitionLag {
        topic: topic.to_string(),
        partition,
        committed,
        log_start_offset: -1,
        end_offset: -1,
        lag: None,
        time_lag_ms: None,
        lag_exact: true,
    };
    let Some(hosted) = hosted.get_by_name(topic, partition) else {
        return out;
    };
    let state = partition_state(&hosted);
    out.log_start_offset = state.log_start_offset;
    out.end_offset = state.high_watermark;
    let Some(committed) = committed else {
        return out;
    };
    let position = committed.max(state.log_start_offset);
    if position >= state.high_watermark {
        out.lag = Some(0);
        out.time_lag_ms = Some(0);
        return out;
    }
    let name: Arc<str> = Arc::from(topic);
    let (lag, exact) = if state.compacted {
        records_between(&hosted, &name, position, state.high_watermark, budget)
    } else {
        (state.high_watermark - position, true)
    };
    out.lag = Some(lag);
    out.lag_exact = exact;
    out.time_lag_ms = if lag == 0 {
        Some(0)
    } else if budget.left() == 0 {
        None
    } else {
        match first_timestamp_from(&hosted, &name, position) {
            Ok((ts, bytes_read)) => {
                budget.spend(bytes_read);
                Some(ts.map_or(0, |ts| (now_ms - ts).max(0)))
            }
            Err(e) => {
                tracing::debug!(topic, partition, "time lag unavailable: {e}");
                None
            }
        }
    };
    out
}

/// Records in `[from, until)`, counted by reading up to [`LAG_SCAN_BYTES_MAX`];
/// beyond that the offset span is added and the count is marked inexact.
fn records_between(
    partition: &Partition,
    topic: &Arc<str>,
    from: i64,
    until: i64,
    budget: &ScanBudget,
) -> (i64, bool) {
    let mut at = from;
    let mut count = 0i64;
    let mut scanned = 0usize;
    while at < until && scanned < LAG_SCAN_BYTES_MAX && budget.left() > 0 {
        let chunk = match read_chunk(partition, topic, at, until, READ_STEP_BYTES) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%topic, "lag scan stopped: {e}");
                break;
            }
        };
        count += chunk.records.len() as i64;
        scanned += chunk.bytes_read;
        budget.spend(chunk.bytes_read);
        if chunk.at_end || chunk.next_offset <= at {
            return (count, true);
        }
        at = chunk.next_offset;
    }
    if at >= until {
        (count, true)
    } else {
        (count + (until - at), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_shared_and_never_goes_below_zero() {
        let b = ScanBudget::new(100);
        b.spend(60);
        assert_eq!(b.left(), 40);
        b.spend(1_000);
        assert_eq!(b.left(), 0);
        assert_eq!(ScanBudget::for_round().left(), LAG_ROUND_SCAN_BYTES_MAX);
    }
}
