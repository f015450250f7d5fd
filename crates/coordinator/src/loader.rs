//! Rebuilding groups by replaying a `__consumer_offsets` partition: later records win,
//! tombstones delete, and groups are built once the whole partition is read.

use std::collections::BTreeMap;

use crate::consumer_group::loading::LoadedConsumerGroup;
use crate::group::{Group, GroupState, TopicPartition};
use crate::member::Member;
use crate::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};
use crate::txn_offsets::{PendingTxnOffset, TxnWrite};

/// What one group's records amount to so far.
#[derive(Debug, Default)]
struct LoadedGroup {
    metadata: Option<GroupMetadataValue>,
    offsets: BTreeMap<TopicPartition, OffsetCommitValue>,
    /// Log offset of the record each of `offsets` came from: a transaction's offset
    /// replaces a committed one only if its record is later (Kafka's rule).
    offsets_at: BTreeMap<TopicPartition, i64>,
    consumer: LoadedConsumerGroup,
}

/// An offset committed in a transaction whose marker has not been read yet.
type TxnOffsetRecord = (OffsetCommitValue, i64);

/// Accumulates a partition's records during replay.
#[derive(Debug, Default)]
pub(crate) struct LoadBuffer {
    groups: BTreeMap<String, LoadedGroup>,
    /// Transactional offsets by producer id, then (group, partition), until the
    /// producer's marker.
    pending: BTreeMap<i64, BTreeMap<(String, TopicPartition), TxnOffsetRecord>>,
    /// Records that did not decode (skipped, as Kafka skips them).
    pub skipped_records: u64,
    /// Whole batches whose records could not be read (skipped likewise).
    pub skipped_batches: u64,
    /// Offset of the last record applied, for diagnostics.
    pub last_offset: Option<i64>,
}

impl LoadBuffer {
    /// Applies one record in log order.
    pub fn apply(&mut self, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.last_offset = Some(offset);
        let Some(key) = key else {
            self.skipped_records += 1;
            return;
        };
        match RecordKey::decode(key) {
            Ok(RecordKey::OffsetCommit(k)) => {
                let tp = (k.topic, k.partition);
                match value.map(OffsetCommitValue::decode) {
                    None => {
                        if let Some(g) = self.groups.get_mut(&k.group) {
                            g.offsets.remove(&tp);
                            g.offsets_at.remove(&tp);
                        }
                        // As Kafka: a tombstone (DeleteGroups, OffsetDelete) also drops
                        // that partition's offsets of transactions still open.
                        let key = (k.group, tp);
                        for offsets in self.pending.values_mut() {
                            offsets.remove(&key);
                        }
                        self.pending.retain(|_, offsets| !offsets.is_empty());
                    }
                    Some(Ok(v)) => {
                        let g = self.groups.entry(k.group).or_default();
                        g.offsets_at.insert(tp.clone(), offset);
                        g.offsets.insert(tp, v);
                    }
                    Some(Err(_)) => self.skipped_records += 1,
                }
            }
            Ok(RecordKey::GroupMetadata(k)) => match value.map(GroupMetadataValue::decode) {
                None => {
                    if let Some(g) = self.groups.get_mut(&k.group) {
                        g.metadata = None;
                    }
                }
                Some(Ok(v)) => self.groups.entry(k.group).or_default().metadata = Some(v),
                Some(Err(_)) => self.skipped_records += 1,
            },
            Ok(RecordKey::Consumer(k)) => {
                let group = k.group().to_string();
                let loaded = self.groups.entry(group).or_default();
                if loaded.consumer.apply(k, value).is_err() {
                    self.skipped_records += 1;
                }
            }
            // Records of group types this coordinator does not run.
            Ok(RecordKey::Other { .. }) => {}
            Err(_) => self.skipped_records += 1,
        }
    }

    /// Applies one record of a transactional batch of `producer_id`: an offset held
    /// until the producer's marker. Anything else there is skipped (Kafka writes
    /// only offsets in transactions).
    pub fn apply_transactional(
        &mut self,
        producer_id: i64,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        self.last_offset = Some(offset);
        let decoded = key.map(RecordKey::decode);
        let (Some(Ok(RecordKey::OffsetCommit(k))), Some(Ok(v))) =
            (decoded, value.map(OffsetCommitValue::decode))
        else {
            self.skipped_records += 1;
            return;
        };
        // The group exists from its first transactional offset on, as in Kafka.
        self.groups.entry(k.group.clone()).or_default();
        self.pending
            .entry(producer_id)
            .or_default()
            .insert((k.group, (k.topic, k.partition)), (v, offset));
    }

    /// A COMMIT (`commit`) or ABORT marker of `producer_id`: its offsets become the
    /// committed ones where no later record is, or are dropped.
    pub fn apply_marker(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for ((group, tp), (value, record_offset)) in pending {
            let g = self.groups.entry(group).or_default();
            if g.offsets_at.get(&tp).is_none_or(|at| *at < record_offset) {
                g.offsets_at.insert(tp.clone(), record_offset);
                g.offsets.insert(tp, value);
            }
        }
    }

    /// Counts a batch whose records could not be read; replay goes on after it.
    pub fn skip_batch(&mut self, base_offset: i64) {
        self.last_offset = Some(base_offset);
        self.skipped_batches += 1;
    }

