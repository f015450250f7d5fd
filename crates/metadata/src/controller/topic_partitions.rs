//! The PartitionRecords of a new topic or of partitions added to one: placed with
//! Kafka's algorithm over the brokers that may take replicas, or as the client assigned
//! them explicitly (checked first).

use super::assignment::{check_manual_replicas, manual_topic_assignment, new_partition_records};
use super::placement::{
    place_replicas, placement_brokers, start_after, PlacementRequest, PlacementStart,
};
use super::random::RandomSource;
use super::ControllerError;
use crate::{MetadataImage, MetadataRecord, TopicId, TopicImage};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

/// How a new topic's partitions are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicLayout {
    /// Placed by the controller.
    Placed {
        partitions: i32,
        replication_factor: i16,
    },
    /// The client's assignment: (partition, replicas).
    Manual(Vec<(i32, Vec<i32>)>),
}

/// The PartitionRecords of new topic `topic_id`. `excluded`: brokers in controlled
/// shutdown, which get no new replicas.
pub fn new_topic_partitions(
    image: &MetadataImage,
    topic_id: TopicId,
    layout: &TopicLayout,
    excluded: &BTreeSet<i32>,
    random: &mut dyn RandomSource,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let assignment = match layout {
        TopicLayout::Placed {
            partitions,
            replication_factor,
        } => place_replicas(
            &placement_brokers(image, excluded),
            &PlacementRequest {
                first_partition: 0,
                partitions: *partitions,
                replication_factor: *replication_factor,
            },
            PlacementStart::Random,
            random,
        )?,
        TopicLayout::Manual(assignments) => manual_topic_assignment(image, assignments)?,
    };
    new_partition_records(image, topic_id, 0, &assignment, excluded)
}

/// The PartitionRecords that grow `topic` to `total` partitions, with as many replicas
/// as its partition 0, continuing its placement pattern; or with `manual` replicas for
/// each new partition.
pub fn added_partitions(
    image: &MetadataImage,
    topic: &TopicImage,
    total: i32,
    manual: Option<&[Vec<i32>]>,
    excluded: &BTreeSet<i32>,
    random: &mut dyn RandomSource,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    if total < current {
        return Err(ControllerError::new(
            ResponseError::InvalidPartitions,
            format!("Topic currently has {current} partitions, which is higher than the requested {total}."),
        ));
    }
    if total == current {
        return Err(ControllerError::new(
            ResponseError::InvalidPartitions,
            format!("Topic already has {current} partitions."),
        ));
    }
    let partition0 = topic
        .partitions
        .get(&0)
        .map(|p| p.replicas.clone())
        .unwrap_or_default();
    let added = total - current;
    let assignment = match manual {
        Some(manual) => {
            if usize::try_from(added).ok() != Some(manual.len()) {
                return Err(ControllerError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                        manual.len()
                    ),
                ));
            }
            for replicas in manual {
                check_manual_replicas(image, replicas, Some(partition0.len()))?;
            }
            manual.to_vec()
        }
        None => {
            let brokers = placement_brokers(image, excluded);
            let rf = i16::try_from(partition0.len()).unwrap_or(i16::MAX);
            place_replicas(
                &brokers,
                &PlacementRequest {
                    first_partition: current,
                    partitions: added,
                    replication_factor: rf,
                },
                start_after(&brokers, &partition0),
                random,
            )?
        }
    };
    new_partition_records(image, topic.id, current, &assignment, excluded)
}
