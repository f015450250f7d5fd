//! Partition reassignment (KIP-455), decided as KRaft's controller does. A target
//! replica set becomes, in one PartitionChange, the replicas `target + removing`
//! with `adding` (target replicas not yet assigned) and `removing` (assigned ones
//! not in the target); the new replicas fetch from the leader and join the ISR
//! through AlterPartition. Once every adding replica is in the ISR the reassignment
//! completes: the removing replicas leave the replicas and the ISR, and a leader
//! among them gives way to the first target replica in sync. A cancel reverts to
//! the replicas before the reassignment (without the adding ones).

use super::draft::Draft;
use super::election::LeaderElection;
use super::ControllerError;
use crate::{MetadataRecord, PartitionChange, PartitionImage, TopicImage, LEADER_UNCHANGED};
use moldau_protocol::ResponseError;

/// One partition's reassignment as asked: `None` cancels the one in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassignmentTarget {
    pub topic: String,
    pub partition: i32,
    pub replicas: Option<Vec<i32>>,
}

/// One partition's answer; `error: None` is accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct ReassignmentOutcome {
    pub topic: String,
    pub partition: i32,
    pub error: Option<ControllerError>,
}

/// One partition being reassigned, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// Whether `p` has a reassignment in progress.
pub fn is_reassigning(p: &PartitionImage) -> bool {
    !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty()
}

impl LeaderElection<'_> {
    /// AlterPartitionReassignments: the records starting (or completing at once, or
    /// cancelling) each target's reassignment, and every partition's outcome. Each
    /// decision sees the ones before it. `allow_rf_change` false (v1) refuses a
    /// target of another size than the partition's replication factor.
    pub fn alter_reassignments(
        &self,
        targets: &[ReassignmentTarget],
        allow_rf_change: bool,
    ) -> (Vec<MetadataRecord>, Vec<ReassignmentOutcome>) {
        let mut draft = Draft::new(self.image);
        let mut outcomes = Vec::with_capacity(targets.len());
        for target in targets {
            let decided = {
                let view = LeaderElection {
                    image: draft.image(),
                    ..*self
                };
                view.reassign_one(target, allow_rf_change)
            };
            let error = match decided {
                Ok(Some(change)) => {
                    draft.push_all(vec![MetadataRecord::PartitionChange(change)]);
                    None
                }
                Ok(None) => None,
                Err(e) => Some(e),
            };
            outcomes.push(ReassignmentOutcome {
                topic: target.topic.clone(),
                partition: target.partition,
                error,
            });
        }
        (draft.into_records(), outcomes)
    }

    /// The change for one target, `None` when nothing changes.
    fn reassign_one(
        &self,
        target: &ReassignmentTarget,
        allow_rf_change: bool,
    ) -> Result<Option<PartitionChange>, ControllerError> {
        let unknown = || {
            ControllerError::new(
                ResponseError::UnknownTopicOrPartition,
                format!(
                    "The partition {}-{} does not exist.",
                    target.topic, target.partition
                ),
            )
        };
        let topic = self.image.topic(&target.topic).ok_or_else(unknown)?;
        let p = topic
            .partitions
            .get(&target.partition)
            .ok_or_else(unknown)?;
        match &target.replicas {
            None => self.cancel(topic, p),
            Some(replicas) => self.start(topic, p, replicas, allow_rf_change),
        }
    }

    fn start(
        &self,
        topic: &TopicImage,
        p: &PartitionImage,
        target: &[i32],
        allow_rf_change: bool,
    ) -> Result<Option<PartitionChange>, ControllerError> {
        self.check_target(target)?;
        let original_factor = p.replicas.len() - p.adding_replicas.len();
        if !allow_rf_change && target.len() != original_factor {
            return Err(ControllerError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "The replication factor is changed from {original_factor} to {}",
                    target.len()
                ),
            ));
        }
        let removing: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect();
        let adding: Vec<i32> = target
            .iter()
            .copied()
            .filter(|r| !p.replicas.contains(r))
            .collect();
        let replicas: Vec<i32> = target.iter().chain(&removing).copied().collect();
        // In the ISR only what was in sync, in the new replica order.
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| p.isr.contains(r))
            .collect();
        Ok(self.settle(topic, p, replicas, isr, removing, adding))
    }

    fn cancel(
        &self,
        topic: &TopicImage,
        p: &PartitionImage,
    ) -> Result<Option<PartitionChange>, ControllerError> {
        if !is_reassigning(p) {
            return Err(ControllerError::new(
                ResponseError::NoReassignmentInProgress,
                format!(
                    "No partition reassignment is in progress for {}-{}.",
                    topic.name, p.partition
                ),
            ));
        }
        let kept = |r: &i32| !p.adding_replicas.contains(r);
        let replicas: Vec<i32> = p.replicas.iter().copied().filter(kept).collect();
        let isr: Vec<i32> = p.isr.iter().copied().filter(kept).collect();
        // Only replicas being added were in sync: going back loses what they have.
        if isr.is_empty() && !self.unclean_enabled(topic) {
            return Err(ControllerError::new(
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Unable to revert partition assignment for {}:{} because it would require an unclean leader election.",
                    topic.name, p.partition
                ),
            ));
        }
        Ok(self.settle(topic, p, replicas, isr, Vec::new(), Vec::new()))
    }

    /// Kafka's rules for a manual assignment: not empty, each broker once, each
    /// broker registered (fenced ones may be named: they catch up when back).
    fn check_target(&self, target: &[i32]) -> Result<(), ControllerError> {
        let invalid = |message: String| {
            Err(ControllerError::new(
                ResponseError::InvalidReplicaAssignment,
                message,
            ))
        };
        if target.is_empty() {
            return invalid(
                "The manual partition assignment includes an empty replica list.".into(),
            );
        }
        let mut sorted = target.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return invalid(format!(
                "The manual partition assignment includes the broker {} more than once.",
                w[0]
            ));
        }
        if let Some(b) = sorted.iter().find(|b| self.image.broker(**b).is_none()) {
            return invalid(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            ));
        }
        Ok(())
    }

    /// The change taking `p` to these replicas, ISR and reassignment state, completed
    /// at once when it can be, with a leader elected if the current one may not stay
    /// (from outside the ISR only as the topic's unclean election allows). `None`
    /// when nothing changes.
    fn settle(
        &self,
        topic: &TopicImage,
        p: &PartitionImage,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        removing: Vec<i32>,
        adding: Vec<i32>,
    ) -> Option<PartitionChange> {
        let (replicas, isr, removing, adding) = completed(replicas, isr, removing, adding);
        let candidate = PartitionImage {
            replicas: replicas.clone(),
            isr: isr.clone(),
            ..p.clone()
        };
        let election = self.partition_change(topic, &candidate, isr.clone());
        let mut change = PartitionChange::new(topic.id, p.partition);
        let (leader, isr) = match election {
            Some(e) => (e.leader, e.isr.unwrap_or_else(|| candidate.isr.clone())),
            None => (LEADER_UNCHANGED, candidate.isr.clone()),
        };
        if leader != LEADER_UNCHANGED && leader != p.leader {
            change.leader = leader;
        }
        if replicas != p.replicas {
            change.replicas = Some(replicas);
        }
        if isr != p.isr {
            change.isr = Some(isr);
        }
        if removing != p.removing_replicas {
            change.removing_replicas = Some(removing);
        }
        if adding != p.adding_replicas {
            change.adding_replicas = Some(adding);
        }
        let nothing = change == PartitionChange::new(topic.id, p.partition);
        (!nothing).then_some(change)
    }

    /// The change completing `p`'s reassignment once its ISR is `isr` (every adding
    /// replica in sync), ISR included; `None` when it is not reassigning or not
    /// complete. Asked on AlterPartition, whose new ISR is what completes one.
    pub fn complete_reassignment(
        &self,
        topic: &TopicImage,
        p: &PartitionImage,
        isr: &[i32],
    ) -> Option<PartitionChange> {
        if !is_reassigning(p) {
            return None;
        }
        let (replicas, isr, removing, adding) = completed(
            p.replicas.clone(),
            isr.to_vec(),
            p.removing_replicas.clone(),
            p.adding_replicas.clone(),
        );
        if !removing.is_empty() || !adding.is_empty() {
            return None;
        }
        self.settle(topic, p, replicas, isr, removing, adding)
    }
}