    /// The groups of the partition: those with metadata as they were last written
    /// (Stable with members, else Empty), and offset-only groups as Empty.
    pub fn into_groups(
        self,
        partition: i32,
        now_ms: i64,
        consumer_session_timeout_ms: i32,
    ) -> Vec<Group> {
        // Transactions still open at the end of the log stay pending.
        type Pending = BTreeMap<i64, BTreeMap<TopicPartition, PendingTxnOffset>>;
        let mut open: BTreeMap<String, Pending> = BTreeMap::new();
        for (producer_id, offsets) in self.pending {
            for ((group, tp), (value, record_offset)) in offsets {
                let superseded = self
                    .groups
                    .get(&group)
                    .and_then(|g| g.offsets_at.get(&tp))
                    .is_some_and(|at| *at > record_offset);
                let write = TxnWrite::Replayed {
                    record_offset,
                    superseded,
                };
                open.entry(group)
                    .or_default()
                    .entry(producer_id)
                    .or_default()
                    .insert(tp, PendingTxnOffset { value, write });
            }
        }
        self.groups
            .into_iter()
            .filter_map(|(id, mut loaded)| {
                let consumer =
                    std::mem::take(&mut loaded.consumer).build(now_ms, consumer_session_timeout_ms);
                let pending = open.remove(&id).unwrap_or_default();
                if loaded.metadata.is_none()
                    && loaded.offsets.is_empty()
                    && consumer.is_none()
                    && pending.is_empty()
                {
                    return None;
                }
                let mut g = build(id, partition, loaded, now_ms);
                g.pending_txn_offsets = pending;
                if let Some(cg) = consumer {
                    g.consumer = Some(Box::new(cg));
                    g.protocol_type =
                        Some(crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE.to_string());
                    crate::consumer_group::sync_classic_view(&mut g, now_ms);
                }
                Some(g)
            })
            .collect()
    }
}

fn build(id: String, partition: i32, loaded: LoadedGroup, now_ms: i64) -> Group {
    let mut g = Group::new(id, partition, now_ms);
    g.offsets = loaded.offsets;
    let Some(meta) = loaded.metadata else {
        return g;
    };
    g.generation = meta.generation;
    g.protocol_type = Some(meta.protocol_type.clone()).filter(|t| !t.is_empty());
    g.protocol_name = meta.protocol.clone();
    g.leader = meta.leader.clone();
    g.state = if meta.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    g.state_timestamp_ms = Some(meta.current_state_timestamp_ms).filter(|t| *t >= 0);
    let protocol = meta.protocol.clone().unwrap_or_default();
    for m in meta.members {
        let member = Member {
            id: m.member_id.clone(),
            instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            // Values before v1 lacked it; the session timeout served instead.
            rebalance_timeout_ms: if m.rebalance_timeout_ms < 0 {
                m.session_timeout_ms
            } else {
                m.rebalance_timeout_ms
            },
            session_timeout_ms: m.session_timeout_ms,
            protocol_type: meta.protocol_type.clone(),
            protocols: vec![(protocol.clone(), m.subscription)],
            assignment: m.assignment,
            join_waiter: None,
            sync_waiter: None,
            is_new: false,
            heartbeat_deadline_ms: now_ms.saturating_add(i64::from(m.session_timeout_ms)),
        };
        if let Some(instance) = &member.instance_id {
            g.static_members.insert(instance.clone(), member.id.clone());
        }
        g.members.insert(member.id.clone(), member);
    }
    if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
        g.leader = g.members.keys().next().cloned();
    }
    g.subscribed_topics = g.compute_subscribed_topics();
    g
}

#[cfg(test)]
mod tests {
    use super::LoadBuffer;
    use crate::records::{OffsetCommitKey, OffsetCommitValue};

    fn commit(group: &str, offset: i64) -> (Vec<u8>, Vec<u8>) {
        let key = OffsetCommitKey {
            group: group.into(),
            topic: "t".into(),
            partition: 0,
        };
        let value = OffsetCommitValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 1,
            expire_timestamp_ms: None,
        };
        (
            key.encode().expect("key").to_vec(),
            value.encode().expect("value").to_vec(),
        )
    }

    #[test]
    fn replay_counts_what_it_cannot_decode_and_goes_on() {
        let mut buffer = LoadBuffer::default();
        let (k, v) = commit("before", 5);
        buffer.apply(0, Some(&k), Some(&v));
        buffer.skip_batch(1);
        buffer.apply(4, Some(&[0xff, 0xff, 1]), Some(&[1, 2]));
        buffer.apply(5, Some(&k), Some(&[0, 3, 1]));
        buffer.apply(6, None, Some(&v));
        buffer.skip_batch(7);
        let (k, v) = commit("after", 9);
        buffer.apply(9, Some(&k), Some(&v));
        assert_eq!(buffer.skipped_batches, 2);
        assert_eq!(buffer.skipped_records, 3);
        assert_eq!(buffer.last_offset, Some(9));
        let groups = buffer.into_groups(0, 0, 45_000);
        let offsets: Vec<(String, i64)> = groups
            .iter()
            .map(|g| (g.id.clone(), g.offsets[&("t".to_string(), 0)].offset))
            .collect();
        assert_eq!(offsets, vec![("after".into(), 9), ("before".into(), 5)]);
    }
}
