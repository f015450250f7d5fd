//! TxnOffsetCommit: offsets pending per producer until the transaction's marker,
//! KIP-447 member checks for classic and consumer groups, OffsetFetch with
//! require_stable, and replay of open, committed and aborted transactions.

use moldau_protocol::kafka::messages::consumer_group_heartbeat_request::TopicPartitions;
use moldau_protocol::kafka::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_request::OffsetFetchRequestTopic;
use moldau_protocol::kafka::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::{
    ConsumerGroupHeartbeatRequest, DeleteGroupsRequest, GroupId, OffsetDeleteRequest,
    OffsetFetchRequest, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use uuid::Uuid;

use super::harness::*;
use crate::codes;
use crate::{
    GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, SeededMemberIds, TopicCatalog,
};

const TXN_COMMIT_VERSION: i16 = 3;
const PRODUCER: i64 = 7000;
const EPOCH: i16 = 2;

/// TxnOffsetCommit v3 of `offsets` ((topic, partition, offset)) from producer `pid`.
fn txn_commit_as(
    h: &mut Harness,
    group: &str,
    pid: i64,
    member: &str,
    generation: i32,
    offsets: &[(&str, i32, i64)],
) -> u64 {
    let topics = offsets
        .iter()
        .map(|(t, p, o)| {
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(t)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(s("")))])
        })
        .collect();
    let r = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(EPOCH)
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_topics(topics);
    h.send(TXN_COMMIT_VERSION, GroupRequest::TxnOffsetCommit(r))
}

fn txn_commit(h: &mut Harness, group: &str, offsets: &[(&str, i32, i64)]) -> u64 {
    txn_commit_as(h, group, PRODUCER, "", -1, offsets)
}

/// Every partition's error of a TxnOffsetCommit answer.
fn txn_errors(h: &mut Harness, id: u64) -> Vec<i16> {
    match h.replies.remove(&id) {
        Some(GroupResponse::TxnOffsetCommit(r)) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        other => panic!("expected a TxnOffsetCommit answer, got {other:?}"),
    }
}

/// The marker of `pid`'s transaction lands on `group`'s offsets partition.
fn marker(h: &mut Harness, group: &str, pid: i64, commit: bool) {
    let partition = h.c.coordinator_partition(group);
    h.markers.push((h.log.len(), partition, pid, commit));
    let effects = h.c.complete_transaction(h.now, partition, pid, commit);
    h.apply(effects);
}

/// OffsetFetch v7 with require_stable: (offset, error) of one partition.
fn fetch_stable(h: &mut Harness, group: &str, topic: &str, partition: i32) -> (i64, i16) {
    let r = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_require_stable(true)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![partition])]));
    let id = h.send(7, GroupRequest::OffsetFetch(r));
    match h.replies.remove(&id) {
        Some(GroupResponse::OffsetFetch(r)) => {
            let p = &r.topics[0].partitions[0];
            (p.committed_offset, p.error_code)
        }
        other => panic!("expected OffsetFetch answer, got {other:?}"),
    }
}

/// The committed offset of one partition, as a plain OffsetFetch sees it.
fn committed(h: &mut Harness, group: &str, topic: &str, partition: i32) -> i64 {
    let (error, parts) = h.fetch(group, Some(&[(topic, &[partition])]));
    assert_eq!(error, 0);
    assert_eq!(parts[0].3, 0);
    parts[0].2
}

/// A fresh coordinator (as after a restart) replaying `h`'s log with its
/// transactional batches and markers in log order.
fn replay(h: &Harness) -> Harness {
    let config = h.c.config().clone();
    let mut fresh = Harness::new(config.clone());
    fresh.c = GroupCoordinator::with_member_ids(config.clone(), Box::new(SeededMemberIds::new(9)));
    fresh.now = h.now;
    for p in 0..config.offsets_topic_num_partitions {
        fresh.c.begin_loading(p);
        let mut markers = h.markers.iter().filter(|m| m.1 == p).peekable();
        for (i, (partition, key, value)) in h.log.iter().enumerate() {
            while let Some((_, _, pid, commit)) = markers.next_if(|m| m.0 <= i) {
                fresh.c.load_txn_marker(p, *pid, *commit);
            }
            if *partition != p {
                continue;
            }
            match h.log_producers[i] {
                Some(pid) => {
                    fresh
                        .c
                        .load_transactional_record(p, pid, i as i64, Some(key), value.as_deref())
                }
                None => fresh
                    .c
                    .load_record(p, i as i64, Some(key), value.as_deref()),
            }
        }
        for (_, _, pid, commit) in markers {
            fresh.c.load_txn_marker(p, *pid, *commit);
        }
        let effects = fresh.c.finish_loading(p, fresh.now);
        fresh.apply(effects);
    }
    fresh.markers = h.markers.clone();
    fresh.log = h.log.clone();
    fresh.log_producers = h.log_producers.clone();
    fresh
}

