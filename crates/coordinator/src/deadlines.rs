//! Index of the groups' next timer deadlines, so that finding the next deadline and
//! the due groups does not scan every member of every group.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::group::Group;

/// Each group's earliest deadline, ordered by time. Groups touched by an operation are
/// marked and re-indexed when the operation ends.
#[derive(Debug, Default)]
pub(crate) struct DeadlineIndex {
    by_time: BTreeSet<(i64, String)>,
    by_group: HashMap<String, i64>,
    dirty: HashSet<String>,
}

impl DeadlineIndex {
    /// `group_id` may have changed (or gone): re-index it at the next flush.
    pub fn mark(&mut self, group_id: &str) {
        if !self.dirty.contains(group_id) {
            self.dirty.insert(group_id.to_string());
        }
    }

    /// Re-indexes every marked group.
    pub fn flush(&mut self, groups: &BTreeMap<String, Group>) {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(old) = self.by_group.remove(&id) {
                self.by_time.remove(&(old, id.clone()));
            }
            if let Some(deadline) = groups.get(&id).and_then(Group::next_deadline_ms) {
                self.by_time.insert((deadline, id.clone()));
                self.by_group.insert(id, deadline);
            }
        }
    }

    /// The earliest deadline of any group.
    pub fn first(&self) -> Option<i64> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Groups with a deadline at or before `now_ms`.
    pub fn due(&self, now_ms: i64) -> Vec<String> {
        self.by_time
            .iter()
            .take_while(|(t, _)| *t <= now_ms)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// True when nothing waits to be re-indexed.
    pub fn is_clean(&self) -> bool {
        self.dirty.is_empty()
    }
}
