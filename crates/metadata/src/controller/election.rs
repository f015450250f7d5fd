//! Leader election: which partitions get a new leader (and ISR) when brokers come and
//! go, as KRaft's controller decides it. The leader is the first replica, in replica
//! order (the preferred replica first), that is in the ISR and may lead; with none the
//! partition goes offline (leader -1) unless `unclean.leader.election.enable` lets a
//! live replica outside the ISR lead. The image bumps the leader epoch of every leader
//! change and the partition epoch of every change.

use crate::{
    MetadataImage, MetadataRecord, PartitionChange, PartitionImage, TopicImage, NO_LEADER,
};
use std::collections::BTreeSet;

/// Kafka's topic and broker config that allows electing a leader outside the ISR.
pub const UNCLEAN_LEADER_ELECTION_CONFIG: &str = "unclean.leader.election.enable";

/// The view an election is made from: the image, the brokers that may not lead
/// whatever the image says (being fenced in the same decision, in controlled
/// shutdown), and the broker's static `unclean.leader.election.enable`.
#[derive(Debug, Clone, Copy)]
pub struct LeaderElection<'a> {
    pub image: &'a MetadataImage,
    pub unavailable: &'a BTreeSet<i32>,
    pub unclean_default: bool,
}

impl LeaderElection<'_> {
    /// Registered, unfenced and not unavailable.
    pub fn may_lead(&self, broker: i32) -> bool {
        !self.unavailable.contains(&broker) && self.image.broker(broker).is_some_and(|b| !b.fenced)
    }

    /// The topic's `unclean.leader.election.enable`, else the cluster-wide dynamic
    /// one, else the static default.
    pub fn unclean_enabled(&self, topic: &TopicImage) -> bool {
        let cluster = self
            .image
            .broker_configs(None)
            .and_then(|c| c.get(UNCLEAN_LEADER_ELECTION_CONFIG));
        topic
            .configs
            .get(UNCLEAN_LEADER_ELECTION_CONFIG)
            .or(cluster)
            .and_then(|v| parse_bool(v))
            .unwrap_or(self.unclean_default)
    }

    /// Takes `brokers` out of the ISR of every partition that has them (never emptying
    /// an ISR: its last member stays, as in KRaft, so it can lead again when it
    /// returns) and elects a leader wherever the leader is no longer fit.
    pub fn remove_from_isrs(&self, brokers: &BTreeSet<i32>) -> Vec<MetadataRecord> {
        self.changes_among(self.with_replicas(brokers), |p| {
            let touches = p.isr.iter().any(|r| brokers.contains(r)) || brokers.contains(&p.leader);
            touches.then(|| {
                p.isr
                    .iter()
                    .copied()
                    .filter(|r| !brokers.contains(r))
                    .collect()
            })
        })
    }

    /// Elects leaders for partitions that have none (after a broker returned).
    pub fn elect_leaderless(&self) -> Vec<MetadataRecord> {
        self.changes_among(self.leaderless(), |p| Some(p.isr.clone()))
    }

    /// Elects wherever the current leader may not lead (a broker going away), keeping
    /// ISRs as they are.
    pub fn move_leaders_off_unfit(&self) -> Vec<MetadataRecord> {
        self.changes_among(self.led_by_unfit(), |p| Some(p.isr.clone()))
    }

    /// The partitions without a leader: what [`Self::elect_leaderless`] looks at.
    pub fn leaderless(&self) -> Vec<(&TopicImage, &PartitionImage)> {
        self.image.partitions_led_by(NO_LEADER).collect()
    }

    /// The partitions led by a broker that may not lead, in topic-name and partition
    /// order: what [`Self::move_leaders_off_unfit`] looks at.
    pub fn led_by_unfit(&self) -> Vec<(&TopicImage, &PartitionImage)> {
        let mut led: Vec<(&TopicImage, &PartitionImage)> = self
            .image
            .leader_ids()
            .filter(|id| *id != NO_LEADER && !self.may_lead(*id))
            .flat_map(|id| self.image.partitions_led_by(id))
            .collect();
        led.sort_by(|a, b| (&a.0.name, a.1.partition).cmp(&(&b.0.name, b.1.partition)));
        led
    }

    /// The partitions `brokers` are replicas of (every ISR or leader they are in), in
    /// topic-name and partition order: what [`Self::remove_from_isrs`] looks at.
    pub fn with_replicas(&self, brokers: &BTreeSet<i32>) -> Vec<(&TopicImage, &PartitionImage)> {
        let mut found: Vec<(&TopicImage, &PartitionImage)> = brokers
            .iter()
            .flat_map(|b| self.image.partitions_with_replica(*b))
            .collect();
        found.sort_by(|a, b| (&a.0.name, a.1.partition).cmp(&(&b.0.name, b.1.partition)));
        found.dedup_by(|a, b| (&a.0.name, a.1.partition) == (&b.0.name, b.1.partition));
        found
    }

    /// A PartitionChange for every partition of `candidates` (in the order given)
    /// `target_isr` picks, skipping those where nothing changes.
    fn changes_among(
        &self,
        candidates: Vec<(&TopicImage, &PartitionImage)>,
        target_isr: impl Fn(&PartitionImage) -> Option<Vec<i32>>,
    ) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for (topic, p) in candidates {
            if let Some(isr) = target_isr(p) {
                if let Some(change) = self.partition_change(topic, p, isr) {
                    records.push(MetadataRecord::PartitionChange(change));
                }
            }
        }
        records
    }

    /// The change that moves `p` to `target_isr` and elects its leader, or `None` if
    /// neither ISR nor leader changes.
    pub fn partition_change(
        &self,
        topic: &TopicImage,
        p: &PartitionImage,
        target_isr: Vec<i32>,
    ) -> Option<PartitionChange> {
        let mut isr = if target_isr.is_empty() {
            p.isr.clone()
        } else {
            target_isr
        };
        let leader = if p.leader != NO_LEADER && isr.contains(&p.leader) && self.may_lead(p.leader)
        {
            p.leader
        } else if let Some(&r) = p
            .replicas
            .iter()
            .find(|r| isr.contains(r) && self.may_lead(**r))
        {
            r
        } else if let Some(&r) = self
            .unclean_enabled(topic)
            .then(|| p.replicas.iter().find(|r| self.may_lead(**r)))
            .flatten()
        {
            // Unclean: data the old ISR had may be lost; the new leader alone is in sync.
            isr = vec![r];
            r
        } else {
            NO_LEADER
        };
        assert!(
            isr.iter().all(|r| p.replicas.contains(r)),
            "an elected ISR holds a non-replica"
        );
        if leader == p.leader && isr == p.isr {
            return None;
        }
        let mut change = PartitionChange::new(topic.id, p.partition);
        if leader != p.leader {
            change.leader = leader;
        }
        if isr != p.isr {
            change.isr = Some(isr);
        }
        Some(change)
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}
