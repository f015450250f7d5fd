//! One partition of a Metadata response, decided from the image and this node's
//! own replica of it: leader and leader epoch, replicas, ISR and offline replicas.

use moldau_metadata::{MetadataImage, PartitionImage};
use moldau_protocol::kafka::messages::metadata_response::MetadataResponsePartition;
use moldau_protocol::kafka::messages::BrokerId;
use moldau_protocol::ResponseError;

/// This node's replica of the partition, as far as it matters to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalReplica {
    /// Hosted (or not a replica here at all).
    Hosted,
    /// Assigned here by the image but not hosted yet (the publisher is on its way).
    Pending,
    /// Its log could not be opened: offline, as Kafka reports a failed log directory.
    Offline,
}

/// The answer for `p`, as seen by `node_id` whose replica is `local`. A partition
/// without a usable leader gets LEADER_NOT_AVAILABLE and leader -1, as Kafka answers:
/// no leader in the image, a leader not registered, or this node's own replica not
/// ready. A replica on an unregistered or fenced broker, or this node's offline one,
/// is listed offline.
pub fn partition_metadata(
    image: &MetadataImage,
    p: &PartitionImage,
    node_id: i32,
    local: LocalReplica,
) -> MetadataResponsePartition {
    let local_ready = p.leader != node_id || local == LocalReplica::Hosted;
    let leader_known = p.leader >= 0 && image.broker(p.leader).is_some();
    let available = leader_known && local_ready;
    let offline_replicas = p
        .replicas
        .iter()
        .copied()
        .filter(|r| {
            let live = image.broker(*r).is_some_and(|b| !b.fenced);
            !live || (*r == node_id && local == LocalReplica::Offline)
        })
        .map(BrokerId)
        .collect();
    MetadataResponsePartition::default()
        .with_error_code(if available {
            0
        } else {
            ResponseError::LeaderNotAvailable.code()
        })
        .with_partition_index(p.partition)
        .with_leader_id(BrokerId(if available { p.leader } else { -1 }))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
        .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
        .with_offline_replicas(offline_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{broker, image_of, move_leader, partition, topic};
    use moldau_metadata::TopicId;

    const ID: TopicId = TopicId([4; 16]);

    /// Brokers 1 and 2 live, 3 fenced, 4 never registered; topic `t` with a
    /// partition led by each of them and one without a leader.
    fn image() -> MetadataImage {
        image_of(&[
            broker(1, 9092, Some("a"), false),
            broker(2, 9093, Some("b"), false),
            broker(3, 9094, None, true),
            topic("t", ID),
            partition(ID, 0, &[1, 2, 3], 1),
            partition(ID, 1, &[2, 3, 1], 2),
            partition(ID, 2, &[3, 1], 3),
            partition(ID, 3, &[4, 1], 4),
            partition(ID, 4, &[1, 2], -1),
            move_leader(ID, 1, 2, Some(&[2, 1])),
        ])
    }

    fn answer(p: i32, node_id: i32, local: LocalReplica) -> MetadataResponsePartition {
        let image = image();
        let t = image.topic("t").unwrap();
        partition_metadata(&image, &t.partitions[&p], node_id, local)
    }

    fn ids(v: &[BrokerId]) -> Vec<i32> {
        v.iter().map(|b| b.0).collect()
    }

    #[test]
    fn leaders_epochs_replicas_and_isr_come_from_the_image() {
        let p0 = answer(0, 1, LocalReplica::Hosted);
        assert_eq!((p0.error_code, p0.leader_id.0, p0.leader_epoch), (0, 1, 0));
        assert_eq!(ids(&p0.replica_nodes), vec![1, 2, 3]);
        assert_eq!(ids(&p0.isr_nodes), vec![1, 2, 3]);
        assert_eq!(ids(&p0.offline_replicas), vec![3], "3 is fenced");
        // Led elsewhere: this node's hosting does not matter.
        let p1 = answer(1, 1, LocalReplica::Pending);
        assert_eq!((p1.error_code, p1.leader_id.0, p1.leader_epoch), (0, 2, 1));
        assert_eq!(ids(&p1.replica_nodes), vec![2, 1]);
        assert!(p1.offline_replicas.is_empty());
    }

    #[test]
    fn no_usable_leader_is_leader_not_available() {
        let unavailable = ResponseError::LeaderNotAvailable.code();
        let none = answer(4, 1, LocalReplica::Hosted);
        assert_eq!((none.error_code, none.leader_id.0), (unavailable, -1));
        let unregistered = answer(3, 1, LocalReplica::Hosted);
        assert_eq!(
            (unregistered.error_code, unregistered.leader_id.0),
            (unavailable, -1)
        );
        assert_eq!(ids(&unregistered.offline_replicas), vec![4]);
        // Led here but not hosted yet: clients retry rather than come here.
        let pending = answer(0, 1, LocalReplica::Pending);
        assert_eq!((pending.error_code, pending.leader_id.0), (unavailable, -1));
        let offline = answer(0, 1, LocalReplica::Offline);
        assert_eq!((offline.error_code, offline.leader_id.0), (unavailable, -1));
        assert_eq!(ids(&offline.offline_replicas), vec![1, 3]);
        // A fenced leader is still the image's leader until the controller moves it.
        let fenced_leader = answer(2, 1, LocalReplica::Hosted);
        assert_eq!(
            (fenced_leader.error_code, fenced_leader.leader_id.0),
            (0, 3)
        );
    }
}
