//! The console's view of partitions in flight: a member told to give up a partition
//! still holds it (pending revocation) until it acknowledges, and
//! PendingRevocations names it meanwhile (ConsumerGroupDescribe does not).

use super::consumer_group_tests::*;
use super::harness::*;
use crate::{GroupRequest, GroupResponse, PendingRevocation};

fn pending(h: &mut Harness, group: &str) -> Vec<PendingRevocation> {
    let id = h.send(0, GroupRequest::PendingRevocations(group.to_string()));
    match h.replies.remove(&id) {
        Some(GroupResponse::PendingRevocations(p)) => p,
        other => panic!("expected pending revocations, got {other:?}"),
    }
}

#[test]
fn a_member_told_to_revoke_is_named_until_it_acknowledges() {
    let mut h = harness(&[("t", 2)]);
    let mut a = Client::new("a", &["t"]);
    settle(&mut h, "g", std::slice::from_mut(&mut a));
    assert_eq!(count(&a), 2);
    assert!(pending(&mut h, "g").is_empty());
    // b joins: the target moves one partition from a to b.
    let mut b = Client::new("b", &["t"]);
    hb(&mut h, "g", &mut b);
    assert_eq!(count(&b), 0, "b waits until a has revoked");
    // a hears it must give one up: it keeps owning it until it says so.
    hb(&mut h, "g", &mut a);
    assert_eq!(count(&a), 1);
    let p = pending(&mut h, "g");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].member_id.as_str(), p[0].topic.as_str()), ("a", "t"));
    assert_eq!(p[0].partitions.len(), 1);
    let moving = p[0].partitions[0];
    assert!(!a.owned.values().any(|ps| ps.contains(&moving)));
    // Described, a's assignment lacks it and nobody else has it either.
    let d = describe(&mut h, "g");
    assert!(d.members.iter().all(|m| !m
        .assignment
        .topic_partitions
        .iter()
        .any(|t| t.partitions.contains(&moving))));
    // a acknowledges (reports only what it keeps); b then gets it.
    hb(&mut h, "g", &mut a);
    assert!(pending(&mut h, "g").is_empty());
    hb(&mut h, "g", &mut b);
    assert_eq!(count(&b), 1);
    assert!(pending(&mut h, "unknown").is_empty());
}
