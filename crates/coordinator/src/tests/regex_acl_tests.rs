//! Regex subscriptions under ACLs: each member's regex resolves only to the topics
//! its principal may DESCRIBE (the broker hands the check with each heartbeat), and
//! a change of its ACLs moves its assignment at its next heartbeat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use moldau_protocol::kafka::messages::ConsumerGroupHeartbeatResponse;

use super::consumer_group_tests::{count, harness, topic_id, Client};
use super::harness::Harness;
use crate::{GroupRequest, GroupResponse, TopicDescribeCheck};

const HB_VERSION: i16 = 1;

/// One heartbeat of `c` as a principal that may describe what `check` allows.
fn hb_as(
    h: &mut Harness,
    c: &mut Client,
    check: &TopicDescribeCheck,
) -> ConsumerGroupHeartbeatResponse {
    let request = GroupRequest::ConsumerGroupHeartbeat(c.request("g"));
    let id = h.send_checked(&c.id, HB_VERSION, request, Some(check.clone()));
    let r = match h.replies.remove(&id) {
        Some(GroupResponse::ConsumerGroupHeartbeat(r)) => r,
        other => panic!("expected a heartbeat answer, got {other:?}"),
    };
    assert_eq!(r.error_code, 0, "{r:?}");
    c.epoch = r.member_epoch;
    if let Some(a) = &r.assignment {
        c.owned = a
            .topic_partitions
            .iter()
            .filter(|t| !t.partitions.is_empty())
            .map(|t| (t.topic_id, t.partitions.iter().copied().collect()))
            .collect();
    }
    r
}

fn topics_of(c: &Client) -> Vec<uuid::Uuid> {
    c.owned.keys().copied().collect()
}

#[test]
fn a_members_regex_resolves_to_the_topics_it_may_describe_only() {
    // acl-b has more partitions than acl-a, so that a balanced assignment gives alice
    // some of acl-b once she may see it.
    let mut h = harness(&[("acl-a", 1), ("acl-b", 3), ("other", 1)]);
    // Alice may describe acl-a only; bob every topic. Both subscribe to acl-.*.
    let alice_b = Arc::new(AtomicBool::new(false));
    let alice = {
        let b = Arc::clone(&alice_b);
        TopicDescribeCheck::new(move |t| t == "acl-a" || (t == "acl-b" && b.load(Ordering::SeqCst)))
    };
    let bob = TopicDescribeCheck::new(|_| true);
    let mut a = Client::new("alice", &[]);
    a.regex = Some("acl-.*".into());
    let mut b = Client::new("bob", &[]);
    b.regex = Some("acl-.*".into());
    for _ in 0..6 {
        hb_as(&mut h, &mut a, &alice);
        hb_as(&mut h, &mut b, &bob);
    }
    assert_eq!(topics_of(&a), vec![topic_id("acl-a")], "alice: {a:?}");
    assert!(
        b.owned.contains_key(&topic_id("acl-b")),
        "bob gets acl-b: {b:?}"
    );
    assert_eq!(
        count(&a) + count(&b),
        4,
        "every acl-* partition assigned once"
    );

    // Alice is granted acl-b: her next heartbeat resolves her regex again, and the
    // group is balanced over both members.
    alice_b.store(true, Ordering::SeqCst);
    for _ in 0..6 {
        hb_as(&mut h, &mut a, &alice);
        hb_as(&mut h, &mut b, &bob);
    }
    assert!(a.owned.contains_key(&topic_id("acl-b")), "alice: {a:?}");
    assert_eq!((count(&a), count(&b)), (2, 2));

    // And revoked: acl-b leaves her assignment.
    alice_b.store(false, Ordering::SeqCst);
    for _ in 0..6 {
        hb_as(&mut h, &mut a, &alice);
        hb_as(&mut h, &mut b, &bob);
    }
    assert_eq!(topics_of(&a), vec![topic_id("acl-a")], "alice: {a:?}");
    assert_eq!(count(&a) + count(&b), 4);
}
