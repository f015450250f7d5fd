use super::test_support::*;
use super::*;
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};

fn brokers(ids: &[i32]) -> Vec<PlacementBroker> {
    ids.iter()
        .map(|&id| PlacementBroker { id, rack: None })
        .collect()
}

fn racked(list: &[(i32, &str)]) -> Vec<PlacementBroker> {
    list.iter()
        .map(|&(id, rack)| PlacementBroker {
            id,
            rack: Some(rack.to_string()),
        })
        .collect()
}

fn request(partitions: i32, rf: i16) -> PlacementRequest {
    PlacementRequest {
        first_partition: 0,
        partitions,
        replication_factor: rf,
    }
}

fn leader_counts(assignment: &[Vec<i32>]) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for replicas in assignment {
        *counts.entry(replicas[0]).or_default() += 1;
    }
    counts
}

#[test]
fn six_partitions_on_three_brokers_lead_two_each_for_any_start() {
    for seed in 0..20 {
        for rf in 1..=3 {
            let placed = place_replicas(
                &brokers(&[1, 2, 3]),
                &request(6, rf),
                PlacementStart::Random,
                &mut SeededRandom::new(seed),
            )
            .expect("placed");
            assert_eq!(placed.len(), 6);
            assert_eq!(
                leader_counts(&placed),
                BTreeMap::from([(1, 2), (2, 2), (3, 2)]),
                "seed {seed} rf {rf}: {placed:?}"
            );
            for replicas in &placed {
                assert_eq!(replicas.len(), rf as usize);
                let distinct: BTreeSet<_> = replicas.iter().collect();
                assert_eq!(distinct.len(), replicas.len(), "{replicas:?}");
            }
        }
    }
}

#[test]
fn fixed_start_matches_kafkas_documented_layout() {
    // Kafka's AdminUtils example: 5 brokers, 10 partitions, 3 replicas, start 0.
    let placed = place_replicas(
        &brokers(&[0, 1, 2, 3, 4]),
        &request(10, 3),
        PlacementStart::Fixed(0),
        &mut SeededRandom::new(0),
    )
    .expect("placed");
    assert_eq!(placed[0], vec![0, 1, 2]);
    assert_eq!(placed[1], vec![1, 2, 3]);
    assert_eq!(placed[4], vec![4, 0, 1]);
    // The second round shifts the followers by one more.
    assert_eq!(placed[5], vec![0, 2, 3]);
    assert_eq!(placed[9], vec![4, 1, 2]);
}

#[test]
fn same_seed_same_placement_and_the_start_varies_with_the_seed() {
    let place = |seed| {
        place_replicas(
            &brokers(&[1, 2, 3, 4]),
            &request(8, 2),
            PlacementStart::Random,
            &mut SeededRandom::new(seed),
        )
        .expect("placed")
    };
    assert_eq!(place(7), place(7));
    let first_leaders: BTreeSet<i32> = (0..40).map(|seed| place(seed)[0][0]).collect();
    assert_eq!(first_leaders, BTreeSet::from([1, 2, 3, 4]));
}

#[test]
fn rack_aware_puts_each_partitions_replicas_on_distinct_racks() {
    let list = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
    let rack_of: BTreeMap<i32, String> = list
        .iter()
        .map(|b| (b.id, b.rack.clone().expect("rack")))
        .collect();
    for seed in 0..20 {
        let placed = place_replicas(
            &list,
            &request(12, 3),
            PlacementStart::Random,
            &mut SeededRandom::new(seed),
        )
        .expect("placed");
        for replicas in &placed {
            let racks: BTreeSet<_> = replicas.iter().map(|r| &rack_of[r]).collect();
            assert_eq!(racks.len(), 3, "seed {seed}: {replicas:?}");
        }
        // Leaders still spread evenly: 12 partitions over 6 brokers.
        assert!(
            leader_counts(&placed).values().all(|&n| n == 2),
            "{placed:?}"
        );
    }
}

#[test]
fn rack_aware_with_more_replicas_than_racks_covers_every_rack() {
    let list = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
    let placed = place_replicas(
        &list,
        &request(4, 3),
        PlacementStart::Fixed(1),
        &mut SeededRandom::new(0),
    )
    .expect("placed");
    for replicas in &placed {
        let distinct: BTreeSet<_> = replicas.iter().collect();
        assert_eq!(distinct.len(), 3);
        assert!(replicas.iter().any(|r| *r <= 2) && replicas.iter().any(|r| *r >= 3));
    }
}

#[test]
fn brokers_without_a_rack_make_placement_rack_unaware() {
    let mut list = racked(&[(1, "a"), (2, "a"), (3, "b")]);
    list[2].rack = None;
    // Rack-unaware from start 0: the documented round-robin, not the rack order.
    let placed = place_replicas(
        &list,
        &request(3, 1),
        PlacementStart::Fixed(0),
        &mut SeededRandom::new(0),
    )
    .expect("placed");
    assert_eq!(placed, vec![vec![1], vec![2], vec![3]]);
}

