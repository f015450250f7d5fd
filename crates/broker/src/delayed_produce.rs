//! acks=all produces waiting for the high watermark: one entry per appended
//! partition, keyed by the offset the high watermark must reach, completed when it
//! moves (on follower progress or the leader's fsync). No task per request: the
//! produce response future holds the receiver and its own deadline.

use moldau_protocol::ResponseError;
use std::collections::BTreeMap;
use tokio::sync::oneshot;

/// At most this many acks=all appends wait on one partition; more are refused at
/// once (a bound on memory, far above what `max.in.flight` of many producers needs).
pub const DELAYED_PRODUCES_PER_PARTITION_MAX: usize = 100_000;

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Every ISR member has the records; the ISR had this many members then.
    Replicated { isr_len: usize },
    /// This broker stopped leading the partition before that happened.
    NotLeader,
}

pub type AckReceiver = oneshot::Receiver<AckOutcome>;

#[derive(Debug, Default)]
pub struct DelayedProduces {
    waiting: BTreeMap<i64, Vec<oneshot::Sender<AckOutcome>>>,
    count: usize,
}

impl DelayedProduces {
    /// Waits until the high watermark reaches `offset`; `None` when full.
    pub fn wait_for(&mut self, offset: i64) -> Option<AckReceiver> {
        if self.count >= DELAYED_PRODUCES_PER_PARTITION_MAX {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.entry(offset).or_default().push(tx);
        self.count += 1;
        Some(rx)
    }

    /// The high watermark is `high_watermark` with `isr_len` in-sync replicas.
    pub fn complete_up_to(&mut self, high_watermark: i64, isr_len: usize) {
        let later = self.waiting.split_off(&(high_watermark + 1));
        let done = std::mem::replace(&mut self.waiting, later);
        for tx in done.into_values().flatten() {
            self.count -= 1;
            let _ = tx.send(AckOutcome::Replicated { isr_len });
        }
    }

    /// Leadership moved away: nobody waiting here will be answered by this leader.
    pub fn fail_all(&mut self) {
        for tx in std::mem::take(&mut self.waiting).into_values().flatten() {
            let _ = tx.send(AckOutcome::NotLeader);
        }
        self.count = 0;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Waits for every ISR member to have an acks=all append, until `deadline`; the
/// error to answer with, if any.
pub async fn replication_error(
    rx: AckReceiver,
    min_insync: usize,
    deadline: tokio::time::Instant,
) -> Option<(ResponseError, String)> {
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(AckOutcome::Replicated { isr_len })) if isr_len < min_insync => Some((
            ResponseError::NotEnoughReplicasAfterAppend,
            format!(
                "written, but the ISR shrank to {isr_len} while waiting; min.insync.replicas is {min_insync}"
            ),
        )),
        Ok(Ok(AckOutcome::Replicated { .. })) => None,
        Ok(Ok(AckOutcome::NotLeader)) | Ok(Err(_)) => Some((
            ResponseError::NotLeaderOrFollower,
            "leadership moved before the in-sync replicas had the records".into(),
        )),
        Err(_) => Some((
            ResponseError::RequestTimedOut,
            "the in-sync replicas did not all have the records within timeout.ms".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_complete_in_offset_order() {
        let mut d = DelayedProduces::default();
        let mut a = d.wait_for(5).unwrap();
        let mut b = d.wait_for(9).unwrap();
        d.complete_up_to(4, 3);
        assert!(a.try_recv().is_err());
        d.complete_up_to(7, 2);
        assert_eq!(a.try_recv(), Ok(AckOutcome::Replicated { isr_len: 2 }));
        assert!(b.try_recv().is_err());
        assert_eq!(d.len(), 1);
        d.fail_all();
        assert_eq!(b.try_recv(), Ok(AckOutcome::NotLeader));
        assert!(d.is_empty());
    }
}
