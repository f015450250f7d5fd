//! What a partition's leader knows about its replicas: each follower's log end offset
//! (the offset of its last Fetch) and when it was last caught up, the in-sync
//! replica set as the metadata image has it, and how far the leader's own log is
//! durable. From these follow the high watermark (the smallest log end offset in
//! the ISR, the leader's durable end standing for its own) and the ISR changes
//! `replica.lag.time.max.ms` asks for. Pure: the caller gives the time.

use std::collections::BTreeMap;

/// A follower's log end offset before its first Fetch to this leader.
const UNKNOWN_OFFSET: i64 = -1;

/// One follower as its fetches show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProgress {
    /// The offset its last Fetch asked for: everything below it is in its log.
    pub log_end_offset: i64,
    /// The last time it had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    pub last_caught_up_ms: i64,
    /// The leader's log end at its previous Fetch, and when that was.
    last_fetch_leader_end: i64,
    last_fetch_ms: i64,
}

impl ReplicaProgress {
    fn new(now_ms: i64) -> Self {
        ReplicaProgress {
            log_end_offset: UNKNOWN_OFFSET,
            last_caught_up_ms: now_ms,
            last_fetch_leader_end: UNKNOWN_OFFSET,
            last_fetch_ms: now_ms,
        }
    }
}

/// The leader's view of its replicas.
#[derive(Debug, Clone)]
pub struct ReplicaProgressTable {
    local_id: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// Followers this leader asked the controller to add to the ISR, counted in it
    /// for the high watermark until the image answers (Kafka's maximal ISR): once
    /// asked, the controller may make one of them leader (a reassignment completing),
    /// so nothing it lacks may be acknowledged.
    pending_isr: Vec<i32>,
    followers: BTreeMap<i32, ReplicaProgress>,
    /// The leader's own log is fsynced below this offset.
    durable_end: i64,
}

impl ReplicaProgressTable {
    /// A table for leader `local_id` of `replicas` with `isr`; every follower starts
    /// unknown and (as in Kafka) caught up now, so none leaves the ISR before it had
    /// `replica.lag.time.max.ms` to fetch.
    pub fn new(
        local_id: i32,
        replicas: &[i32],
        isr: &[i32],
        durable_end: i64,
        now_ms: i64,
    ) -> Self {
        let mut table = ReplicaProgressTable {
            local_id,
            replicas: Vec::new(),
            isr: Vec::new(),
            pending_isr: Vec::new(),
            followers: BTreeMap::new(),
            durable_end,
        };
        table.set_assignment(replicas, isr, now_ms);
        table
    }

    /// The image changed the replicas or the ISR; what is known of the followers that
    /// stay is kept.
    pub fn set_assignment(&mut self, replicas: &[i32], isr: &[i32], now_ms: i64) {
        if replicas != self.replicas || isr != self.isr {
            // The controller answered (or something else changed first, and the
            // request will be refused).
            self.pending_isr.clear();
        }
        self.replicas = replicas.to_vec();
        self.isr = isr.to_vec();
        self.followers.retain(|id, _| replicas.contains(id));
        for id in replicas.iter().filter(|id| **id != self.local_id) {
            self.followers
                .entry(*id)
                .or_insert_with(|| ReplicaProgress::new(now_ms));
        }
    }

    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    /// This leader asks the controller to add `joining` to the ISR.
    pub fn expect_isr_members(&mut self, joining: &[i32]) {
        for id in joining {
            if self.replicas.contains(id) && !self.pending_isr.contains(id) {
                self.pending_isr.push(*id);
            }
        }
    }

    /// The controller refused (or never got) the ISR change.
    pub fn forget_pending_isr(&mut self) {
        self.pending_isr.clear();
    }

    pub fn follower(&self, id: i32) -> Option<&ReplicaProgress> {
        self.followers.get(&id)
    }

