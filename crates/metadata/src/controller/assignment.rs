//! Explicit replica assignments checked as Kafka's controller checks them, and the
//! PartitionRecords of new partitions.

use super::ControllerError;
use crate::{MetadataImage, MetadataRecord, PartitionRecord, TopicId};
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

fn invalid(message: String) -> ControllerError {
    ControllerError::new(ResponseError::InvalidReplicaAssignment, message)
}

/// Checks one partition's explicit replicas: not empty, no broker twice, every broker
/// registered, and as many as `expected` (the other partitions' count) when given.
pub fn check_manual_replicas(
    image: &MetadataImage,
    replicas: &[i32],
    expected: Option<usize>,
) -> Result<(), ControllerError> {
    if replicas.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".to_string(),
        ));
    }
    let mut seen = BTreeSet::new();
    for &r in replicas {
        if !seen.insert(r) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {r} more than once."
            )));
        }
        if image.broker(r).is_none() {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {r}, but no such broker is registered."
            )));
        }
    }
    if let Some(expected) = expected {
        if replicas.len() != expected {
            return Err(invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {expected} replica(s).",
                replicas.len()
            )));
        }
    }
    Ok(())
}

/// A new topic's explicit assignment (partition index, replicas): every partition
/// once, ids `0..n` without a gap, the same replica count everywhere. The replicas of
/// each partition, in partition order.
pub fn manual_topic_assignment(
    image: &MetadataImage,
    assignments: &[(i32, Vec<i32>)],
) -> Result<Vec<Vec<i32>>, ControllerError> {
    let mut by_partition = BTreeMap::new();
    let mut expected = None;
    for (partition, replicas) in assignments {
        if by_partition.contains_key(partition) {
            return Err(invalid(format!(
                "Found multiple manual partition assignments for partition {partition}"
            )));
        }
        check_manual_replicas(image, replicas, expected)?;
        expected = Some(replicas.len());
        by_partition.insert(*partition, replicas.clone());
    }
    let consecutive = by_partition
        .keys()
        .enumerate()
        .all(|(i, p)| usize::try_from(*p).is_ok_and(|p| p == i));
    if !consecutive {
        return Err(invalid(
            "partitions should be a consecutive 0-based integer sequence".to_string(),
        ));
    }
    Ok(by_partition.into_values().collect())
}

/// PartitionRecords for partitions `first_partition..` with these replicas: the ISR is
/// the replicas that may lead now (unfenced, not in `excluded`), and the leader the
/// first of them. A partition none of whose replicas may lead is refused.
pub fn new_partition_records(
    image: &MetadataImage,
    topic_id: TopicId,
    first_partition: i32,
    assignment: &[Vec<i32>],
    excluded: &BTreeSet<i32>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let mut records = Vec::with_capacity(assignment.len());
    for (i, replicas) in assignment.iter().enumerate() {
        let partition = i32::try_from(i)
            .ok()
            .and_then(|i| first_partition.checked_add(i))
            .ok_or_else(|| {
                ControllerError::new(ResponseError::InvalidPartitions, "Too many partitions.")
            })?;
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| image.broker(*r).is_some_and(|b| !b.fenced) && !excluded.contains(r))
            .collect();
        let Some(&leader) = isr.first() else {
            return Err(invalid(format!(
                "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
            )));
        };
        records.push(MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition,
            replicas: replicas.clone(),
            isr,
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
        }));
    }
    Ok(records)
}