#[test]
fn offsets_committed_in_a_transaction_become_visible_with_its_commit_marker() {
    let mut h = Harness::quick();
    let id = txn_commit(&mut h, "g", &[("t", 0, 10), ("t", 1, 11)]);
    assert_eq!(txn_errors(&mut h, id), vec![0, 0]);
    // Written as part of the producer's transaction.
    assert_eq!(h.log_producers, vec![Some(PRODUCER), Some(PRODUCER)]);
    assert_eq!(committed(&mut h, "g", "t", 0), -1, "not before the marker");
    assert_eq!(
        fetch_stable(&mut h, "g", "t", 0),
        (-1, codes::UNSTABLE_OFFSET_COMMIT)
    );
    assert_eq!(fetch_stable(&mut h, "g", "other", 0), (-1, 0));
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), 10);
    assert_eq!(committed(&mut h, "g", "t", 1), 11);
    assert_eq!(fetch_stable(&mut h, "g", "t", 0), (10, 0));
}

#[test]
fn an_aborted_transaction_leaves_the_committed_offsets_as_they_were() {
    let mut h = Harness::quick();
    let c = h.commit("g", "", -1, &[("t", 0, 5)]);
    assert_eq!(h.error_of(c), 0);
    let id = txn_commit(&mut h, "g", &[("t", 0, 10)]);
    assert_eq!(txn_errors(&mut h, id), vec![0]);
    marker(&mut h, "g", PRODUCER, false);
    assert_eq!(committed(&mut h, "g", "t", 0), 5);
    assert_eq!(fetch_stable(&mut h, "g", "t", 0), (5, 0), "stable again");
    // A marker for another producer changes nothing.
    let id = txn_commit(&mut h, "g", &[("t", 0, 12)]);
    txn_errors(&mut h, id);
    marker(&mut h, "g", PRODUCER + 1, true);
    assert_eq!(committed(&mut h, "g", "t", 0), 5);
}

#[test]
fn a_marker_that_overtakes_the_offsets_append_applies_when_it_completes() {
    let mut h = Harness::quick();
    h.auto_complete = false;
    let id = txn_commit(&mut h, "g", &[("t", 0, 10)]);
    assert!(!h.answered(id));
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), -1);
    h.complete_next(0);
    assert_eq!(txn_errors(&mut h, id), vec![0]);
    assert_eq!(committed(&mut h, "g", "t", 0), 10);
    // A failed append commits nothing, and says why.
    let id = txn_commit(&mut h, "g", &[("t", 0, 20)]);
    h.complete_next(codes::NOT_LEADER_OR_FOLLOWER);
    assert_eq!(txn_errors(&mut h, id), vec![codes::NOT_COORDINATOR]);
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), 10);
    assert_eq!(fetch_stable(&mut h, "g", "t", 0), (10, 0));
}

#[test]
fn a_later_plain_commit_wins_over_an_earlier_transactional_one() {
    let mut h = Harness::quick();
    let id = txn_commit(&mut h, "g", &[("t", 0, 10)]);
    txn_errors(&mut h, id);
    let c = h.commit("g", "", -1, &[("t", 0, 20)]);
    assert_eq!(h.error_of(c), 0);
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), 20);
    let mut again = replay(&h);
    assert_eq!(committed(&mut again, "g", "t", 0), 20);
}

