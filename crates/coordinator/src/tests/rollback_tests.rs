//! A consumer group's records that fail to reach `__consumer_offsets` leave its
//! in-memory state as it was (Kafka's timeline snapshots): epochs, members and
//! assignments go back, later changes built on the failed one are undone with it,
//! and the group carries on normally once the log works again.

use moldau_protocol::kafka::messages::ConsumerGroupHeartbeatResponse;

use super::consumer_group_tests::*;
use super::harness::*;
use crate::codes;
use crate::GroupRequest;
use crate::GroupResponse;

const HB_VERSION: i16 = 1;
const SESSION_MS: i64 = 45_000;

/// Sends a heartbeat whose answer may wait for its append.
fn send_later(h: &mut Harness, c: &Client, group: &str) -> u64 {
    h.send(
        HB_VERSION,
        GroupRequest::ConsumerGroupHeartbeat(c.request(group)),
    )
}

fn answer(h: &mut Harness, id: u64) -> ConsumerGroupHeartbeatResponse {
    match h.replies.remove(&id) {
        Some(GroupResponse::ConsumerGroupHeartbeat(r)) => r,
        other => panic!("expected a heartbeat answer to {id}, got {other:?}"),
    }
}

#[test]
fn a_join_whose_records_fail_leaves_the_group_as_it_was_and_undoes_later_changes() {
    let mut h = harness(&[("t", 4)]);
    let mut clients = vec![Client::new("a", &["t"]), Client::new("b", &["t"])];
    settle(&mut h, "g", &mut clients);
    let before = describe(&mut h, "g");
    let owners = |h: &Harness| {
        h.c.groups["g"]
            .consumer
            .as_ref()
            .map(|cg| cg.owners.clone())
    };
    let owners_before = owners(&h);
    assert_eq!(owners_before.as_ref().map(|o| o.len()), Some(4));
    h.auto_complete = false;
    // c joins (new epoch, new target); a then hears it must give up a partition.
    let c = Client::new("c", &["t"]);
    let join = send_later(&mut h, &c, "g");
    let revoke = send_later(&mut h, &clients[0], "g");
    assert_eq!(h.pending.len(), 2, "both heartbeats write records");
    assert!(!h.answered(join) && !h.answered(revoke));
    assert_ne!(
        describe(&mut h, "g"),
        before,
        "memory moved ahead of the log"
    );
    h.complete_next(codes::KAFKA_STORAGE_ERROR);
    assert_eq!(answer(&mut h, join).error_code, codes::NOT_COORDINATOR);
    assert_eq!(describe(&mut h, "g"), before);
    // a's change was made on top of the failed one: it is undone too, even though
    // its own append succeeds, and a is told to retry.
    h.complete_next(codes::NONE);
    assert_eq!(answer(&mut h, revoke).error_code, codes::NOT_COORDINATOR);
    assert_eq!(describe(&mut h, "g"), before);
    // Who owns which partition is not part of the copy: it is rebuilt the same.
    assert_eq!(owners(&h), owners_before);
    // With the log back, the members carry on at their epochs and c joins.
    h.auto_complete = true;
    for c in clients.iter_mut() {
        let r = hb(&mut h, "g", c);
        assert_eq!(r.error_code, 0, "{r:?}");
    }
    clients.push(c);
    settle(&mut h, "g", &mut clients);
    assert_eq!(clients.iter().map(count).sum::<usize>(), 4);
    assert!(clients.iter().all(|c| count(c) >= 1), "{clients:?}");
}

#[test]
fn a_group_created_by_a_failed_heartbeat_does_not_exist() {
    let mut h = harness(&[("t", 2)]);
    h.auto_complete = false;
    let mut a = Client::new("a", &["t"]);
    let join = send_later(&mut h, &a, "g");
    h.complete_next(codes::NOT_LEADER_OR_FOLLOWER);
    assert_eq!(answer(&mut h, join).error_code, codes::NOT_COORDINATOR);
    assert_eq!(
        describe(&mut h, "g").error_code,
        codes::GROUP_ID_NOT_FOUND,
        "the group was never written"
    );
    h.auto_complete = true;
    let r = hb(&mut h, "g", &mut a);
    assert_eq!((r.error_code, r.member_epoch), (0, 1), "{r:?}");
    assert_eq!(count(&a), 2);
}

#[test]
fn a_session_timeout_whose_records_fail_keeps_the_members_and_fires_again() {
    let mut h = harness(&[("t", 4)]);
    let mut clients = vec![Client::new("a", &["t"]), Client::new("b", &["t"])];
    settle(&mut h, "g", &mut clients);
    let before = describe(&mut h, "g");
    h.auto_complete = false;
    h.advance(SESSION_MS + 1);
    assert_eq!(h.pending.len(), 1, "the expiry writes records");
    assert!(describe(&mut h, "g").members.is_empty());
    h.complete_next(codes::KAFKA_STORAGE_ERROR);
    assert_eq!(describe(&mut h, "g"), before);
    assert!(h.pending.is_empty(), "no retry before the backoff");
    // The timer fires again later and, written this time, removes them.
    h.auto_complete = true;
    h.advance_until(5_000, |h| {
        h.c.groups["g"]
            .consumer
            .as_ref()
            .is_some_and(|cg| cg.members.is_empty())
    });
}
