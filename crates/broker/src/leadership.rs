//! Whether this node serves a partition's client reads and writes, decided from the
//! metadata image alone (the image is the truth about leadership; the replica manager
//! only follows it). Produce, Fetch, ListOffsets and DeleteRecords ask here first.

use moldau_metadata::{MetadataImage, PartitionImage};
use moldau_protocol::ResponseError;

/// A leader id and epoch, as KIP-951's `current_leader` fields carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentLeader {
    pub leader_id: i32,
    pub leader_epoch: i32,
}

/// Where a leader named in `current_leader` is, on the client's listener (KIP-951's
/// `node_endpoints`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// Why a partition is not served here, and who leads it when the image knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotServed {
    pub error: ResponseError,
    /// Set for NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH, so a client can go to
    /// the leader without refreshing its metadata first (KIP-951).
    pub current_leader: Option<CurrentLeader>,
}

impl NotServed {
    fn plain(error: ResponseError) -> Self {
        NotServed {
            error,
            current_leader: None,
        }
    }

    fn with_leader(error: ResponseError, p: &PartitionImage) -> Self {
        NotServed {
            error,
            current_leader: Some(CurrentLeader {
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
            }),
        }
    }
}

/// No `current_leader_epoch` in the request: the client does not check it.
const EPOCH_UNCHECKED: i32 = -1;

/// The leader epoch `node_id` serves `topic`-`partition` at, or why it does not: an
/// unknown partition, an epoch the client has that is older (FENCED_LEADER_EPOCH) or
/// newer (UNKNOWN_LEADER_EPOCH) than the image's, or another leader. Kafka checks the
/// epoch before the leadership, and only on a replica of the partition.
pub fn check_leader(
    image: &MetadataImage,
    node_id: i32,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
) -> Result<i32, NotServed> {
    let Some(p) = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
    else {
        return Err(NotServed::plain(ResponseError::UnknownTopicOrPartition));
    };
    if !p.replicas.contains(&node_id) {
        return Err(NotServed::with_leader(
            ResponseError::NotLeaderOrFollower,
            p,
        ));
    }
    if current_leader_epoch != EPOCH_UNCHECKED {
        if current_leader_epoch > p.leader_epoch {
            return Err(NotServed::plain(ResponseError::UnknownLeaderEpoch));
        }
        if current_leader_epoch < p.leader_epoch {
            return Err(NotServed::with_leader(ResponseError::FencedLeaderEpoch, p));
        }
    }
    if p.leader != node_id {
        return Err(NotServed::with_leader(
            ResponseError::NotLeaderOrFollower,
            p,
        ));
    }
    Ok(p.leader_epoch)
}

/// As [`check_leader`], for a consumer that may read from a follower (Fetch v11+,
/// KIP-392): true when `node_id` leads, false when it is a follower at the epoch the
/// client has.
pub fn check_replica(
    image: &MetadataImage,
    node_id: i32,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
) -> Result<bool, NotServed> {
    match check_leader(image, node_id, topic, partition, current_leader_epoch) {
        Ok(_) => Ok(true),
        Err(not_served)
            if not_served.error == ResponseError::NotLeaderOrFollower
                && image
                    .topic(topic)
                    .and_then(|t| t.partitions.get(&partition))
                    .is_some_and(|p| p.replicas.contains(&node_id)) =>
        {
            Ok(false)
        }
        Err(not_served) => Err(not_served),
    }
}