#[test]
fn classic_groups_check_member_and_generation_of_transactional_commits() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    let ok = txn_commit_as(
        &mut h,
        "g",
        PRODUCER,
        &members[0],
        generation,
        &[("t", 0, 1)],
    );
    assert_eq!(txn_errors(&mut h, ok), vec![0]);
    let stale = txn_commit_as(
        &mut h,
        "g",
        PRODUCER,
        &members[0],
        generation - 1,
        &[("t", 0, 1)],
    );
    assert_eq!(txn_errors(&mut h, stale), vec![codes::ILLEGAL_GENERATION]);
    let unknown = txn_commit_as(&mut h, "g", PRODUCER, "nobody", generation, &[("t", 0, 1)]);
    assert_eq!(txn_errors(&mut h, unknown), vec![codes::UNKNOWN_MEMBER_ID]);
    // Older producers send no member: accepted even while the group has members.
    let anonymous = txn_commit_as(&mut h, "g", PRODUCER, "", -1, &[("t", 0, 1)]);
    assert_eq!(txn_errors(&mut h, anonymous), vec![0]);
    // A group this coordinator does not know, with a generation: a zombie.
    let zombie = txn_commit_as(&mut h, "gone", PRODUCER, "m", 3, &[("t", 0, 1)]);
    assert_eq!(txn_errors(&mut h, zombie), vec![codes::ILLEGAL_GENERATION]);
    let empty = txn_commit_as(&mut h, "", PRODUCER, "", -1, &[("t", 0, 1)]);
    assert_eq!(txn_errors(&mut h, empty), vec![codes::INVALID_GROUP_ID]);
}

#[test]
fn consumer_groups_check_the_member_epoch_and_answer_illegal_generation() {
    let mut h = Harness::quick();
    let mut topics = TopicCatalog::default();
    topics.insert("t", Uuid::from_u128(42), 2);
    let effects = h.c.update_topics(h.now, topics);
    h.apply(effects);
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s("member-a"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("t"))]))
        .with_topic_partitions(Some(Vec::<TopicPartitions>::new()));
    let id = h.send(1, GroupRequest::ConsumerGroupHeartbeat(join));
    let epoch = match h.replies.remove(&id) {
        Some(GroupResponse::ConsumerGroupHeartbeat(r)) => {
            assert_eq!(r.error_code, 0);
            r.member_epoch
        }
        other => panic!("expected a heartbeat answer, got {other:?}"),
    };
    let ok = txn_commit_as(&mut h, "cg", PRODUCER, "member-a", epoch, &[("t", 0, 3)]);
    assert_eq!(txn_errors(&mut h, ok), vec![0]);
    let stale = txn_commit_as(
        &mut h,
        "cg",
        PRODUCER,
        "member-a",
        epoch + 1,
        &[("t", 0, 3)],
    );
    assert_eq!(txn_errors(&mut h, stale), vec![codes::ILLEGAL_GENERATION]);
    let unknown = txn_commit_as(&mut h, "cg", PRODUCER, "member-b", epoch, &[("t", 0, 3)]);
    assert_eq!(txn_errors(&mut h, unknown), vec![codes::UNKNOWN_MEMBER_ID]);
    marker(&mut h, "cg", PRODUCER, true);
    assert_eq!(committed(&mut h, "cg", "t", 0), 3);
}

#[test]
fn replay_keeps_open_transactions_pending_and_ended_ones_as_they_ended() {
    let config = GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    };
    let mut h = Harness::new(config);
    // Committed, aborted, and still open when the coordinator restarts.
    let id = txn_commit_as(&mut h, "g", 1, "", -1, &[("t", 0, 10)]);
    txn_errors(&mut h, id);
    marker(&mut h, "g", 1, true);
    let id = txn_commit_as(&mut h, "g", 2, "", -1, &[("t", 1, 20)]);
    txn_errors(&mut h, id);
    marker(&mut h, "g", 2, false);
    let id = txn_commit_as(&mut h, "g", 3, "", -1, &[("t", 2, 30)]);
    txn_errors(&mut h, id);
    // A group known only by an open transaction's offsets.
    let id = txn_commit_as(&mut h, "only-open", 4, "", -1, &[("t", 0, 40)]);
    txn_errors(&mut h, id);

    let mut r = replay(&h);
    assert_eq!(committed(&mut r, "g", "t", 0), 10);
    assert_eq!(committed(&mut r, "g", "t", 1), -1);
    assert_eq!(
        fetch_stable(&mut r, "g", "t", 2),
        (-1, codes::UNSTABLE_OFFSET_COMMIT)
    );
    assert_eq!(
        fetch_stable(&mut r, "only-open", "t", 0),
        (-1, codes::UNSTABLE_OFFSET_COMMIT)
    );
    // The markers written after the restart complete them.
    marker(&mut r, "g", 3, true);
    marker(&mut r, "only-open", 4, false);
    assert_eq!(fetch_stable(&mut r, "g", "t", 2), (30, 0));
    assert_eq!(fetch_stable(&mut r, "only-open", "t", 0), (-1, 0));
    // And a second restart agrees.
    let mut again = replay(&r);
    assert_eq!(committed(&mut again, "g", "t", 2), 30);
    assert_eq!(fetch_stable(&mut again, "only-open", "t", 0), (-1, 0));
}

