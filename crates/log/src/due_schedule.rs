//! When each partition next needs the background pass for a reason that only time
//! brings (a segment ageing past `retention.ms`, a `*.deleted` file's delay, a
//! `flush.ms` deadline, an idle producer expiring, compaction lag or a tombstone's
//! delete horizon): a pass takes the due ones instead of walking every partition.

use std::collections::{BTreeSet, HashMap};

use crate::topic_partition::TopicPartition;

/// At most one due time per partition, ordered by time.
#[derive(Debug, Default)]
pub struct DueSchedule {
    by_time: BTreeSet<(i64, TopicPartition)>,
    due_of: HashMap<TopicPartition, i64>,
}

impl DueSchedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (replaces) `tp`'s due time; `None` forgets it.
    pub fn set(&mut self, tp: &TopicPartition, due_ms: Option<i64>) {
        if let Some(old) = self.due_of.remove(tp) {
            let removed = self.by_time.remove(&(old, tp.clone()));
            assert!(removed, "due index out of step for {tp}");
        }
        if let Some(due) = due_ms {
            self.by_time.insert((due, tp.clone()));
            self.due_of.insert(tp.clone(), due);
        }
        assert_eq!(self.by_time.len(), self.due_of.len());
    }

    /// Removes and returns every partition due at or before `now_ms`.
    pub fn take_due(&mut self, now_ms: i64) -> Vec<TopicPartition> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first() {
            if *at > now_ms {
                break;
            }
            let Some((_, tp)) = self.by_time.pop_first() else {
                break;
            };
            self.due_of.remove(&tp);
            due.push(tp);
        }
        due
    }

    /// Partitions with a due time.
    pub fn len(&self) -> usize {
        self.due_of.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.due_of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_due_partitions_and_replaces_times() {
        let a = TopicPartition::new("a", 0);
        let b = TopicPartition::new("b", 0);
        let mut s = DueSchedule::new();
        s.set(&a, Some(100));
        s.set(&b, Some(50));
        s.set(&b, Some(200));
        assert!(s.take_due(99).is_empty());
        assert_eq!(s.take_due(150), vec![a.clone()]);
        s.set(&b, None);
        assert!(s.is_empty());
        assert!(s.take_due(i64::MAX).is_empty());
    }
}
