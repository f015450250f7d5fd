use super::test_support::*;
use super::*;
use crate::{ConfigResource, MetadataImage, MetadataRecord, NO_LEADER};
use std::collections::BTreeSet;

fn fence(image: &mut MetadataImage, id: i32) {
    let epoch = image.broker(id).expect("registered").epoch;
    apply(
        image,
        &[MetadataRecord::FenceBroker {
            broker_id: id,
            broker_epoch: epoch,
        }],
    );
}

fn unfence(image: &mut MetadataImage, id: i32) {
    let epoch = image.broker(id).expect("registered").epoch;
    apply(
        image,
        &[MetadataRecord::UnfenceBroker {
            broker_id: id,
            broker_epoch: epoch,
        }],
    );
}

fn election(image: &MetadataImage, unavailable: &BTreeSet<i32>) -> Vec<MetadataRecord> {
    LeaderElection {
        image,
        unavailable,
        unclean_default: false,
    }
    .remove_from_isrs(unavailable)
}

fn three_brokers() -> MetadataImage {
    image_with_brokers(&[(1, None), (2, None), (3, None)])
}

#[test]
fn a_fenced_leader_hands_over_to_the_next_in_sync_replica_with_new_epochs() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3], &[2, 3, 1]]);
    fence(&mut image, 1);
    let records = election(&image, &BTreeSet::from([1]));
    assert_eq!(records.len(), 2, "both partitions drop 1 from the ISR");
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0), (2, 1, 1, vec![2, 3]));
    // Partition 1 keeps its leader (same leader epoch) but shrinks its ISR.
    assert_eq!(partition_state(&image, "t", 1), (2, 0, 1, vec![2, 3]));
}

#[test]
fn the_preferred_replica_wins_among_live_in_sync_replicas() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3]]);
    fence(&mut image, 1);
    fence(&mut image, 2);
    let records = election(&image, &BTreeSet::from([1, 2]));
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0), (3, 1, 1, vec![3]));
    // 1 returns but is no longer in the ISR: 3 keeps leading.
    unfence(&mut image, 1);
    let none = LeaderElection {
        image: &image,
        unavailable: &BTreeSet::new(),
        unclean_default: false,
    }
    .elect_leaderless();
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn a_single_replica_goes_offline_keeping_its_isr_and_leads_again_on_return() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[2]]);
    fence(&mut image, 2);
    let records = election(&image, &BTreeSet::from([2]));
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0), (NO_LEADER, 1, 1, vec![2]));
    unfence(&mut image, 2);
    let records = LeaderElection {
        image: &image,
        unavailable: &BTreeSet::new(),
        unclean_default: false,
    }
    .elect_leaderless();
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0), (2, 2, 2, vec![2]));
}

#[test]
fn unclean_election_only_where_configured() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2]]);
    // ISR shrinks to the leader alone, then the leader dies.
    let mut change = crate::PartitionChange::new(image.topic("t").expect("t").id, 0);
    change.isr = Some(vec![1]);
    apply(&mut image, &[MetadataRecord::PartitionChange(change)]);
    fence(&mut image, 1);
    let gone = BTreeSet::from([1]);
    let records = election(&image, &gone);
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0).0, NO_LEADER);
    let elect = |image: &MetadataImage, unclean_default| {
        LeaderElection {
            image,
            unavailable: &gone,
            unclean_default,
        }
        .elect_leaderless()
    };
    assert!(elect(&image, false).is_empty(), "clean: 2 is not in sync");
    // The static default, the cluster's dynamic config, and the topic's override.
    assert_eq!(elect(&image, true).len(), 1);
    let config = |resource, value: &str| MetadataRecord::Config {
        resource,
        name: UNCLEAN_LEADER_ELECTION_CONFIG.into(),
        value: Some(value.into()),
    };
    let mut cluster_on = image.clone();
    apply(
        &mut cluster_on,
        &[config(ConfigResource::Broker(None), "true")],
    );
    let records = elect(&cluster_on, false);
    apply(&mut cluster_on, &records);
    assert_eq!(partition_state(&cluster_on, "t", 0), (2, 2, 3, vec![2]));
    apply(&mut image, &[config(ConfigResource::Broker(None), "true")]);
    apply(
        &mut image,
        &[config(ConfigResource::Topic("t".into()), "false")],
    );
    assert!(elect(&image, false).is_empty(), "the topic's false wins");
}

#[test]
fn nothing_to_change_gives_no_records() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2]]);
    fence(&mut image, 3);
    assert!(election(&image, &BTreeSet::from([3])).is_empty());
}

