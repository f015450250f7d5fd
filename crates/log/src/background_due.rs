//! What a partition tells the background pass: that it changed (so the next pass
//! visits it), and when time alone will next give the pass something to do.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::change_tracker::ChangeTracker;
use crate::partition_log::PartitionLog;
use crate::topic_partition::LogKind;

impl PartitionLog {
    /// Reports this log's changes to `tracker` from now on (the manager holding it).
    pub(crate) fn track_changes(&mut self, tracker: Arc<ChangeTracker>) {
        self.change_tracker = Some(tracker);
        self.change_marked.store(false, Ordering::SeqCst);
        self.note_change();
    }

    /// Marks the log changed for the next background pass, once per pass.
    pub(crate) fn note_change(&self) {
        if let Some(tracker) = &self.change_tracker {
            if !self.change_marked.swap(true, Ordering::SeqCst) {
                tracker.mark(&self.tp);
            }
        }
    }

    /// The pass is about to look at this log: a change after this is marked again.
    pub(crate) fn clear_change_mark(&self) {
        self.change_marked.store(false, Ordering::SeqCst);
    }

    /// The earliest time at which retention, a delayed file deletion, `flush.ms`,
    /// producer expiry or compaction may have work for this log without anything
    /// being written to it first; `None` when only a change can bring work (which
    /// marks the log). Work due already answers `now_ms`.
    pub fn next_background_due_ms(&self, now_ms: i64, producer_expiration_ms: i64) -> Option<i64> {
        if self.deleted {
            return None;
        }
        let mut due: Option<i64> = None;
        let mut at = |t: i64| due = Some(due.map_or(t, |d| d.min(t)));
        for (_, delete_at) in &self.pending_deletes {
            at(*delete_at);
        }
        if self.recovery_point < self.log_end_offset {
            if self
                .config
                .flush_messages
                .is_some_and(|n| self.unflushed_messages >= n)
            {
                at(now_ms);
            }
            if let Some(ms) = self.config.flush_ms {
                at(self.last_flush_ms.saturating_add(ms));
            }
        }
        if self.tp.kind() == LogKind::Metadata {
            return due;
        }
        let closed = self.segments.len().saturating_sub(1);
        let retention_ms = self.config.retention_ms;
        if self.config.cleanup_policy.delete && retention_ms >= 0 && closed > 0 {
            // Only the oldest segment can go first (retention deletes oldest first).
            if let Some(oldest) = self.segments.values().next() {
                let newest = Self::segment_largest_timestamp(oldest);
                at(newest.saturating_add(retention_ms).saturating_add(1));
            }
        }
        if let Some(expiry) = self.producers.next_expiry_ms(producer_expiration_ms) {
            at(expiry);
        }
        if self.config.cleanup_policy.compact {
            if let Some(horizon) = self.earliest_delete_horizon {
                at(horizon);
            }
            // A closed segment still younger than min.compaction.lag.ms becomes
            // cleanable with time alone.
            let lag = self.config.min_compaction_lag_ms;
            if lag > 0 {
                for seg in self.segments.values().take(closed) {
                    let ripe = seg.max_timestamp().saturating_add(lag);
                    if ripe > now_ms {
                        at(ripe);
                        break;
                    }
                }
            }
        }
        due
    }
}
