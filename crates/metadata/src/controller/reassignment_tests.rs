//! Reassignment decisions on images: start, complete on AlterPartition, complete at
//! once, cancel, refusals, and the list.

use super::test_support::{add_topic, apply, image_with_brokers, registration};
use super::*;
use crate::{MetadataImage, PartitionImage};
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;

/// Brokers 1..=4, topic `t` with partition 0 on `replicas` (led by the first).
fn image(replicas: &[i32]) -> MetadataImage {
    let mut image = image_with_brokers(&[(1, None), (2, None), (3, None), (4, None)]);
    add_topic(&mut image, "t", &[replicas]);
    image
}

fn partition(image: &MetadataImage) -> &PartitionImage {
    &image.topic("t").unwrap().partitions[&0]
}

fn target(replicas: Option<&[i32]>) -> ReassignmentTarget {
    ReassignmentTarget {
        topic: "t".into(),
        partition: 0,
        replicas: replicas.map(<[i32]>::to_vec),
    }
}

/// Decides `targets` on `image` and applies what was decided.
fn reassign(
    image: &mut MetadataImage,
    targets: &[ReassignmentTarget],
    allow_rf_change: bool,
    unclean_default: bool,
) -> Vec<ReassignmentOutcome> {
    let none = BTreeSet::new();
    let election = LeaderElection {
        image,
        unavailable: &none,
        unclean_default,
    };
    let (records, outcomes) = election.alter_reassignments(targets, allow_rf_change);
    apply(image, &records);
    outcomes
}

fn error_of(outcomes: &[ReassignmentOutcome]) -> Option<ResponseError> {
    assert_eq!(outcomes.len(), 1);
    outcomes[0].error.as_ref().map(|e| e.error)
}

/// The leader's AlterPartition for `isr`, decided and applied.
fn leader_sets_isr(image: &mut MetadataImage, isr: &[i32]) -> AlterPartitionOutcome {
    let p = partition(image).clone();
    let request = AlterPartitionRequest {
        broker_id: p.leader,
        broker_epoch: image.broker(p.leader).unwrap().epoch,
        topic_id: image.topic("t").unwrap().id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.to_vec(),
    };
    let outcome = alter_partition(image, &request).unwrap();
    apply(image, &outcome.records);
    outcome
}

#[test]
fn a_replica_moves_in_and_out_once_it_is_in_sync() {
    let mut image = image(&[1, 2, 3]);
    let outcomes = reassign(&mut image, &[target(Some(&[1, 2, 4]))], false, false);
    assert_eq!(error_of(&outcomes), None);
    let p = partition(&image);
    assert_eq!(
        p.replicas,
        vec![1, 2, 4, 3],
        "the target, then those leaving"
    );
    assert_eq!(
        (p.adding_replicas.clone(), p.removing_replicas.clone()),
        (vec![4], vec![3])
    );
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2, 3]));
    assert_eq!(
        ongoing_reassignments(&image, &None),
        vec![OngoingReassignment {
            topic: "t".into(),
            partition: 0,
            replicas: vec![1, 2, 4, 3],
            adding: vec![4],
            removing: vec![3],
        }]
    );
    // 3 falling behind does not complete anything.
    leader_sets_isr(&mut image, &[1, 2]);
    assert_eq!(partition(&image).replicas, vec![1, 2, 4, 3]);
    // 4 caught up: the reassignment completes in the same change.
    let outcome = leader_sets_isr(&mut image, &[1, 2, 4]);
    assert_eq!((outcome.leader, outcome.isr.clone()), (1, vec![1, 2, 4]));
    let p = partition(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone()),
        (vec![1, 2, 4], vec![1, 2, 4])
    );
    assert!(!is_reassigning(p));
    assert_eq!(outcome.partition_epoch, p.partition_epoch);
    assert!(ongoing_reassignments(&image, &None).is_empty());
}

#[test]
fn a_leader_moved_away_gives_way_to_the_first_target_replica_in_sync() {
    let mut image = image(&[1]);
    assert_eq!(
        error_of(&reassign(&mut image, &[target(Some(&[2]))], false, false)),
        None
    );
    let p = partition(&image);
    assert_eq!((p.replicas.clone(), p.leader), (vec![2, 1], 1));
    let epoch = p.leader_epoch;
    let outcome = leader_sets_isr(&mut image, &[1, 2]);
    let p = partition(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![2], vec![2], 2)
    );
    assert_eq!(p.leader_epoch, epoch + 1);
    assert_eq!((outcome.leader, outcome.leader_epoch), (2, epoch + 1));
}

