//! AlterPartition (api key 56): a partition leader asks the controller to change its
//! ISR (a follower fell behind for `replica.lag.time.max.ms`, or caught up again).
//! Decided as KRaft's controller does: the request must come from the current
//! leader, at the current leader epoch and partition epoch; the new ISR holds the
//! leader, only replicas, and only brokers that are registered, unfenced and not
//! shutting down. An accepted change is one PartitionChange record (which bumps the
//! partition epoch); an ISR equal to the current one needs none.

use crate::controller::{ControllerError, LeaderElection};
use crate::{MetadataImage, MetadataRecord, PartitionChange, TopicId, LEADER_UNCHANGED};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

/// One partition's ISR change, as the leader asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    pub broker_id: i32,
    /// The leader's broker epoch (KIP-903); -1 skips the check.
    pub broker_epoch: i64,
    pub topic_id: TopicId,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The partition as it stands after the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterPartitionOutcome {
    pub leader: i32,
    pub leader_epoch: i32,
    /// The partition epoch once `records` are committed.
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
    /// Empty when nothing changes.
    pub records: Vec<MetadataRecord>,
}

/// Decides `request` against `image`.
pub fn alter_partition(
    image: &MetadataImage,
    request: &AlterPartitionRequest,
) -> Result<AlterPartitionOutcome, ControllerError> {
    let refuse = |error, message: String| Err(ControllerError::new(error, message));
    let broker = image.broker(request.broker_id);
    match broker {
        None => {
            return refuse(
                ResponseError::StaleBrokerEpoch,
                format!("broker {} is not registered", request.broker_id),
            )
        }
        Some(b) if request.broker_epoch >= 0 && b.epoch != request.broker_epoch => {
            return refuse(
                ResponseError::StaleBrokerEpoch,
                format!(
                    "broker {} has epoch {}, not {}",
                    request.broker_id, b.epoch, request.broker_epoch
                ),
            )
        }
        Some(_) => {}
    }
    let Some(topic) = image.topic_by_id(&request.topic_id) else {
        return refuse(
            ResponseError::UnknownTopicId,
            "no topic with that id".into(),
        );
    };
    let Some(p) = topic.partitions.get(&request.partition) else {
        return refuse(
            ResponseError::UnknownTopicOrPartition,
            format!("{} has no partition {}", topic.name, request.partition),
        );
    };
    let name = format!("{}-{}", topic.name, request.partition);
    if p.leader != request.broker_id {
        return refuse(
            ResponseError::NotLeaderOrFollower,
            format!("{name} is led by {}, not {}", p.leader, request.broker_id),
        );
    }
    if request.leader_epoch < p.leader_epoch {
        return refuse(
            ResponseError::FencedLeaderEpoch,
            format!(
                "{name} is at leader epoch {}, the request at {}",
                p.leader_epoch, request.leader_epoch
            ),
        );
    }
    if request.leader_epoch > p.leader_epoch || request.partition_epoch > p.partition_epoch {
        // The leader knows a newer state than this controller: not the active one.
        return refuse(
            ResponseError::NotController,
            format!("{name}: the request is ahead of this controller's image"),
        );
    }
    if request.partition_epoch < p.partition_epoch {
        return refuse(
            ResponseError::InvalidUpdateVersion,
            format!(
                "{name} is at partition epoch {}, the request at {}",
                p.partition_epoch, request.partition_epoch
            ),
        );
    }
    let mut isr = request.new_isr.clone();
    isr.sort_unstable();
    isr.dedup();
    if isr.len() != request.new_isr.len() || !isr.contains(&p.leader) {
        return refuse(
            ResponseError::InvalidRequest,
            format!(
                "{name}: the ISR {:?} must hold the leader once",
                request.new_isr
            ),
        );
    }
    if let Some(r) = isr.iter().find(|r| !p.replicas.contains(r)) {
        return refuse(
            ResponseError::InvalidRequest,
            format!("{name}: {r} is not a replica"),
        );
    }
    let ineligible = isr.iter().find(|r| {
        !p.isr.contains(r)
            && image
                .broker(**r)
                .is_none_or(|b| b.fenced || b.in_controlled_shutdown)
    });
    if let Some(r) = ineligible {
        return refuse(
            ResponseError::IneligibleReplica,
            format!("{name}: broker {r} is fenced, shutting down or not registered"),
        );
    }
    // Kept in replica order, as the rest of the image has it.
    let ordered: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| isr.contains(r))
        .collect();
    let mut current = p.isr.clone();
    current.sort_unstable();
    if current == isr {
        return Ok(AlterPartitionOutcome {
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: p.isr.clone(),
            records: Vec::new(),
        });
    }
    // Every replica being added now in sync completes a reassignment (KIP-455).
    let shutting_down: BTreeSet<i32> = image
        .brokers()
        .filter(|b| b.in_controlled_shutdown)
        .map(|b| b.id)
        .collect();
    let election = LeaderElection {
        image,
        unavailable: &shutting_down,
        unclean_default: false,
    };
    if let Some(mut change) = election.complete_reassignment(topic, p, &ordered) {
        let isr = change.isr.get_or_insert_with(|| ordered.clone()).clone();
        let (leader, leader_epoch) = if change.leader == LEADER_UNCHANGED {
            (p.leader, p.leader_epoch)
        } else {
            (change.leader, p.leader_epoch.saturating_add(1))
        };
        return Ok(AlterPartitionOutcome {
            leader,
            leader_epoch,
            partition_epoch: p.partition_epoch.saturating_add(1),
            isr,
            records: vec![MetadataRecord::PartitionChange(change)],
        });
    }
    Ok(AlterPartitionOutcome {
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch.saturating_add(1),
        isr: ordered.clone(),
        records: vec![MetadataRecord::PartitionChange(PartitionChange {
            isr: Some(ordered),
            ..PartitionChange::new(request.topic_id, request.partition)
        })],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::test_support::{add_topic, image_with_brokers, registration};

    /// Topic `t` partition 0 on [1, 2, 3] led by 1, ISR all three; brokers 1..=3.
    fn image() -> MetadataImage {
        let mut image = image_with_brokers(&[(1, None), (2, None), (3, None)]);
        add_topic(&mut image, "t", &[&[1, 2, 3]]);
        image
    }

    fn request(image: &MetadataImage, new_isr: &[i32]) -> AlterPartitionRequest {
        let p = &image.topic("t").unwrap().partitions[&0];
        AlterPartitionRequest {
            broker_id: 1,
            broker_epoch: image.broker(1).unwrap().epoch,
            topic_id: image.topic("t").unwrap().id,
            partition: 0,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: new_isr.to_vec(),
        }
    }

    fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        image
            .apply_batch(records, image.last_offset() + 1)
            .unwrap()
            .0
    }

    #[test]
    fn the_leader_shrinks_and_expands_its_isr() {
        let image = image();
        let shrink = alter_partition(&image, &request(&image, &[1, 3])).unwrap();
        assert_eq!(shrink.isr, vec![1, 3]);
        let after = apply(&image, &shrink.records);
        let p = &after.topic("t").unwrap().partitions[&0];
        assert_eq!(
            (p.isr.clone(), p.partition_epoch),
            (vec![1, 3], shrink.partition_epoch)
        );
        let expand = alter_partition(&after, &request(&after, &[3, 2, 1])).unwrap();
        assert_eq!(expand.isr, vec![1, 2, 3], "in replica order");
        let same = alter_partition(&after, &request(&after, &[1, 3])).unwrap();
        assert!(same.records.is_empty(), "no change, no record");
    }

    #[test]
    fn stale_or_foreign_requests_are_refused() {
        let image = image();
        let code = |r: &AlterPartitionRequest| alter_partition(&image, r).unwrap_err().error;
        let mut r = request(&image, &[1, 2]);
        r.partition_epoch -= 1;
        assert_eq!(code(&r), ResponseError::InvalidUpdateVersion);
        let mut r = request(&image, &[1, 2]);
        r.leader_epoch -= 1;
        assert_eq!(code(&r), ResponseError::FencedLeaderEpoch);
        let mut r = request(&image, &[1, 2]);
        r.broker_id = 2;
        r.broker_epoch = -1;
        assert_eq!(code(&r), ResponseError::NotLeaderOrFollower);
        let mut r = request(&image, &[1, 2]);
        r.broker_epoch += 100;
        assert_eq!(code(&r), ResponseError::StaleBrokerEpoch);
        assert_eq!(
            code(&request(&image, &[2, 3])),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(&request(&image, &[1, 4])),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(&request(&image, &[1, 1, 2])),
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn a_fenced_broker_may_not_rejoin() {
        let image = image();
        let shrink = alter_partition(&image, &request(&image, &[1, 2])).unwrap();
        let mut image = apply(&image, &shrink.records);
        let offset = image.last_offset() + 1;
        image
            .apply(&registration(3, offset, None, true), offset)
            .unwrap();
        let e = alter_partition(&image, &request(&image, &[1, 2, 3])).unwrap_err();
        assert_eq!(e.error, ResponseError::IneligibleReplica);
    }
}