/// The leader of `topic`-`partition` in the image, if it has one.
pub fn leader_of(image: &MetadataImage, topic: &str, partition: i32) -> Option<i32> {
    let p = image.topic(topic)?.partitions.get(&partition)?;
    (p.leader >= 0).then_some(p.leader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{image_of, move_leader, partition, topic};
    use moldau_metadata::TopicId;

    const ID: TopicId = TopicId([9; 16]);

    /// Topic `t`: partition 0 on [1, 2] whose leadership moved from 2 to 1 (epoch
    /// 1), 1 led by 2 on [2, 1], 2 on [3] only, 3 without a leader.
    fn image() -> MetadataImage {
        image_of(&[
            topic("t", ID),
            partition(ID, 0, &[1, 2], 2),
            partition(ID, 1, &[2, 1], 2),
            partition(ID, 2, &[3], 3),
            partition(ID, 3, &[1, 2], -1),
            move_leader(ID, 0, 1, None),
        ])
    }

    fn leader(id: i32, epoch: i32) -> Option<CurrentLeader> {
        Some(CurrentLeader {
            leader_id: id,
            leader_epoch: epoch,
        })
    }

    #[test]
    fn the_leader_serves_at_the_image_epoch() {
        let image = image();
        assert_eq!(check_leader(&image, 1, "t", 0, -1), Ok(1));
        assert_eq!(check_leader(&image, 1, "t", 0, 1), Ok(1));
        assert_eq!(check_leader(&image, 2, "t", 1, 0), Ok(0));
    }

    #[test]
    fn a_follower_or_stranger_names_the_leader() {
        let image = image();
        let follower = check_leader(&image, 2, "t", 0, -1).unwrap_err();
        assert_eq!(follower.error, ResponseError::NotLeaderOrFollower);
        assert_eq!(follower.current_leader, leader(1, 1));
        let stranger = check_leader(&image, 1, "t", 2, 0).unwrap_err();
        assert_eq!(stranger.error, ResponseError::NotLeaderOrFollower);
        assert_eq!(stranger.current_leader, leader(3, 0));
        let leaderless = check_leader(&image, 1, "t", 3, -1).unwrap_err();
        assert_eq!(leaderless.error, ResponseError::NotLeaderOrFollower);
        assert_eq!(leaderless.current_leader, leader(-1, 0));
    }

    #[test]
    fn a_follower_serves_reads_from_followers_at_the_image_epoch() {
        let image = image();
        assert_eq!(check_replica(&image, 1, "t", 0, 1), Ok(true));
        assert_eq!(check_replica(&image, 2, "t", 0, 1), Ok(false));
        assert_eq!(check_replica(&image, 2, "t", 0, -1), Ok(false));
        let stale = check_replica(&image, 2, "t", 0, 0).unwrap_err();
        assert_eq!(stale.error, ResponseError::FencedLeaderEpoch);
        let stranger = check_replica(&image, 1, "t", 2, 0).unwrap_err();
        assert_eq!(stranger.error, ResponseError::NotLeaderOrFollower);
    }

    #[test]
    fn epochs_older_or_newer_than_the_image_are_refused() {
        let image = image();
        let old = check_leader(&image, 1, "t", 0, 0).unwrap_err();
        assert_eq!(old.error, ResponseError::FencedLeaderEpoch);
        assert_eq!(old.current_leader, leader(1, 1));
        let new = check_leader(&image, 1, "t", 0, 2).unwrap_err();
        assert_eq!(new.error, ResponseError::UnknownLeaderEpoch);
        assert_eq!(new.current_leader, None);
        // A follower checks the epoch first, as Kafka's replica does.
        let follower_old = check_leader(&image, 2, "t", 0, 0).unwrap_err();
        assert_eq!(follower_old.error, ResponseError::FencedLeaderEpoch);
    }

    #[test]
    fn unknown_partitions_are_unknown() {
        let image = image();
        for (topic, partition) in [("t", 4), ("other", 0)] {
            let e = check_leader(&image, 1, topic, partition, -1).unwrap_err();
            assert_eq!(e.error, ResponseError::UnknownTopicOrPartition);
            assert_eq!(e.current_leader, None);
        }
        assert_eq!(leader_of(&image, "t", 1), Some(2));
        assert_eq!(leader_of(&image, "t", 3), None);
        assert_eq!(leader_of(&image, "t", 9), None);
    }
}
