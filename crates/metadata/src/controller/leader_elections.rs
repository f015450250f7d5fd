//! Leader elections asked for rather than forced by a broker leaving: ElectLeaders
//! (PREFERRED moves leadership back to the first replica; UNCLEAN gives a leaderless
//! partition a leader from outside the ISR) and the automatic preferred-leader
//! rebalance (`auto.leader.rebalance.enable`). Decided on the image, as Kafka's
//! controller does, with Kafka's per-partition errors.

use super::election::LeaderElection;
use super::ControllerError;
use crate::{MetadataRecord, PartitionChange, PartitionImage, TopicImage, NO_LEADER};
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

/// Kafka's ElectionType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionKind {
    /// 0: the preferred (first) replica, if it is in the ISR and may lead.
    Preferred,
    /// 1: for a partition without a leader, the first in-sync replica that may lead,
    /// else the first live replica outside the ISR (whatever the topic's
    /// `unclean.leader.election.enable`: the operator asked).
    Unclean,
}

impl ElectionKind {
    /// From the wire's `election_type`; `None` for a value Kafka does not define.
    pub fn from_wire(value: i8) -> Option<Self> {
        match value {
            0 => Some(ElectionKind::Preferred),
            1 => Some(ElectionKind::Unclean),
            _ => None,
        }
    }
}

/// Partitions an election is asked for: `None` is every partition of the cluster.
pub type ElectionTargets = Option<Vec<(String, Vec<i32>)>>;

/// One partition's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ElectionOutcome {
    pub topic: String,
    pub partition: i32,
    /// `None`: a new leader was elected.
    pub error: Option<ControllerError>,
}

