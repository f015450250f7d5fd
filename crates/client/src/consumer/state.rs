//! Per-partition consumer state: the position handed to the application, the
//! position fetched up to, prefetched records, pause flags and the broker's
//! watermarks. Guarded by one lock shared by `poll` and the fetcher.

use std::collections::{BTreeMap, VecDeque};

use crate::record::{ConsumerRecord, TopicPartition};

/// Bytes a buffered record is charged beyond its key and value (struct, headers).
const RECORD_BUFFER_OVERHEAD_BYTES: usize = 64;

/// One assigned partition.
#[derive(Debug, Default)]
pub(crate) struct PartitionState {
    /// Next offset to hand to the application; `None` until known.
    pub position: Option<i64>,
    /// Leader epoch of the last record handed out (committed with the offset).
    pub leader_epoch: Option<i32>,
    /// Next offset to fetch (at or past `position`, records between are buffered).
    pub fetch_position: Option<i64>,
    /// Skip the committed-offset lookup and apply `auto.offset.reset` directly.
    pub reset_requested: bool,
    /// Paused by the application: not fetched, not returned.
    pub paused: bool,
    /// Prefetched records, in offset order.
    pub buffer: VecDeque<ConsumerRecord>,
    /// Approximate bytes held in `buffer`.
    pub buffered_bytes: usize,
    /// High watermark from the last fetch, -1 when unknown.
    pub high_watermark: i64,
    /// Last stable offset from the last fetch, -1 when unknown.
    pub last_stable_offset: i64,
    /// Log start offset from the last fetch, -1 when unknown.
    pub log_start_offset: i64,
    /// A fetch for this partition is outstanding.
    pub fetch_in_flight: bool,
    /// Changes on every seek or reassignment so that answers to older fetches are
    /// recognised and dropped.
    pub epoch: u64,
}

impl PartitionState {
    fn new(epoch: u64) -> PartitionState {
        PartitionState {
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            epoch,
            ..PartitionState::default()
        }
    }

    fn clear_buffer(&mut self) {
        self.buffer.clear();
        self.buffered_bytes = 0;
    }
}

/// A partition the fetcher should fetch now.
#[derive(Debug, Clone)]
pub(crate) struct FetchTarget {
    pub tp: TopicPartition,
    pub offset: i64,
    pub epoch: u64,
}

/// What a fetch brought for one partition.
#[derive(Debug, Default)]
pub(crate) struct FetchedPartition {
    pub records: Vec<ConsumerRecord>,
    pub next_offset: Option<i64>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

/// All assigned partitions.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionState {
    pub partitions: BTreeMap<TopicPartition, PartitionState>,
    next_epoch: u64,
    /// Where the next poll starts taking records, for fairness across partitions.
    cursor: usize,
}

fn record_bytes(r: &ConsumerRecord) -> usize {
    RECORD_BUFFER_OVERHEAD_BYTES
        + r.key.as_ref().map_or(0, |k| k.len())
        + r.value.as_ref().map_or(0, |v| v.len())
}

impl SubscriptionState {
    fn bump(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    /// Replaces the assignment; partitions kept keep their state.
    pub fn assign(&mut self, tps: &[TopicPartition]) {
        self.partitions.retain(|tp, _| tps.contains(tp));
        for tp in tps {
            if !self.partitions.contains_key(tp) {
                let e = self.bump();
                self.partitions.insert(tp.clone(), PartitionState::new(e));
            }
        }
    }

    /// Adds partitions (cooperative assignment).
    pub fn add(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if !self.partitions.contains_key(tp) {
                let e = self.bump();
                self.partitions.insert(tp.clone(), PartitionState::new(e));
            }
        }
    }

