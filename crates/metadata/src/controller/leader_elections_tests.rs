//! ElectLeaders (PREFERRED, UNCLEAN) and the automatic preferred-leader rebalance,
//! decided on images: Kafka's outcomes per partition and the records committed.

use super::test_support::*;
use super::*;
use crate::{MetadataImage, MetadataRecord, PartitionChange, NO_LEADER};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

fn three_brokers() -> MetadataImage {
    image_with_brokers(&[(1, None), (2, None), (3, None)])
}

fn set_broker_fenced(image: &mut MetadataImage, id: i32, fenced: bool) {
    let broker_epoch = image.broker(id).expect("registered").epoch;
    let record = if fenced {
        MetadataRecord::FenceBroker {
            broker_id: id,
            broker_epoch,
        }
    } else {
        MetadataRecord::UnfenceBroker {
            broker_id: id,
            broker_epoch,
        }
    };
    apply(image, &[record]);
}

/// Moves `topic`-`p` to `leader` with `isr`, as an earlier failover would have.
fn set_leader(image: &mut MetadataImage, topic: &str, p: i32, leader: i32, isr: &[i32]) {
    let id = image.topic(topic).expect("topic").id;
    let mut change = PartitionChange::new(id, p);
    change.leader = leader;
    change.isr = Some(isr.to_vec());
    apply(image, &[MetadataRecord::PartitionChange(change)]);
}

fn elect(
    image: &MetadataImage,
    kind: ElectionKind,
    targets: &ElectionTargets,
) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
    LeaderElection {
        image,
        unavailable: &BTreeSet::new(),
        unclean_default: false,
    }
    .elect_leaders(kind, targets)
}

fn codes(outcomes: &[ElectionOutcome]) -> Vec<(String, i32, Option<ResponseError>)> {
    outcomes
        .iter()
        .map(|o| {
            (
                o.topic.clone(),
                o.partition,
                o.error.as_ref().map(|e| e.error),
            )
        })
        .collect()
}

#[test]
fn preferred_election_moves_leadership_back_to_the_first_in_sync_replica() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3], &[2, 3, 1], &[3, 1, 2]]);
    set_leader(&mut image, "t", 0, 2, &[1, 2, 3]);
    // Preferred replica 2 of partition 1 dropped out of the ISR.
    set_leader(&mut image, "t", 1, 3, &[3, 1]);
    let targets = Some(vec![
        ("t".to_string(), vec![0, 1, 2, 0]),
        ("gone".to_string(), vec![0]),
    ]);
    let (records, outcomes) = elect(&image, ElectionKind::Preferred, &targets);
    assert_eq!(
        codes(&outcomes),
        vec![
            ("t".into(), 0, None),
            (
                "t".into(),
                1,
                Some(ResponseError::PreferredLeaderNotAvailable)
            ),
            ("t".into(), 2, Some(ResponseError::ElectionNotNeeded)),
            (
                "gone".into(),
                0,
                Some(ResponseError::UnknownTopicOrPartition)
            ),
        ],
        "a partition named twice is elected once"
    );
    let epoch_before = partition_state(&image, "t", 0).1;
    apply(&mut image, &records);
    let (leader, epoch, _, isr) = partition_state(&image, "t", 0);
    assert_eq!((leader, isr), (1, vec![1, 2, 3]));
    assert!(epoch > epoch_before, "a new leader epoch");
    assert_eq!(partition_state(&image, "t", 1).0, 3);
}

#[test]
fn preferred_election_skips_a_fenced_preferred_replica() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3]]);
    set_leader(&mut image, "t", 0, 2, &[1, 2, 3]);
    set_broker_fenced(&mut image, 1, true);
    let targets = Some(vec![("t".to_string(), vec![0])]);
    let (records, outcomes) = elect(&image, ElectionKind::Preferred, &targets);
    assert!(records.is_empty());
    assert_eq!(
        outcomes[0].error.as_ref().map(|e| e.error),
        Some(ResponseError::PreferredLeaderNotAvailable)
    );
}

#[test]
fn electing_every_partition_reports_only_those_that_needed_it() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3], &[2, 3, 1]]);
    set_leader(&mut image, "t", 1, 3, &[2, 3, 1]);
    let (records, outcomes) = elect(&image, ElectionKind::Preferred, &None);
    assert_eq!(codes(&outcomes), vec![("t".into(), 1, None)]);
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 1).0, 2);
}