    /// The leader's log is durable below `offset` (flushes may finish out of order).
    pub fn set_durable_end(&mut self, offset: i64) {
        self.durable_end = self.durable_end.max(offset);
    }

    /// Follower `id` fetched from `fetch_offset` while the leader's log ended at
    /// `leader_end`. Kafka's rule: caught up now if it asked for the leader's end, or
    /// at its previous fetch if it asked for at least what the leader had then.
    /// False for a node that is not a follower of this partition.
    pub fn record_fetch(
        &mut self,
        id: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(f) = self.followers.get_mut(&id) else {
            return false;
        };
        if fetch_offset >= leader_end {
            f.last_caught_up_ms = f.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= f.last_fetch_leader_end {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_leader_end = leader_end;
        f.last_fetch_ms = now_ms;
        true
    }

    /// The offset every ISR member (and every follower asked to join it) has
    /// reached: the smallest such follower log end and the leader's durable end. A
    /// follower not heard from yet holds it at -1.
    pub fn high_watermark_candidate(&self) -> i64 {
        self.isr
            .iter()
            .chain(&self.pending_isr)
            .filter(|id| **id != self.local_id)
            .map(|id| {
                self.followers
                    .get(id)
                    .map_or(UNKNOWN_OFFSET, |f| f.log_end_offset)
            })
            .fold(self.durable_end, i64::min)
    }

    /// ISR followers not caught up within `lag_max_ms`: they should leave the ISR.
    pub fn lagging(&self, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        self.isr
            .iter()
            .filter(|id| **id != self.local_id)
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_some_and(|f| now_ms - f.last_caught_up_ms > lag_max_ms)
            })
            .copied()
            .collect()
    }

    /// When an ISR follower could first be lagging (see [`Self::lagging`]) if it does
    /// not catch up again before: the earliest last catch-up plus `lag_max_ms`, and a
    /// millisecond. `None` with no follower in the ISR.
    pub fn next_lag_check_ms(&self, lag_max_ms: i64) -> Option<i64> {
        self.isr
            .iter()
            .filter(|id| **id != self.local_id)
            .filter_map(|id| self.followers.get(id))
            .map(|f| {
                f.last_caught_up_ms
                    .saturating_add(lag_max_ms)
                    .saturating_add(1)
            })
            .min()
    }