    /// Removes partitions (revocation).
    pub fn remove(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.partitions.remove(tp);
        }
    }

    /// The assigned partitions, sorted.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// Moves a partition's position; buffered records are dropped.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        let e = self.bump();
        let Some(ps) = self.partitions.get_mut(tp) else {
            return false;
        };
        ps.position = Some(offset);
        ps.fetch_position = Some(offset);
        ps.leader_epoch = None;
        ps.reset_requested = false;
        ps.clear_buffer();
        ps.epoch = e;
        ps.fetch_in_flight = false;
        true
    }

    /// Forgets a partition's position so the reset policy applies (offset out of
    /// range, or a seek to beginning/end).
    pub fn request_reset(&mut self, tp: &TopicPartition) {
        let e = self.bump();
        if let Some(ps) = self.partitions.get_mut(tp) {
            ps.position = None;
            ps.fetch_position = None;
            ps.reset_requested = true;
            ps.clear_buffer();
            ps.epoch = e;
            ps.fetch_in_flight = false;
        }
    }

    /// Partitions without a position: `(partition, reset_requested)`.
    pub fn missing_positions(&self) -> Vec<(TopicPartition, bool)> {
        self.partitions
            .iter()
            .filter(|(_, ps)| ps.position.is_none())
            .map(|(tp, ps)| (tp.clone(), ps.reset_requested))
            .collect()
    }

    /// Partitions the fetcher may fetch: positioned, not paused, not in flight, and
    /// with less than `prefetch_bytes` buffered. Marks them in flight. The flag is
    /// true when some partition was left out only because its buffer is full: the
    /// fetch must then not long-poll, or that partition would wait behind it.
    pub fn take_fetch_targets(&mut self, prefetch_bytes: usize) -> (Vec<FetchTarget>, bool) {
        let mut out = Vec::new();
        let mut held_back = false;
        for (tp, ps) in self.partitions.iter_mut() {
            if ps.paused || ps.fetch_in_flight {
                continue;
            }
            if ps.buffered_bytes >= prefetch_bytes {
                held_back = true;
                continue;
            }
            let Some(offset) = ps.fetch_position else {
                continue;
            };
            ps.fetch_in_flight = true;
            out.push(FetchTarget {
                tp: tp.clone(),
                offset,
                epoch: ps.epoch,
            });
        }
        (out, held_back)
    }

    /// Clears the in-flight flag of a target whose fetch failed.
    pub fn fetch_failed(&mut self, t: &FetchTarget) {
        if let Some(ps) = self.partitions.get_mut(&t.tp) {
            if ps.epoch == t.epoch {
                ps.fetch_in_flight = false;
            }
        }
    }

    /// Stores a fetch result, unless the partition moved (seek, reassignment) since
    /// the fetch was sent. Returns whether it was applied.
    pub fn apply_fetch(&mut self, t: &FetchTarget, fetched: FetchedPartition) -> bool {
        let Some(ps) = self.partitions.get_mut(&t.tp) else {
            return false;
        };
        if ps.epoch != t.epoch || ps.fetch_position != Some(t.offset) {
            return false;
        }
        ps.fetch_in_flight = false;
        ps.high_watermark = fetched.high_watermark;
        ps.last_stable_offset = fetched.last_stable_offset;
        ps.log_start_offset = fetched.log_start_offset;
        let mut next = t.offset;
        if let Some(n) = fetched.next_offset {
            next = next.max(n);
        }
        for r in fetched.records {
            next = next.max(r.offset + 1);
            ps.buffered_bytes += record_bytes(&r);
            ps.buffer.push_back(r);
        }
        ps.fetch_position = Some(next);
        if ps.buffer.is_empty() {
            // Only control batches or nothing: the position follows the fetch.
            ps.position = Some(next);
        }
        true
    }

    /// Takes up to `max` buffered records, fairly across partitions, and advances
    /// positions past them.
    pub fn take_records(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let n = self.partitions.len();
        if n == 0 {
            return out;
        }
        let start = self.cursor % n;
        let mut next_cursor = start;
        let mut states: Vec<&mut PartitionState> = self.partitions.values_mut().collect();
        for i in (start..n).chain(0..start) {
            if out.len() >= max {
                next_cursor = i;
                break;
            }
            let ps = &mut states[i];
            next_cursor = i + 1;
            if ps.paused {
                continue;
            }
            while out.len() < max {
                let Some(r) = ps.buffer.pop_front() else {
                    break;
                };
                ps.buffered_bytes = ps.buffered_bytes.saturating_sub(record_bytes(&r));
                ps.position = Some(r.offset + 1);
                ps.leader_epoch = Some(r.leader_epoch).filter(|&e| e >= 0);
                out.push(r);
            }
            if ps.buffer.is_empty() {
                if let (Some(p), Some(f)) = (ps.position, ps.fetch_position) {
                    ps.position = Some(p.max(f));
                }
            }
        }
        self.cursor = next_cursor;
        out
    }

    /// True when some unpaused partition has buffered records.
    #[cfg(test)]
    pub fn has_records(&self) -> bool {
        self.partitions
            .values()
            .any(|ps| !ps.paused && !ps.buffer.is_empty())
    }

    /// Current positions of partitions that have one.
    pub fn positions(&self) -> BTreeMap<TopicPartition, (i64, Option<i32>)> {
        self.partitions
            .iter()
            .filter_map(|(tp, ps)| ps.position.map(|p| (tp.clone(), (p, ps.leader_epoch))))
            .collect()
    }

    /// Records between the position and the high watermark (None when unknown).
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let ps = self.partitions.get(tp)?;
        let pos = ps.position?;
        (ps.high_watermark >= 0).then(|| (ps.high_watermark - pos).max(0))
    }

    /// Pauses or resumes partitions.
    pub fn set_paused(&mut self, tps: &[TopicPartition], paused: bool) {
        for tp in tps {
            if let Some(ps) = self.partitions.get_mut(tp) {
                ps.paused = paused;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TimestampType;
    use std::sync::Arc;

    fn rec(tp: &TopicPartition, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from(tp.topic.as_str()),
            partition: tp.partition,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            leader_epoch: 3,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: vec![],
        }
    }

    fn fetched(tp: &TopicPartition, offsets: std::ops::Range<i64>, next: i64) -> FetchedPartition {
        FetchedPartition {
            records: offsets.map(|o| rec(tp, o)).collect(),
            next_offset: Some(next),
            high_watermark: 100,
            ..Default::default()
        }
    }

    #[test]
    fn poll_takes_fairly_and_advances_positions() {
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        let mut s = SubscriptionState::default();
        s.assign(&[a.clone(), b.clone()]);
        s.seek(&a, 10);
        s.seek(&b, 20);
        let targets = s.take_fetch_targets(1 << 20).0;
        assert_eq!(targets.len(), 2);
        assert!(s.take_fetch_targets(1 << 20).0.is_empty(), "in flight");
        assert!(s.apply_fetch(&targets[0], fetched(&a, 10..15, 15)));
        assert!(s.apply_fetch(&targets[1], fetched(&b, 20..25, 25)));
        let first = s.take_records(4);
        assert_eq!(first.len(), 4);
        let second = s.take_records(100);
        assert_eq!(second.len(), 6);
        assert_eq!(s.positions()[&a].0, 15);
        assert_eq!(s.positions()[&b], (25, Some(3)));
        assert_eq!(s.lag(&a), Some(85));
    }

    #[test]
    fn stale_fetch_after_seek_is_dropped() {
        let a = TopicPartition::new("t", 0);
        let mut s = SubscriptionState::default();
        s.assign(std::slice::from_ref(&a));
        s.seek(&a, 0);
        let t = s.take_fetch_targets(1 << 20).0.pop().unwrap();
        s.seek(&a, 50);
        assert!(!s.apply_fetch(&t, fetched(&a, 0..5, 5)));
        assert!(!s.has_records());
        assert_eq!(s.positions()[&a].0, 50);
    }

    #[test]
    fn paused_partitions_are_neither_fetched_nor_returned() {
        let a = TopicPartition::new("t", 0);
        let mut s = SubscriptionState::default();
        s.assign(std::slice::from_ref(&a));
        s.seek(&a, 0);
        let t = s.take_fetch_targets(1 << 20).0.pop().unwrap();
        s.apply_fetch(&t, fetched(&a, 0..3, 3));
        s.set_paused(std::slice::from_ref(&a), true);
        assert!(s.take_records(10).is_empty());
        assert!(s.take_fetch_targets(1 << 20).0.is_empty());
        s.set_paused(std::slice::from_ref(&a), false);
        assert_eq!(s.take_records(10).len(), 3);
    }

    #[test]
    fn control_only_fetch_moves_position_and_reset_clears_it() {
        let a = TopicPartition::new("t", 0);
        let mut s = SubscriptionState::default();
        s.assign(std::slice::from_ref(&a));
        s.seek(&a, 7);
        let t = s.take_fetch_targets(1 << 20).0.pop().unwrap();
        s.apply_fetch(&t, fetched(&a, 0..0, 9));
        assert_eq!(s.positions()[&a].0, 9);
        s.request_reset(&a);
        assert_eq!(s.missing_positions(), vec![(a.clone(), true)]);
        assert!(s.take_fetch_targets(1 << 20).0.is_empty());
    }

    #[test]
    fn prefetch_stops_at_the_byte_budget() {
        let a = TopicPartition::new("t", 0);
        let mut s = SubscriptionState::default();
        s.assign(std::slice::from_ref(&a));
        s.seek(&a, 0);
        let t = s.take_fetch_targets(100).0.pop().unwrap();
        s.apply_fetch(&t, fetched(&a, 0..5, 5));
        assert!(s.take_fetch_targets(100).0.is_empty(), "buffer over budget");
        s.take_records(5);
        assert_eq!(s.take_fetch_targets(100).0.len(), 1);
    }
}
