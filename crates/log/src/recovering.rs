//! The partitions of a directory still being opened at start: after an unclean
//! shutdown each is recovered (checked past its recovery point), after a clean one
//! only opened (nothing re-read). The broker listens meanwhile and serves each one
//! once it is done,
//! so a partition here is in no other map of the directory: nothing (hosting,
//! checkpoints, background passes, deletion) sees its log before it is whole. Its
//! checkpoint lines are kept as they were read, so a crash during recovery loses no
//! recovery point or log start offset.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::offline_partition::OfflinePartition;
use crate::topic_partition::TopicPartition;

/// Called once for each partition whose recovery finished (recovered or offline),
/// on a recovery thread.
pub type RecoveredHandler = Arc<dyn Fn(&TopicPartition) + Send + Sync>;

#[derive(Default)]
struct State {
    /// Still being recovered, with what the checkpoints said of each.
    partitions: BTreeMap<TopicPartition, OfflinePartition>,
    /// Finished before anyone asked to hear of it.
    unannounced: Vec<TopicPartition>,
    handler: Option<RecoveredHandler>,
    finished: usize,
}

/// See the module documentation.
#[derive(Default)]
pub struct RecoveringPartitions {
    state: Mutex<State>,
}

impl RecoveringPartitions {
    /// `partitions` are to be recovered, with their checkpoint lines.
    pub fn new(partitions: BTreeMap<TopicPartition, OfflinePartition>) -> Self {
        RecoveringPartitions {
            state: Mutex::new(State {
                partitions,
                ..State::default()
            }),
        }
    }

    pub fn contains(&self, tp: &TopicPartition) -> bool {
        self.state.lock().partitions.contains_key(tp)
    }

    /// How many are still being recovered.
    pub fn remaining(&self) -> usize {
        self.state.lock().partitions.len()
    }

    /// How many finished recovering since start.
    pub fn finished(&self) -> usize {
        self.state.lock().finished
    }

    pub fn names(&self) -> Vec<TopicPartition> {
        self.state.lock().partitions.keys().cloned().collect()
    }

    /// The kept checkpoint lines of the partitions still being recovered.
    pub fn kept(&self) -> Vec<(TopicPartition, OfflinePartition)> {
        let state = self.state.lock();
        state
            .partitions
            .iter()
            .map(|(tp, kept)| (tp.clone(), kept.clone()))
            .collect()
    }

    /// `tp` is done. Returns the handler to tell (outside any lock), or `None` when
    /// nobody listens yet (it is told on registering).
    #[must_use]
    pub fn finish(&self, tp: &TopicPartition) -> Option<RecoveredHandler> {
        let mut state = self.state.lock();
        let removed = state.partitions.remove(tp);
        assert!(removed.is_some(), "{tp} finished recovering twice");
        state.finished += 1;
        match &state.handler {
            Some(handler) => Some(Arc::clone(handler)),
            None => {
                state.unannounced.push(tp.clone());
                None
            }
        }
    }

    /// From now on `handler` hears of each partition that finishes; those finished
    /// already are told now, on the caller's thread.
    pub fn on_finished(&self, handler: RecoveredHandler) {
        let unannounced = {
            let mut state = self.state.lock();
            state.handler = Some(Arc::clone(&handler));
            std::mem::take(&mut state.unannounced)
        };
        for tp in &unannounced {
            handler(tp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn a_partition_leaves_once_and_is_announced_once() {
        let kept = OfflinePartition {
            recovery_point: Some(7),
            ..OfflinePartition::default()
        };
        let r = RecoveringPartitions::new(BTreeMap::from([
            (tp(0), kept.clone()),
            (tp(1), kept.clone()),
            (tp(2), kept),
        ]));
        assert_eq!((r.remaining(), r.finished()), (3, 0));
        assert!(r.contains(&tp(0)));
        assert_eq!(r.kept()[0].1.recovery_point, Some(7));
        // Finished before anyone listens: kept for the first listener.
        assert!(r.finish(&tp(0)).is_none());
        assert!(!r.contains(&tp(0)));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&heard);
        r.on_finished(Arc::new(move |tp| sink.lock().push(tp.clone())));
        assert_eq!(*heard.lock(), vec![tp(0)]);
        let handler = r.finish(&tp(2)).expect("a listener");
        handler(&tp(2));
        assert_eq!(*heard.lock(), vec![tp(0), tp(2)]);
        assert_eq!((r.remaining(), r.finished()), (1, 2));
        assert_eq!(r.names(), vec![tp(1)]);
    }

    #[test]
    #[should_panic(expected = "finished recovering twice")]
    fn finishing_twice_is_a_broken_invariant() {
        let r = RecoveringPartitions::new(BTreeMap::from([(tp(0), OfflinePartition::default())]));
        let _ = r.finish(&tp(0));
        let _ = r.finish(&tp(0));
    }
}