#[test]
fn removing_only_completes_at_once_and_moves_a_removed_leader() {
    let mut image = image(&[1, 2, 3]);
    assert_eq!(
        error_of(&reassign(&mut image, &[target(Some(&[2, 3]))], true, false)),
        None
    );
    let p = partition(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![2, 3], vec![2, 3], 2)
    );
    assert!(!is_reassigning(p));
    // The same replicas again: nothing to do, and no record.
    let none = BTreeSet::new();
    let election = LeaderElection {
        image: &image,
        unavailable: &none,
        unclean_default: false,
    };
    let (records, outcomes) = election.alter_reassignments(&[target(Some(&[2, 3]))], false);
    assert!(records.is_empty());
    assert_eq!(error_of(&outcomes), None);
}

#[test]
fn invalid_targets_are_refused_with_kafkas_errors() {
    let mut image = image(&[1, 2, 3]);
    let code = |image: &mut MetadataImage, t: ReassignmentTarget, allow: bool| {
        error_of(&reassign(image, &[t], allow, false))
    };
    assert_eq!(
        code(&mut image, target(Some(&[])), true),
        Some(ResponseError::InvalidReplicaAssignment)
    );
    assert_eq!(
        code(&mut image, target(Some(&[1, 2, 2])), true),
        Some(ResponseError::InvalidReplicaAssignment)
    );
    assert_eq!(
        code(&mut image, target(Some(&[1, 2, 9])), true),
        Some(ResponseError::InvalidReplicaAssignment)
    );
    assert_eq!(
        code(&mut image, target(Some(&[1, 2])), false),
        Some(ResponseError::InvalidReplicationFactor)
    );
    let mut unknown = target(Some(&[1, 2, 4]));
    unknown.partition = 7;
    assert_eq!(
        code(&mut image, unknown.clone(), true),
        Some(ResponseError::UnknownTopicOrPartition)
    );
    unknown.topic = "nope".into();
    unknown.partition = 0;
    assert_eq!(
        code(&mut image, unknown, true),
        Some(ResponseError::UnknownTopicOrPartition)
    );
    assert_eq!(
        code(&mut image, target(None), true),
        Some(ResponseError::NoReassignmentInProgress)
    );
    assert_eq!(partition(&image).replicas, vec![1, 2, 3], "nothing changed");
    // A fenced broker may be named: it catches up when back.
    let offset = image.last_offset() + 1;
    image
        .apply(&registration(4, offset, None, true), offset)
        .unwrap();
    assert_eq!(code(&mut image, target(Some(&[1, 2, 4])), false), None);
    assert_eq!(partition(&image).adding_replicas, vec![4]);
}

#[test]
fn a_cancel_reverts_to_the_replicas_before() {
    let mut image = image(&[1, 2, 3]);
    reassign(&mut image, &[target(Some(&[4, 2, 1]))], false, false);
    let before = partition(&image).clone();
    assert_eq!(before.replicas, vec![4, 2, 1, 3]);
    assert_eq!(
        error_of(&reassign(&mut image, &[target(None)], false, false)),
        None
    );
    let p = partition(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![2, 1, 3], vec![2, 1, 3], 1)
    );
    assert!(!is_reassigning(p));
    assert!(p.partition_epoch > before.partition_epoch);
}

#[test]
fn a_cancel_that_would_need_an_unclean_election_needs_it_enabled() {
    let mut image = image(&[1]);
    reassign(&mut image, &[target(Some(&[2]))], false, false);
    // 2 joined the ISR, 1 fell out, yet the reassignment has not completed: build
    // that state by hand (replicas [2, 1], ISR [2], leader 2).
    let p = partition(&image).clone();
    let change = crate::PartitionChange {
        isr: Some(vec![2]),
        leader: 2,
        ..crate::PartitionChange::new(image.topic("t").unwrap().id, 0)
    };
    apply(
        &mut image,
        &[crate::MetadataRecord::PartitionChange(change)],
    );
    assert_eq!(partition(&image).adding_replicas, p.adding_replicas);
    assert_eq!(
        error_of(&reassign(&mut image, &[target(None)], false, false)),
        Some(ResponseError::InvalidReplicaAssignment)
    );
    assert_eq!(
        error_of(&reassign(&mut image, &[target(None)], false, true)),
        None
    );
    let p = partition(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![1], vec![1], 1)
    );
}

#[test]
fn a_partition_named_twice_is_decided_on_the_first_decision() {
    let mut image = image(&[1, 2, 3]);
    let outcomes = reassign(
        &mut image,
        &[target(Some(&[1, 2, 4])), target(None)],
        false,
        false,
    );
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    let p = partition(&image);
    assert_eq!(p.replicas, vec![1, 2, 3], "started, then cancelled");
    assert!(!is_reassigning(p));
    let named = Some(vec![
        ("t".to_string(), vec![0, 5]),
        ("nope".to_string(), vec![0]),
    ]);
    assert!(ongoing_reassignments(&image, &named).is_empty());
}