    /// Followers outside the ISR that have reached `high_watermark` and are caught
    /// up within `lag_max_ms`: they may rejoin.
    pub fn caught_up(&self, high_watermark: i64, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        self.replicas
            .iter()
            .filter(|id| !self.isr.contains(id))
            .filter(|id| {
                self.followers.get(id).is_some_and(|f| {
                    f.log_end_offset >= high_watermark && now_ms - f.last_caught_up_ms <= lag_max_ms
                })
            })
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_watermark_is_the_smallest_end_in_the_isr() {
        let mut t = ReplicaProgressTable::new(1, &[1, 2, 3], &[1, 2, 3], 10, 0);
        assert_eq!(t.high_watermark_candidate(), -1, "followers not heard from");
        assert!(t.record_fetch(2, 10, 10, 5));
        assert_eq!(t.high_watermark_candidate(), -1, "3 not heard from");
        assert!(t.record_fetch(3, 7, 10, 5));
        assert_eq!(t.high_watermark_candidate(), 7);
        t.record_fetch(3, 12, 12, 6);
        assert_eq!(t.high_watermark_candidate(), 10, "the leader's durable end");
        t.set_durable_end(12);
        assert_eq!(t.high_watermark_candidate(), 10, "follower 2");
        // Out of the ISR, a follower no longer holds it back.
        t.set_assignment(&[1, 2, 3], &[1, 3], 7);
        assert_eq!(t.high_watermark_candidate(), 12);
        assert!(!t.record_fetch(4, 1, 12, 8), "not a replica");
        assert!(!t.record_fetch(1, 1, 12, 8), "the leader is not a follower");
    }

    #[test]
    fn a_follower_asked_into_the_isr_holds_the_high_watermark_until_the_answer() {
        let mut t = ReplicaProgressTable::new(1, &[1, 2], &[1], 10, 0);
        t.record_fetch(2, 8, 10, 0);
        assert_eq!(t.high_watermark_candidate(), 10, "2 is not in the ISR");
        t.expect_isr_members(&[2]);
        assert_eq!(t.high_watermark_candidate(), 8, "asked to join: counted");
        // The same assignment again (a config change) is no answer.
        t.set_assignment(&[1, 2], &[1], 0);
        assert_eq!(t.high_watermark_candidate(), 8);
        t.forget_pending_isr();
        assert_eq!(t.high_watermark_candidate(), 10, "refused");
        t.expect_isr_members(&[2]);
        t.set_assignment(&[1, 2], &[1, 2], 0);
        assert_eq!(t.high_watermark_candidate(), 8, "in the ISR now");
        t.set_assignment(&[1, 2], &[1], 0);
        assert_eq!(
            t.high_watermark_candidate(),
            10,
            "the answer clears the request"
        );
    }

    #[test]
    fn durable_end_never_moves_back() {
        let mut t = ReplicaProgressTable::new(1, &[1], &[1], 5, 0);
        t.set_durable_end(9);
        t.set_durable_end(6);
        assert_eq!(t.high_watermark_candidate(), 9);
    }

    #[test]
    fn a_follower_behind_too_long_lags_and_rejoins_once_caught_up() {
        let lag = 100;
        let mut t = ReplicaProgressTable::new(1, &[1, 2, 3], &[1, 2, 3], 0, 0);
        t.record_fetch(2, 0, 0, 50);
        t.record_fetch(3, 0, 0, 50);
        // 3 keeps fetching but never reaches what the leader had at its last fetch.
        t.record_fetch(2, 20, 20, 120);
        t.record_fetch(3, 5, 20, 120);
        t.record_fetch(2, 40, 40, 200);
        t.record_fetch(3, 10, 40, 200);
        assert_eq!(t.lagging(200, lag), vec![3]);
        t.set_assignment(&[1, 2, 3], &[1, 2], 200);
        assert_eq!(t.lagging(200, lag), Vec::<i32>::new());
        assert!(t.caught_up(40, 200, lag).is_empty(), "3 still behind");
        // It asks for what the leader had at its previous fetch: caught up then.
        t.record_fetch(3, 40, 50, 210);
        assert_eq!(t.caught_up(40, 210, lag), vec![3]);
        assert!(
            t.caught_up(45, 210, lag).is_empty(),
            "below the high watermark"
        );
    }

    #[test]
    fn a_silent_follower_lags_after_the_limit() {
        let t = ReplicaProgressTable::new(2, &[1, 2], &[1, 2], 0, 1_000);
        assert!(t.lagging(1_100, 100).is_empty(), "exactly at the limit");
        assert_eq!(t.lagging(1_101, 100), vec![1]);
        assert_eq!(t.next_lag_check_ms(100), Some(1_101), "when it first lags");
    }

    #[test]
    fn the_next_lag_check_follows_the_slowest_in_sync_follower() {
        let mut t = ReplicaProgressTable::new(1, &[1, 2, 3], &[1, 2, 3], 0, 0);
        t.record_fetch(2, 10, 10, 500);
        t.record_fetch(3, 10, 10, 200);
        assert_eq!(t.next_lag_check_ms(100), Some(301));
        // Out of the ISR, 3 no longer decides; without followers nothing is due.
        t.set_assignment(&[1, 2, 3], &[1, 2], 600);
        assert_eq!(t.next_lag_check_ms(100), Some(601));
        t.set_assignment(&[1, 2, 3], &[1], 600);
        assert_eq!(t.next_lag_check_ms(100), None);
        let alone = ReplicaProgressTable::new(1, &[1], &[1], 0, 0);
        assert_eq!(alone.next_lag_check_ms(100), None);
    }
}