#[test]
fn pending_transactional_offsets_are_not_expired_and_keep_the_group() {
    let config = GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        offsets_retention_minutes: 1,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::new(config);
    let id = txn_commit(&mut h, "g", &[("t", 0, 10)]);
    txn_errors(&mut h, id);
    h.advance(10 * 60_000);
    assert_eq!(
        fetch_stable(&mut h, "g", "t", 0),
        (-1, codes::UNSTABLE_OFFSET_COMMIT)
    );
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), 10);
}

/// DeleteGroups of `group`; its error.
fn delete_group(h: &mut Harness, group: &str) -> i16 {
    let r = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]);
    let id = h.send(2, GroupRequest::DeleteGroups(r));
    match h.replies.remove(&id) {
        Some(GroupResponse::DeleteGroups(r)) => r.results[0].error_code,
        other => panic!("expected a DeleteGroups answer, got {other:?}"),
    }
}

/// OffsetDelete of one partition; (top error, partition error).
fn offset_delete(h: &mut Harness, group: &str, topic: &str, partition: i32) -> (i16, i16) {
    let r = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(partition)
            ])]);
    let id = h.send(0, GroupRequest::OffsetDelete(r));
    match h.replies.remove(&id) {
        Some(GroupResponse::OffsetDelete(r)) => {
            (r.error_code, r.topics[0].partitions[0].error_code)
        }
        other => panic!("expected an OffsetDelete answer, got {other:?}"),
    }
}

/// As Kafka: deleting an (empty) group writes a tombstone for every offset of its
/// open transactions too, and a tombstone drops those pending offsets, so the
/// transaction's COMMIT marker brings nothing back, now or after a restart.
#[test]
fn deleting_a_group_drops_the_offsets_of_its_open_transactions() {
    let mut h = Harness::quick();
    let c = h.commit("g", "", -1, &[("t", 0, 5)]);
    assert_eq!(h.error_of(c), 0);
    let id = txn_commit(&mut h, "g", &[("t", 0, 10), ("t", 1, 11)]);
    assert_eq!(txn_errors(&mut h, id), vec![0, 0]);
    assert_eq!(delete_group(&mut h, "g"), 0);
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), -1);
    assert_eq!(committed(&mut h, "g", "t", 1), -1);
    let mut r = replay(&h);
    assert_eq!(committed(&mut r, "g", "t", 0), -1, "after a restart");
    assert_eq!(committed(&mut r, "g", "t", 1), -1, "after a restart");
}

/// OffsetDelete of a partition whose only offset is an open transaction's drops it
/// the same way.
#[test]
fn offset_delete_drops_an_open_transactions_offset() {
    let mut h = Harness::quick();
    let id = txn_commit(&mut h, "g", &[("t", 0, 10), ("t", 1, 11)]);
    assert_eq!(txn_errors(&mut h, id), vec![0, 0]);
    assert_eq!(offset_delete(&mut h, "g", "t", 0), (0, 0));
    assert_eq!(
        fetch_stable(&mut h, "g", "t", 0),
        (-1, 0),
        "nothing pending"
    );
    marker(&mut h, "g", PRODUCER, true);
    assert_eq!(committed(&mut h, "g", "t", 0), -1);
    assert_eq!(committed(&mut h, "g", "t", 1), 11);
    let mut r = replay(&h);
    assert_eq!(committed(&mut r, "g", "t", 0), -1, "after a restart");
    assert_eq!(committed(&mut r, "g", "t", 1), 11, "after a restart");
}
