//! Replica placement for new partitions, as Kafka's `AdminUtils` assigns replicas:
//! round-robin over the brokers sorted by id from a random start, each later replica
//! shifted by an amount that grows once per round of partitions (so the followers of a
//! broker's partitions spread over the others), and rack-aware when every broker has a
//! rack: brokers are ordered alternating between racks and a partition's replicas go to
//! distinct racks while a rack without one remains.

use super::random::RandomSource;
use super::ControllerError;
use crate::MetadataImage;
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

/// A broker replicas may be placed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementBroker {
    pub id: i32,
    pub rack: Option<String>,
}

/// Where the round-robin starts: at a random broker (a new topic), or at a given index
/// in the broker order (partitions added to a topic continue its pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementStart {
    Random,
    Fixed(usize),
}

/// Which partitions to place, and how many replicas each gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementRequest {
    /// The id of the first new partition (0 for a new topic).
    pub first_partition: i32,
    pub partitions: i32,
    pub replication_factor: i16,
}

/// The brokers new replicas may go to: registered, unfenced and not in `excluded`
/// (brokers in controlled shutdown), ordered by id.
pub fn placement_brokers(image: &MetadataImage, excluded: &BTreeSet<i32>) -> Vec<PlacementBroker> {
    image
        .brokers()
        .filter(|b| !b.fenced && !excluded.contains(&b.id))
        .map(|b| PlacementBroker {
            id: b.id,
            rack: b.rack.clone(),
        })
        .collect()
}

/// The fixed start that continues a topic's pattern when partitions are added: the
/// index of the first broker whose id is at least partition 0's preferred leader.
pub fn start_after(brokers: &[PlacementBroker], partition0_replicas: &[i32]) -> PlacementStart {
    let leader = partition0_replicas.first().copied().unwrap_or(i32::MIN);
    let index = sorted_by_id(brokers)
        .iter()
        .position(|b| b.id >= leader)
        .unwrap_or(0);
    PlacementStart::Fixed(index)
}

/// The replicas of each requested partition, in partition order; the first replica of
/// each is its preferred leader.
pub fn place_replicas(
    brokers: &[PlacementBroker],
    request: &PlacementRequest,
    start: PlacementStart,
    random: &mut dyn RandomSource,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    let rf = request.replication_factor;
    let refuse = |why: String| {
        Err(ControllerError::new(
            ResponseError::InvalidReplicationFactor,
            format!("Unable to replicate the partition {rf} time(s): {why}"),
        ))
    };
    if rf <= 0 {
        return refuse(format!(
            "Invalid replication factor {rf}: the replication factor must be positive."
        ));
    }
    if brokers.is_empty() {
        return refuse("All brokers are currently fenced.".to_string());
    }
    if usize::from(rf.unsigned_abs()) > brokers.len() {
        return refuse(format!(
            "The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        ));
    }
    let end = request.first_partition.checked_add(request.partitions);
    let end = match end {
        Some(end) if request.partitions >= 0 && request.first_partition >= 0 => end,
        _ => {
            return Err(ControllerError::new(
                ResponseError::InvalidPartitions,
                "The number of partitions must be positive.",
            ))
        }
    };
    let replicas = usize::from(rf.unsigned_abs());
    let rack_aware = brokers.iter().all(|b| b.rack.is_some());
    let order = if rack_aware {
        rack_alternated(brokers)
    } else {
        sorted_by_id(brokers)
    };
    let n = order.len();
    let (start_index, mut shift) = match start {
        PlacementStart::Fixed(i) => (i % n, i),
        PlacementStart::Random => (random.next_below(n), random.next_below(n)),
    };
    let racks = order
        .iter()
        .filter_map(|b| b.rack.as_deref())
        .collect::<BTreeSet<_>>()
        .len();
    let mut placed = Vec::new();
    for partition in request.first_partition..end {
        let p = partition as usize;
        if p > 0 && p.is_multiple_of(n) {
            shift += 1;
        }
        let first = (p + start_index) % n;
        let assignment = if rack_aware {
            rack_aware_replicas(&order, first, shift, replicas, racks)
        } else {
            (0..replicas)
                .map(|j| {
                    let index = if j == 0 {
                        first
                    } else {
                        follower_index(first, shift, j - 1, n)
                    };
                    order[index].id
                })
                .collect()
        };
        assert_eq!(assignment.len(), replicas, "placement gave the wrong count");
        placed.push(assignment);
    }
    Ok(placed)
}

/// The index of the `j`-th follower: the leader's index plus a shift in 1..n, so a
/// follower never lands on the leader.
fn follower_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    if n == 1 {
        return first;
    }
    let step = 1 + (shift + j) % (n - 1);
    (first + step) % n
}

/// Followers in distinct racks while a rack has no replica yet, and on distinct
/// brokers while a broker has none.
fn rack_aware_replicas(
    order: &[PlacementBroker],
    first: usize,
    shift: usize,
    replicas: usize,
    racks: usize,
) -> Vec<i32> {
    let n = order.len();
    let leader = &order[first];
    let mut chosen = vec![leader.id];
    let mut racks_used = BTreeSet::from([leader.rack.as_deref()]);
    let mut k = 0;
    while chosen.len() < replicas {
        // Every candidate is tried within n steps of k once the conditions relax, so
        // this ends; the bound is a broken-invariant check.
        assert!(k < n * n + n, "rack-aware placement found no broker");
        let candidate = &order[follower_index(first, shift * racks, k, n)];
        k += 1;
        let rack = candidate.rack.as_deref();
        let rack_ok = !racks_used.contains(&rack) || racks_used.len() == racks;
        if rack_ok && !chosen.contains(&candidate.id) {
            chosen.push(candidate.id);
            racks_used.insert(rack);
        }
    }
    chosen
}

fn sorted_by_id(brokers: &[PlacementBroker]) -> Vec<PlacementBroker> {
    let mut sorted = brokers.to_vec();
    sorted.sort_by_key(|b| b.id);
    sorted
}

/// Brokers ordered by taking one from each rack in turn (racks by name, brokers by
/// id within a rack): `a1 b1 c1 a2 b2 ...`.
fn rack_alternated(brokers: &[PlacementBroker]) -> Vec<PlacementBroker> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<&PlacementBroker>> = BTreeMap::new();
    let sorted = sorted_by_id(brokers);
    for b in &sorted {
        by_rack.entry(b.rack.as_deref()).or_default().push(b);
    }
    let mut queues: Vec<std::vec::IntoIter<&PlacementBroker>> =
        by_rack.into_values().map(|v| v.into_iter()).collect();
    let mut order = Vec::with_capacity(brokers.len());
    while order.len() < brokers.len() {
        for q in queues.iter_mut() {
            if let Some(b) = q.next() {
                order.push(b.clone());
            }
        }
    }
    order
}