impl LeaderElection<'_> {
    /// ElectLeaders: the records electing `kind` leaders for `targets`, and every
    /// partition's outcome. When asked for every partition, those that need no
    /// election are left out of the outcomes, as Kafka does.
    pub fn elect_leaders(
        &self,
        kind: ElectionKind,
        targets: &ElectionTargets,
    ) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
        let mut records = Vec::new();
        let mut outcomes = Vec::new();
        let mut decide = |topic: &str, partition: i32| {
            let decided = match self.image.topic(topic) {
                None => Err(unknown(topic, partition)),
                Some(t) => match t.partitions.get(&partition) {
                    None => Err(unknown(topic, partition)),
                    Some(p) => self.elect_one(kind, t, p),
                },
            };
            let error = match decided {
                Ok(change) => {
                    records.push(MetadataRecord::PartitionChange(change));
                    None
                }
                Err(e) => Some(e),
            };
            ElectionOutcome {
                topic: topic.to_string(),
                partition,
                error,
            }
        };
        match targets {
            Some(targets) => {
                // A partition named twice is elected once, as Kafka reads a set.
                let mut seen = std::collections::BTreeSet::new();
                for (topic, partitions) in targets {
                    for partition in partitions {
                        if seen.insert((topic.as_str(), *partition)) {
                            outcomes.push(decide(topic, *partition));
                        }
                    }
                }
            }
            None => {
                let all: Vec<(String, i32)> = self
                    .image
                    .topics()
                    .flat_map(|t| t.partitions.keys().map(|p| (t.name.clone(), *p)))
                    .collect();
                for (topic, partition) in all {
                    let outcome = decide(&topic, partition);
                    let not_needed = outcome
                        .error
                        .as_ref()
                        .is_some_and(|e| e.error == ResponseError::ElectionNotNeeded);
                    if !not_needed {
                        outcomes.push(outcome);
                    }
                }
            }
        }
        (records, outcomes)
    }

    /// The change electing `kind`'s leader for `p`, or why there is none.
    fn elect_one(
        &self,
        kind: ElectionKind,
        topic: &TopicImage,
        p: &PartitionImage,
    ) -> Result<PartitionChange, ControllerError> {
        let mut change = PartitionChange::new(topic.id, p.partition);
        match kind {
            ElectionKind::Preferred => {
                let preferred = preferred_replica(p);
                if p.leader == preferred {
                    return Err(not_needed(&topic.name, p.partition));
                }
                if !self.preferred_may_lead(p) {
                    return Err(ControllerError::new(
                        ResponseError::PreferredLeaderNotAvailable,
                        format!(
                            "Failed to elect leader for topic partition {}-{} since preferred replica {preferred} is not eligible (not in the ISR, fenced or shutting down).",
                            topic.name, p.partition
                        ),
                    ));
                }
                change.leader = preferred;
            }
            ElectionKind::Unclean => {
                if p.leader != NO_LEADER {
                    return Err(not_needed(&topic.name, p.partition));
                }
                if let Some(&r) = p
                    .replicas
                    .iter()
                    .find(|r| p.isr.contains(r) && self.may_lead(**r))
                {
                    change.leader = r;
                } else if let Some(&r) = p.replicas.iter().find(|r| self.may_lead(**r)) {
                    // Records the old ISR had and this replica lacks are lost.
                    change.leader = r;
                    change.isr = Some(vec![r]);
                } else {
                    return Err(ControllerError::new(
                        ResponseError::EligibleLeadersNotAvailable,
                        format!(
                            "Failed to elect leader for topic partition {}-{}: no replica of {:?} is alive.",
                            topic.name, p.partition, p.replicas
                        ),
                    ));
                }
            }
        }
        Ok(change)
    }

    /// The preferred replica is in the ISR and may lead.
    fn preferred_may_lead(&self, p: &PartitionImage) -> bool {
        let preferred = preferred_replica(p);
        preferred >= 0 && p.isr.contains(&preferred) && self.may_lead(preferred)
    }

    /// Kafka's automatic rebalance (`auto.leader.rebalance.enable`): for every broker
    /// whose share of partitions it prefers but does not lead exceeds
    /// `imbalance_percentage` (`leader.imbalance.per.broker.percentage`), leadership
    /// of those partitions moves back to it, where it is in the ISR and may lead.
    /// Partitions being reassigned are left alone.
    pub fn rebalance_preferred_leaders(&self, imbalance_percentage: u32) -> Vec<MetadataRecord> {
        let mut not_led: BTreeMap<i32, Vec<(&TopicImage, &PartitionImage)>> = BTreeMap::new();
        for (t, p) in self.rebalance_candidates() {
            not_led
                .entry(preferred_replica(p))
                .or_default()
                .push((t, p));
        }
        let mut records = Vec::new();
        for (broker, not_led) in not_led {
            let preferred = self.image.preferred_replica_count(broker);
            let imbalanced =
                not_led.len() as u64 * 100 > preferred * u64::from(imbalance_percentage);
            if !imbalanced {
                continue;
            }
            for (t, p) in not_led {
                let reassigning = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
                if reassigning || !self.preferred_may_lead(p) {
                    continue;
                }
                let mut change = PartitionChange::new(t.id, p.partition);
                change.leader = preferred_replica(p);
                records.push(MetadataRecord::PartitionChange(change));
            }
        }
        records
    }

    /// The partitions not led by their preferred replica, in topic-name and partition
    /// order: what [`Self::rebalance_preferred_leaders`] looks at.
    pub fn rebalance_candidates(&self) -> Vec<(&TopicImage, &PartitionImage)> {
        self.image.partitions_led_elsewhere().collect()
    }
}

/// The first replica (Kafka's preferred leader), or -1 for a partition without any.
fn preferred_replica(p: &PartitionImage) -> i32 {
    p.replicas.first().copied().unwrap_or(NO_LEADER)
}

fn unknown(topic: &str, partition: i32) -> ControllerError {
    ControllerError::new(
        ResponseError::UnknownTopicOrPartition,
        format!("The partition {topic}-{partition} does not exist."),
    )
}

fn not_needed(topic: &str, partition: i32) -> ControllerError {
    ControllerError::new(
        ResponseError::ElectionNotNeeded,
        format!("Leader election not needed for topic partition {topic}-{partition}."),
    )
}