#[test]
fn unclean_election_prefers_the_isr_then_takes_a_live_replica_outside_it() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3], &[1, 2, 3], &[1, 2, 3]]);
    // 0: leaderless, its ISR member 2 alive. 1: leaderless, ISR only 1 (fenced).
    // 2: led: nothing to do. Broker 3 is dead.
    set_broker_fenced(&mut image, 1, true);
    set_broker_fenced(&mut image, 3, true);
    set_leader(&mut image, "t", 0, NO_LEADER, &[1, 2]);
    set_leader(&mut image, "t", 1, NO_LEADER, &[1]);
    set_leader(&mut image, "t", 2, 2, &[2]);
    let targets = Some(vec![("t".to_string(), vec![0, 1, 2])]);
    let (records, outcomes) = elect(&image, ElectionKind::Unclean, &targets);
    assert_eq!(
        codes(&outcomes),
        vec![
            ("t".into(), 0, None),
            ("t".into(), 1, None),
            ("t".into(), 2, Some(ResponseError::ElectionNotNeeded)),
        ]
    );
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0).0, 2);
    assert_eq!(
        partition_state(&image, "t", 0).3,
        vec![1, 2],
        "clean: ISR kept"
    );
    let (leader, _, _, isr) = partition_state(&image, "t", 1);
    assert_eq!(
        (leader, isr),
        (2, vec![2]),
        "unclean: the new leader alone in sync"
    );

    // With no live replica at all: ELIGIBLE_LEADERS_NOT_AVAILABLE.
    set_broker_fenced(&mut image, 2, true);
    set_leader(&mut image, "t", 2, NO_LEADER, &[2]);
    let only_2 = Some(vec![("t".to_string(), vec![2])]);
    let (records, outcomes) = elect(&image, ElectionKind::Unclean, &only_2);
    assert!(records.is_empty());
    assert_eq!(
        outcomes[0].error.as_ref().map(|e| e.error),
        Some(ResponseError::EligibleLeadersNotAvailable)
    );
}

#[test]
fn rebalance_moves_leaders_back_only_past_the_imbalance_percentage() {
    let mut image = three_brokers();
    // Broker 1 prefers 4 partitions, broker 2 prefers 1.
    add_topic(
        &mut image,
        "t",
        &[&[1, 2], &[1, 2], &[1, 2], &[1, 2], &[2, 1]],
    );
    set_leader(&mut image, "t", 0, 2, &[1, 2]);
    let election = |image: &MetadataImage, percentage| {
        LeaderElection {
            image,
            unavailable: &BTreeSet::new(),
            unclean_default: false,
        }
        .rebalance_preferred_leaders(percentage)
    };
    // 1 of 4 (25 %) not led by broker 1: over 10 %, not over 30 %.
    assert!(election(&image, 30).is_empty());
    let records = election(&image, 10);
    assert_eq!(records.len(), 1);
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0).0, 1);
    // A preferred replica outside the ISR is not made leader.
    set_leader(&mut image, "t", 1, 2, &[2]);
    assert!(election(&image, 10).is_empty());
}

#[test]
fn the_lifecycle_rebalances_on_its_interval_and_elects_on_request() {
    let mut image = three_brokers();
    add_topic(&mut image, "t", &[&[1, 2, 3]]);
    set_leader(&mut image, "t", 0, 2, &[1, 2, 3]);
    let mut lifecycle = BrokerLifecycle::new(LifecycleConfig {
        cluster_id: "c".into(),
        session_timeout_ms: 1_000_000,
        unclean_leader_election: false,
        leader_rebalance: Some(LeaderRebalance {
            check_interval_ms: 5_000,
            imbalance_percentage: 10,
        }),
        local_broker: None,
    });
    lifecycle.on_activate(&image, 0);
    assert_eq!(lifecycle.next_deadline_ms(&image), Some(5_000));
    assert!(lifecycle.on_tick(&image, 4_999).is_empty(), "not due yet");
    let records = lifecycle.on_tick(&image, 5_000);
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0).0, 1);
    assert_eq!(lifecycle.next_deadline_ms(&image), Some(10_000));

    set_leader(&mut image, "t", 0, 3, &[1, 2, 3]);
    let targets = Some(vec![("t".to_string(), vec![0])]);
    let (records, outcomes) = lifecycle.on_elect_leaders(&image, ElectionKind::Preferred, &targets);
    assert!(outcomes[0].error.is_none());
    apply(&mut image, &records);
    assert_eq!(partition_state(&image, "t", 0).0, 1);
}