#[test]
fn elections_look_only_at_leaderless_partitions_and_those_of_unfit_leaders() {
    let mut image = three_brokers();
    let healthy: Vec<Vec<i32>> = (0..3_000)
        .map(|i| if i % 2 == 0 { vec![2, 3] } else { vec![3, 2] })
        .collect();
    let healthy: Vec<&[i32]> = healthy.iter().map(Vec::as_slice).collect();
    add_topic(&mut image, "busy", &healthy);
    let on_one = add_topic(&mut image, "one", &[&[1], &[1, 2], &[1, 3], &[1, 2]]);
    let none = BTreeSet::new();
    let view = |image: &MetadataImage| -> (usize, usize) {
        let e = LeaderElection {
            image,
            unavailable: &none,
            unclean_default: false,
        };
        (e.leaderless().len(), e.led_by_unfit().len())
    };
    assert_eq!(view(&image), (0, 0), "nothing to look at");
    fence(&mut image, 1);
    assert_eq!(view(&image), (0, 4), "broker 1's partitions, not 3 004");
    let moves = LeaderElection {
        image: &image,
        unavailable: &none,
        unclean_default: false,
    }
    .move_leaders_off_unfit();
    assert_eq!(moves.len(), 4);
    apply(&mut image, &moves);
    assert_eq!(partition_state(&image, "one", 1).0, 2);
    assert_eq!(partition_state(&image, "one", 0).0, NO_LEADER);
    assert_eq!(view(&image), (1, 0), "only one-0 is left without a leader");
    unfence(&mut image, 1);
    let back = LeaderElection {
        image: &image,
        unavailable: &none,
        unclean_default: false,
    }
    .elect_leaderless();
    assert_eq!(back.len(), 1);
    apply(&mut image, &back);
    assert_eq!(partition_state(&image, "one", 0).0, 1);
    assert_eq!(view(&image), (0, 0));
    // A removed topic leaves the leader index.
    apply(&mut image, &[MetadataRecord::RemoveTopic { id: on_one }]);
    assert_eq!(image.partitions_led_by(1).count(), 0);
    assert_eq!(
        image.partitions_led_by(2).count() + image.partitions_led_by(3).count(),
        3_000
    );
}

#[test]
fn isr_removal_and_rebalance_look_only_at_the_partitions_concerned() {
    let mut image = three_brokers();
    let healthy: Vec<Vec<i32>> = (0..3_000)
        .map(|i| if i % 2 == 0 { vec![2, 3] } else { vec![3, 2] })
        .collect();
    let healthy: Vec<&[i32]> = healthy.iter().map(Vec::as_slice).collect();
    add_topic(&mut image, "busy", &healthy);
    let on_one = add_topic(&mut image, "one", &[&[1], &[1, 2], &[2, 1], &[3, 1]]);
    let none = BTreeSet::new();
    let gone = BTreeSet::from([1]);
    let e = LeaderElection {
        image: &image,
        unavailable: &none,
        unclean_default: false,
    };
    assert_eq!(
        e.with_replicas(&gone).len(),
        4,
        "broker 1's partitions, not 3 004"
    );
    assert_eq!(
        e.rebalance_candidates().len(),
        0,
        "every leader is preferred"
    );
    fence(&mut image, 1);
    let records = LeaderElection {
        image: &image,
        unavailable: &none,
        unclean_default: false,
    }
    .remove_from_isrs(&gone);
    // one-0 keeps its last ISR member but loses its leader; the three others leave
    // broker 1 out of their ISR.
    assert_eq!(records.len(), 4);
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "one", 1), (2, 1, 1, vec![2]));
    assert_eq!(partition_state(&image, "one", 2).3, vec![2]);
    let e = LeaderElection {
        image: &image,
        unavailable: &none,
        unclean_default: false,
    };
    // one-0 (leaderless) and one-1 (led by 2, prefers 1): 2 of 3 004.
    assert_eq!(e.rebalance_candidates().len(), 2);
    assert_eq!(image.preferred_replica_count(1), 2);
    assert_eq!(image.preferred_replica_count(2), 1_501);
    assert!(e.rebalance_preferred_leaders(10).is_empty(), "1 is fenced");
    // The replica index follows a reassignment and a removed topic.
    let id = image.topic("busy").expect("busy").id;
    let mut moved = crate::PartitionChange::new(id, 0);
    moved.replicas = Some(vec![2, 3, 1]);
    apply(&mut image, &[MetadataRecord::PartitionChange(moved)]);
    assert_eq!(image.partitions_with_replica(1).count(), 5);
    apply(&mut image, &[MetadataRecord::RemoveTopic { id: on_one }]);
    assert_eq!(image.partitions_with_replica(1).count(), 1);
    assert_eq!(image.partitions_with_replica(2).count(), 3_000);
    assert_eq!(image.partitions_led_elsewhere().count(), 0);
    assert_eq!(image.preferred_replica_count(1), 0);
}