/// Completes a reassignment whose adding replicas are all in `isr` and whose ISR
/// keeps a member once the removing replicas leave: the removing replicas go, and
/// nothing is adding or removing any more. Otherwise everything stays.
fn completed(
    replicas: Vec<i32>,
    isr: Vec<i32>,
    removing: Vec<i32>,
    adding: Vec<i32>,
) -> (Vec<i32>, Vec<i32>, Vec<i32>, Vec<i32>) {
    if removing.is_empty() && adding.is_empty() {
        return (replicas, isr, removing, adding);
    }
    let new_isr: Vec<i32> = isr
        .iter()
        .copied()
        .filter(|r| !removing.contains(r))
        .collect();
    if new_isr.is_empty() || !adding.iter().all(|r| new_isr.contains(r)) {
        return (replicas, isr, removing, adding);
    }
    let new_replicas = replicas
        .into_iter()
        .filter(|r| !removing.contains(r))
        .collect();
    (new_replicas, new_isr, Vec::new(), Vec::new())
}

/// Partitions being reassigned among `targets` (`None`: all), in topic and
/// partition order; named partitions that are unknown or not reassigning are left
/// out, as Kafka does.
pub fn ongoing_reassignments(
    image: &crate::MetadataImage,
    targets: &Option<Vec<(String, Vec<i32>)>>,
) -> Vec<OngoingReassignment> {
    let of = |t: &TopicImage, p: &PartitionImage| OngoingReassignment {
        topic: t.name.clone(),
        partition: p.partition,
        replicas: p.replicas.clone(),
        adding: p.adding_replicas.clone(),
        removing: p.removing_replicas.clone(),
    };
    let mut out = Vec::new();
    match targets {
        None => {
            for t in image.topics() {
                out.extend(
                    t.partitions
                        .values()
                        .filter(|p| is_reassigning(p))
                        .map(|p| of(t, p)),
                );
            }
        }
        Some(targets) => {
            let mut seen = std::collections::BTreeSet::new();
            for (topic, partitions) in targets {
                let Some(t) = image.topic(topic) else {
                    continue;
                };
                for id in partitions {
                    let Some(p) = t.partitions.get(id) else {
                        continue;
                    };
                    if is_reassigning(p) && seen.insert((topic.clone(), *id)) {
                        out.push(of(t, p));
                    }
                }
            }
            out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        }
    }
    out
}