#[test]
fn too_few_brokers_is_invalid_replication_factor_with_kafkas_message() {
    let err = place_replicas(
        &brokers(&[1, 2]),
        &request(1, 3),
        PlacementStart::Random,
        &mut SeededRandom::new(0),
    )
    .expect_err("refused");
    assert_eq!(err.error, ResponseError::InvalidReplicationFactor);
    assert_eq!(
        err.message,
        "Unable to replicate the partition 3 time(s): The target replication factor of 3 \
         cannot be reached because only 2 broker(s) are registered."
    );
    for (list, rf) in [(brokers(&[1]), 0), (brokers(&[]), 1)] {
        let err = place_replicas(
            &list,
            &request(1, rf),
            PlacementStart::Random,
            &mut SeededRandom::new(0),
        )
        .expect_err("refused");
        assert_eq!(err.error, ResponseError::InvalidReplicationFactor);
    }
}

#[test]
fn only_unfenced_brokers_outside_shutdown_get_replicas() {
    let mut image = image_with_brokers(&[(1, None), (2, None), (3, None), (4, None)]);
    let epoch = image.broker(2).expect("broker 2").epoch;
    apply(
        &mut image,
        &[crate::MetadataRecord::FenceBroker {
            broker_id: 2,
            broker_epoch: epoch,
        }],
    );
    let usable = placement_brokers(&image, &BTreeSet::from([4]));
    assert_eq!(usable.iter().map(|b| b.id).collect::<Vec<_>>(), vec![1, 3]);
    let placed = place_replicas(
        &usable,
        &request(4, 2),
        PlacementStart::Random,
        &mut SeededRandom::new(3),
    )
    .expect("placed");
    assert!(placed.iter().flatten().all(|r| *r == 1 || *r == 3));
    assert!(place_replicas(
        &usable,
        &request(1, 3),
        PlacementStart::Random,
        &mut SeededRandom::new(3)
    )
    .is_err());
}

#[test]
fn added_partitions_continue_from_partition_zeros_leader() {
    let list = brokers(&[1, 2, 3]);
    assert_eq!(start_after(&list, &[2, 3]), PlacementStart::Fixed(1));
    let placed = place_replicas(
        &list,
        &PlacementRequest {
            first_partition: 3,
            partitions: 3,
            replication_factor: 1,
        },
        start_after(&list, &[2]),
        &mut SeededRandom::new(0),
    )
    .expect("placed");
    assert_eq!(placed, vec![vec![2], vec![3], vec![1]]);
}

#[test]
fn manual_assignments_are_checked_as_kafka_does() {
    let image = image_with_brokers(&[(1, None), (2, None), (3, None)]);
    let ok = manual_topic_assignment(&image, &[(1, vec![2, 3]), (0, vec![1, 2])]).expect("valid");
    assert_eq!(ok, vec![vec![1, 2], vec![2, 3]]);
    let refused = |a: &[(i32, Vec<i32>)]| {
        let e = manual_topic_assignment(&image, a).expect_err("refused");
        assert_eq!(e.error, ResponseError::InvalidReplicaAssignment);
        e.message
    };
    assert!(refused(&[(0, vec![])]).contains("empty replica list"));
    assert!(refused(&[(0, vec![1, 1])]).contains("broker 1 more than once"));
    assert!(refused(&[(0, vec![9])]).contains("no such broker is registered"));
    assert!(refused(&[(0, vec![1]), (1, vec![1, 2])]).contains("not consistent"));
    assert!(refused(&[(0, vec![1]), (2, vec![2])]).contains("consecutive"));
    assert!(refused(&[(0, vec![1]), (0, vec![2])]).contains("multiple manual"));
    assert!(refused(&[(-1, vec![1])]).contains("consecutive"));
}

#[test]
fn new_partitions_take_unfenced_replicas_as_isr_and_the_first_as_leader() {
    let mut image = image_with_brokers(&[(1, None), (2, None), (3, None)]);
    let epoch = image.broker(1).expect("broker 1").epoch;
    apply(
        &mut image,
        &[crate::MetadataRecord::FenceBroker {
            broker_id: 1,
            broker_epoch: epoch,
        }],
    );
    let id = crate::TopicId([9; 16]);
    let records = new_partition_records(
        &image,
        id,
        0,
        &[vec![1, 2, 3], vec![3, 2]],
        &BTreeSet::from([3]),
    )
    .expect("records");
    let crate::MetadataRecord::Partition(p0) = &records[0] else {
        panic!("not a partition record")
    };
    assert_eq!((p0.leader, p0.isr.clone()), (2, vec![2]));
    let err = new_partition_records(&image, id, 0, &[vec![1, 3]], &BTreeSet::from([3]))
        .expect_err("no replica may lead");
    assert_eq!(err.error, ResponseError::InvalidReplicaAssignment);
}
