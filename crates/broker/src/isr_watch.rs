//! Which led partitions the ISR maintenance must look at, so a look costs the
//! partitions that may need an ISR change rather than every partition: those marked
//! (a follower outside the ISR caught up, the leadership or assignment changed) and
//! those whose earliest follower lag deadline passed. A partition is rescheduled at
//! each look for when its slowest in-sync follower could next be lagging; one with
//! no follower in its ISR is not scheduled at all.

use moldau_log::due_schedule::DueSchedule;
use moldau_log::TopicPartition;
use parking_lot::Mutex;
use std::collections::HashSet;

#[derive(Default)]
struct State {
    marked: HashSet<TopicPartition>,
    due: DueSchedule,
}

/// See the module documentation.
#[derive(Default)]
pub struct IsrWatch {
    state: Mutex<State>,
}

impl IsrWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// `tp` is looked at by the next look.
    pub fn mark(&self, tp: &TopicPartition) {
        let mut state = self.state.lock();
        if !state.marked.contains(tp) {
            state.marked.insert(tp.clone());
        }
    }

    /// `tp` is looked at once `due_ms` passed (`None`: only when marked).
    pub fn schedule(&self, tp: &TopicPartition, due_ms: Option<i64>) {
        self.state.lock().due.set(tp, due_ms);
    }

    /// The partitions to look at now (marked, or due by `now_ms`), each once,
    /// forgetting them: a look reschedules those still led here.
    pub fn take(&self, now_ms: i64) -> Vec<TopicPartition> {
        let mut state = self.state.lock();
        let mut out: HashSet<TopicPartition> = state.marked.drain().collect();
        out.extend(state.due.take_due(now_ms));
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_takes_the_marked_and_the_due_not_every_partition() {
        let watch = IsrWatch::new();
        // 10 000 led partitions whose followers are in step: due in 30 s.
        for p in 0..10_000 {
            watch.schedule(&TopicPartition::new("t", p), Some(30_000));
        }
        watch.schedule(&TopicPartition::new("slow", 0), Some(1_000));
        watch.mark(&TopicPartition::new("rejoining", 0));
        watch.mark(&TopicPartition::new("rejoining", 0));
        let mut first = watch.take(5_000);
        first.sort();
        assert_eq!(
            first,
            vec![
                TopicPartition::new("rejoining", 0),
                TopicPartition::new("slow", 0)
            ],
            "two partitions looked at, not 10 002"
        );
        assert!(watch.take(5_000).is_empty(), "each taken once");
        // A marked partition that is also due is looked at once.
        watch.mark(&TopicPartition::new("t", 7));
        let due = watch.take(30_000);
        assert_eq!(due.len(), 10_000);
    }
}
