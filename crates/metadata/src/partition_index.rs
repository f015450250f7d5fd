//! The image's indexes over its partitions, kept as records apply, so the controller
//! looks only at the partitions a decision concerns instead of walking them all: by
//! leader (elections), by replica (a broker leaving every ISR) and those not led by
//! their preferred replica (the automatic leader rebalance).

use std::collections::{BTreeMap, BTreeSet};

use crate::PartitionImage;

/// A partition by topic name and number: index entries sort in topic-name and
/// partition order, the order the controller decides in.
pub type PartitionKey = (String, i32);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionIndex {
    /// Every partition under its leader (`NO_LEADER` for none).
    by_leader: BTreeMap<i32, BTreeSet<PartitionKey>>,
    /// Every partition under each of its replicas (an ISR holds replicas only).
    by_replica: BTreeMap<i32, BTreeSet<PartitionKey>>,
    /// How many partitions prefer each broker (it is their first replica).
    preferred_counts: BTreeMap<i32, u64>,
    /// The partitions whose leader is not their preferred replica.
    led_elsewhere: BTreeSet<PartitionKey>,
}

impl PartitionIndex {
    /// Indexes partition `p` of `topic`, which must not be indexed yet.
    pub fn insert(&mut self, topic: &str, p: &PartitionImage) {
        let key = (topic.to_string(), p.partition);
        let added = self
            .by_leader
            .entry(p.leader)
            .or_default()
            .insert(key.clone());
        assert!(added, "a partition indexed under two leaders");
        for r in &p.replicas {
            self.by_replica.entry(*r).or_default().insert(key.clone());
        }
        if let Some(preferred) = p.replicas.first() {
            *self.preferred_counts.entry(*preferred).or_default() += 1;
            if p.leader != *preferred {
                self.led_elsewhere.insert(key);
            }
        }
    }

    /// Removes partition `p` of `topic` as it was indexed.
    pub fn remove(&mut self, topic: &str, p: &PartitionImage) {
        let key = (topic.to_string(), p.partition);
        let removed = remove_entry(&mut self.by_leader, p.leader, &key);
        assert!(
            removed,
            "partition {topic}-{} missing from the leader index",
            p.partition
        );
        for r in &p.replicas {
            let removed = remove_entry(&mut self.by_replica, *r, &key);
            assert!(
                removed,
                "partition {topic}-{} missing from the replica index",
                p.partition
            );
        }
        if let Some(preferred) = p.replicas.first() {
            let count = self
                .preferred_counts
                .get_mut(preferred)
                .filter(|c| **c > 0)
                .unwrap_or_else(|| unreachable!("preferred count of {preferred} below zero"));
            *count -= 1;
            if *count == 0 {
                self.preferred_counts.remove(preferred);
            }
            self.led_elsewhere.remove(&key);
        }
    }

    /// The partitions `leader` leads (`NO_LEADER`: those without a leader).
    pub fn led_by(&self, leader: i32) -> impl Iterator<Item = &PartitionKey> + '_ {
        self.by_leader.get(&leader).into_iter().flatten()
    }

    /// Every id that leads a partition (`NO_LEADER` when some have none).
    pub fn leader_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.by_leader.keys().copied()
    }

    /// The partitions `broker` is a replica of.
    pub fn with_replica(&self, broker: i32) -> impl Iterator<Item = &PartitionKey> + '_ {
        self.by_replica.get(&broker).into_iter().flatten()
    }

    /// How many partitions have `broker` as their preferred (first) replica.
    pub fn preferred_count(&self, broker: i32) -> u64 {
        self.preferred_counts.get(&broker).copied().unwrap_or(0)
    }

    /// The partitions not led by their preferred replica.
    pub fn led_elsewhere(&self) -> impl Iterator<Item = &PartitionKey> + '_ {
        self.led_elsewhere.iter()
    }
}

/// Removes `key` from `map[id]`, dropping the set once empty; whether it was there.
fn remove_entry(
    map: &mut BTreeMap<i32, BTreeSet<PartitionKey>>,
    id: i32,
    key: &PartitionKey,
) -> bool {
    let Some(set) = map.get_mut(&id) else {
        return false;
    };
    let removed = set.remove(key);
    if set.is_empty() {
        map.remove(&id);
    }
    removed
}
