//! KIP-848 consumer groups driven through the coordinator: joins, reconciliation
//! (revoke before reassign), timeouts, static members, topic changes, replay, and
//! each error a heartbeat or commit can get.

use std::collections::{BTreeMap, BTreeSet};

use moldau_protocol::kafka::messages::consumer_group_heartbeat_request::TopicPartitions;
use moldau_protocol::kafka::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    GroupId, ListGroupsRequest, TopicName,
};
use uuid::Uuid;

use super::harness::*;
use crate::codes;
use crate::{
    GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, SeededMemberIds, TopicCatalog,
};

const HB_VERSION: i16 = 1;
const SESSION_MS: i32 = 45_000;

pub(super) fn topic_id(name: &str) -> Uuid {
    Uuid::from_u128(name.bytes().fold(7u128, |a, b| a * 131 + u128::from(b)))
}

pub(super) fn catalog(topics: &[(&str, i32)]) -> TopicCatalog {
    let mut c = TopicCatalog::default();
    for (name, n) in topics {
        c.insert(name, topic_id(name), *n);
    }
    c
}

pub(super) fn harness(topics: &[(&str, i32)]) -> Harness {
    harness_with(GroupConfig::default(), topics)
}

pub(super) fn harness_with(config: GroupConfig, topics: &[(&str, i32)]) -> Harness {
    let mut h = Harness::new(config);
    let effects = h.c.update_topics(h.now, catalog(topics));
    h.apply(effects);
    h
}

/// A simulated consumer: it owns what it was last given, and gives up at once.
#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) id: String,
    pub(super) instance: Option<String>,
    pub(super) epoch: i32,
    pub(super) owned: BTreeMap<Uuid, BTreeSet<i32>>,
    pub(super) topics: Vec<String>,
    pub(super) regex: Option<String>,
}

impl Client {
    pub(super) fn new(id: &str, topics: &[&str]) -> Self {
        Client {
            id: id.into(),
            instance: None,
            epoch: 0,
            owned: BTreeMap::new(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            regex: None,
        }
    }

    fn owned_list(&self) -> Vec<TopicPartitions> {
        self.owned
            .iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*t)
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect()
    }

    pub(super) fn request(&self, group: &str) -> ConsumerGroupHeartbeatRequest {
        let joining = self.epoch == 0;
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(&self.id))
            .with_member_epoch(self.epoch)
            .with_instance_id(self.instance.as_deref().map(s))
            .with_rebalance_timeout_ms(if joining { 30_000 } else { -1 })
            .with_subscribed_topic_names(
                joining.then(|| self.topics.iter().map(|t| TopicName(s(t))).collect()),
            )
            .with_subscribed_topic_regex(self.regex.as_deref().filter(|_| joining).map(s))
            .with_topic_partitions(Some(self.owned_list()))
    }
}

pub(super) fn send_hb(
    h: &mut Harness,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let id = h.send(HB_VERSION, GroupRequest::ConsumerGroupHeartbeat(req));
    match h.replies.remove(&id) {
        Some(GroupResponse::ConsumerGroupHeartbeat(r)) => r,
        other => panic!("expected a heartbeat answer, got {other:?}"),
    }
}

/// One heartbeat of `c`: takes the answer's epoch and assignment.
pub(super) fn hb(h: &mut Harness, group: &str, c: &mut Client) -> ConsumerGroupHeartbeatResponse {
    let r = send_hb(h, c.request(group));
    if r.error_code == 0 {
        c.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            c.owned = a
                .topic_partitions
                .iter()
                .filter(|t| !t.partitions.is_empty())
                .map(|t| (t.topic_id, t.partitions.iter().copied().collect()))
                .collect();
        }
    }
    r
}

/// No partition owned by two clients at once.
pub(super) fn assert_exclusive(clients: &[Client]) {
    let mut seen = BTreeSet::new();
    for c in clients {
        for (t, ps) in &c.owned {
            for p in ps {
                assert!(
                    seen.insert((*t, *p)),
                    "partition {p} owned twice: {clients:?}"
                );
            }
        }
    }
}

/// Heartbeats every client in turn until the group is stable (checking exclusivity
/// after every single heartbeat).
pub(super) fn settle(h: &mut Harness, group: &str, clients: &mut [Client]) {
    for _ in 0..10 {
        for i in 0..clients.len() {
            let r = hb(h, group, &mut clients[i]);
            assert_eq!(r.error_code, 0, "{r:?}");
            assert_exclusive(clients);
        }
        if describe(h, group).group_state.as_str() == "Stable" {
            return;
        }
    }
    panic!("group {group} did not settle: {:?}", describe(h, group));
}

pub(super) fn describe(
    h: &mut Harness,
    group: &str,
) -> moldau_protocol::kafka::messages::consumer_group_describe_response::DescribedGroup {
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(group))]);
    let id = h.send(0, GroupRequest::ConsumerGroupDescribe(req));
    match h.replies.remove(&id) {
        Some(GroupResponse::ConsumerGroupDescribe(mut r)) => r.groups.remove(0),
        other => panic!("expected a describe answer, got {other:?}"),
    }
}

/// OffsetCommit v9 (member epochs).
fn commit(
    h: &mut Harness,
    group: &str,
    member: &str,
    epoch: i32,
    offsets: &[(&str, i32, i64)],
) -> u64 {
    let r = Harness::commit_request(group, member, epoch, offsets);
    h.send(9, GroupRequest::OffsetCommit(r))
}

pub(super) fn count(c: &Client) -> usize {
    c.owned.values().map(BTreeSet::len).sum()
}

#[test]
fn three_members_share_six_partitions_and_a_fourth_gets_its_share_after_revocation() {
    let mut h = harness(&[("t", 6)]);
    let mut clients: Vec<Client> = (0..3)
        .map(|i| Client::new(&format!("m{i}"), &["t"]))
        .collect();
    settle(&mut h, "g", &mut clients);
    assert!(clients.iter().all(|c| count(c) == 2), "{clients:?}");
    let kept: Vec<_> = clients.iter().map(|c| c.owned.clone()).collect();
    clients.push(Client::new("m3", &["t"]));
    // The newcomer gets nothing that another member still holds.
    let r = hb(&mut h, "g", &mut clients[3]);
    assert_eq!(r.error_code, 0);
    assert_exclusive(&clients);
    settle(&mut h, "g", &mut clients);
    let counts: Vec<usize> = clients.iter().map(count).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6);
    assert!(counts.iter().all(|n| (1..=2).contains(n)), "{counts:?}");
    // Sticky: the old members kept partitions they had.
    for (c, before) in clients.iter().zip(&kept) {
        let before: BTreeSet<_> = before.values().flatten().collect();
        assert!(
            c.owned.values().flatten().all(|p| before.contains(p)),
            "{c:?}"
        );
    }
}

#[test]
fn a_member_that_does_not_revoke_keeps_the_epoch_and_the_newcomer_waits() {
    let mut h = harness(&[("t", 2)]);
    let mut a = Client::new("a", &["t"]);
    hb(&mut h, "g", &mut a);
    assert_eq!(count(&a), 2);
    let epoch_a = a.epoch;
    let mut b = Client::new("b", &["t"]);
    let r = hb(&mut h, "g", &mut b);
    assert_eq!(r.member_epoch, epoch_a + 1);
    assert_eq!(count(&b), 0, "the partition is still a's");
    // a is told to give one up, but keeps reporting it.
    let owned_before = a.owned.clone();
    let r = send_hb(&mut h, a.request("g"));
    assert_eq!(
        r.member_epoch, epoch_a,
        "no new epoch before the revocation"
    );
    let left: usize = r.assignment.expect("assignment").topic_partitions[0]
        .partitions
        .len();
    assert_eq!(left, 1);
    let r = send_hb(&mut h, a.clone().request("g"));
    assert_eq!(r.member_epoch, epoch_a);
    hb(&mut h, "g", &mut b);
    assert_eq!(count(&b), 0);
    // a acknowledges; then b gets it.
    a.owned = owned_before;
    let first = *a.owned[&topic_id("t")].iter().next().expect("one");
    a.owned
        .get_mut(&topic_id("t"))
        .expect("t")
        .retain(|p| *p == first);
    let _ = hb(&mut h, "g", &mut a);
    assert_eq!(a.epoch, epoch_a + 1);
    hb(&mut h, "g", &mut b);
    assert_eq!(count(&b), 1);
    assert_exclusive(&[a, b]);
}

#[test]
fn a_silent_member_loses_its_partitions_after_the_session_timeout() {
    let mut h = harness(&[("t", 4)]);
    let mut clients = vec![Client::new("a", &["t"]), Client::new("b", &["t"])];
    settle(&mut h, "g", &mut clients);
    // Only a heartbeats from now on.
    let mut waited = 0;
    while describe(&mut h, "g").members.len() == 2 {
        h.advance(5_000);
        waited += 5_000;
        hb(&mut h, "g", &mut clients[0]);
        assert!(waited <= i64::from(SESSION_MS) + 5_000);
    }
    assert!(waited >= i64::from(SESSION_MS));
    hb(&mut h, "g", &mut clients[0]);
    assert_eq!(count(&clients[0]), 4);
}

#[test]
fn leaving_moves_partitions_at_once() {
    let mut h = harness(&[("t", 4)]);
    let mut clients = vec![Client::new("a", &["t"]), Client::new("b", &["t"])];
    settle(&mut h, "g", &mut clients);
    let mut leave = clients[1].request("g").with_member_epoch(-1);
    leave.topic_partitions = None;
    let r = send_hb(&mut h, leave);
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    hb(&mut h, "g", &mut clients[0]);
    assert_eq!(count(&clients[0]), 4);
    // Heartbeats from the departed member are refused.
    let r = send_hb(&mut h, clients[1].request("g"));
    assert_eq!(r.error_code, codes::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_static_member_restarting_keeps_its_partitions() {
    let mut h = harness(&[("t", 4)]);
    let mut a = Client::new("a", &["t"]);
    a.instance = Some("inst-a".into());
    let mut b = Client::new("b", &["t"]);
    let mut clients = vec![a, b.clone()];
    settle(&mut h, "g", &mut clients);
    let had = clients[0].owned.clone();
    // A second process with the same instance id while a is alive is refused.
    let mut twin = Client::new("a2", &["t"]);
    twin.instance = Some("inst-a".into());
    assert_eq!(
        send_hb(&mut h, twin.request("g")).error_code,
        codes::UNRELEASED_INSTANCE_ID
    );
    // a leaves for a restart (epoch -2): nothing moves.
    let r = send_hb(&mut h, clients[0].request("g").with_member_epoch(-2));
    assert_eq!((r.error_code, r.member_epoch), (0, -2));
    b = clients[1].clone();
    hb(&mut h, "g", &mut b);
    assert_eq!(b.owned, clients[1].owned);
    // The restarted process (new member id) gets the same partitions back at once.
    let r = hb(&mut h, "g", &mut twin);
    assert_eq!(r.error_code, 0);
    assert_eq!(twin.owned, had);
    assert_eq!(describe(&mut h, "g").members.len(), 2);
}

#[test]
fn new_partitions_and_matching_topics_are_assigned_without_rejoining() {
    let mut h = harness(&[("t", 2), ("x-1", 1)]);
    let mut a = Client::new("a", &["t"]);
    let mut r = Client::new("r", &[]);
    r.regex = Some("x-.*".into());
    let mut clients = vec![a.clone(), r];
    settle(&mut h, "g", &mut clients);
    assert_eq!(count(&clients[0]), 2);
    assert_eq!(count(&clients[1]), 1);
    let epoch = describe(&mut h, "g").group_epoch;
    let effects = h.c.update_topics(
        h.now,
        catalog(&[("t", 4), ("x-1", 1), ("x-2", 2), ("y", 1)]),
    );
    h.apply(effects);
    assert_eq!(describe(&mut h, "g").group_epoch, epoch + 1);
    settle(&mut h, "g", &mut clients);
    assert_eq!(count(&clients[0]), 4);
    assert_eq!(count(&clients[1]), 3, "x-2 matched, y did not");
    a = clients[0].clone();
    // A deleted topic is taken away.
    let effects = h.c.update_topics(h.now, catalog(&[("x-1", 1), ("x-2", 2)]));
    h.apply(effects);
    let resp = hb(&mut h, "g", &mut a);
    assert_eq!(resp.error_code, 0);
    assert_eq!(count(&a), 0);
}

#[test]
fn heartbeat_errors_are_kafkas() {
    let mut h = harness_with(
        GroupConfig {
            consumer_max_size: 1,
            ..GroupConfig::default()
        },
        &[("t", 2)],
    );
    let mut a = Client::new("a", &["t"]);
    hb(&mut h, "g", &mut a);
    let err = |h: &mut Harness, req| send_hb(h, req).error_code;
    assert_eq!(
        err(&mut h, Client::new("b", &["t"]).request("g")),
        codes::GROUP_MAX_SIZE_REACHED
    );
    let bigger = a.request("g").with_member_epoch(a.epoch + 1);
    assert_eq!(err(&mut h, bigger), codes::FENCED_MEMBER_EPOCH);
    let unknown = Client {
        id: "nobody".into(),
        epoch: 1,
        ..a.clone()
    };
    assert_eq!(err(&mut h, unknown.request("g")), codes::UNKNOWN_MEMBER_ID);
    let assignor = Client::new("c", &["t"])
        .request("g")
        .with_server_assignor(Some(s("sticky")));
    assert_eq!(err(&mut h, assignor), codes::UNSUPPORTED_ASSIGNOR);
    let mut bad_regex = Client::new("c", &[]);
    bad_regex.regex = Some("(".into());
    assert_eq!(
        err(&mut h, bad_regex.request("g")),
        codes::INVALID_REGULAR_EXPRESSION
    );
    let no_member = Client::new("", &["t"]).request("g");
    assert_eq!(err(&mut h, no_member), codes::INVALID_REQUEST);
    let owned_on_join = Client::new("c", &["t"])
        .request("g")
        .with_topic_partitions(Some(a.owned_list()));
    assert_eq!(err(&mut h, owned_on_join), codes::INVALID_REQUEST);
    let bad_epoch = a.request("g").with_member_epoch(-3);
    assert_eq!(err(&mut h, bad_epoch), codes::INVALID_REQUEST);
    // A classic group with members is upgraded only if it fits, else left as it was.
    let (_, _) = stable_group(&mut h, "classic", 1);
    assert_eq!(
        err(&mut h, Client::new("c", &["t"]).request("classic")),
        codes::GROUP_MAX_SIZE_REACHED
    );
    assert_eq!(h.state("classic"), "Stable");
    // A classic member joining the consumer group is asked for its member id first.
    let join = h.join("g", "");
    assert_eq!(h.error_of(join), codes::MEMBER_ID_REQUIRED);
}

#[test]
fn commits_need_the_members_current_epoch() {
    let mut h = harness(&[("t", 2)]);
    let mut a = Client::new("a", &["t"]);
    hb(&mut h, "g", &mut a);
    let ok = commit(&mut h, "g", "a", a.epoch, &[("t", 0, 10)]);
    assert_eq!(h.error_of(ok), 0);
    let stale = commit(&mut h, "g", "a", a.epoch + 1, &[("t", 0, 11)]);
    assert_eq!(h.error_of(stale), codes::STALE_MEMBER_EPOCH);
    let unknown = commit(&mut h, "g", "zz", a.epoch, &[("t", 0, 11)]);
    assert_eq!(h.error_of(unknown), codes::UNKNOWN_MEMBER_ID);
    let classic_version = h.commit("g", "a", a.epoch, &[("t", 0, 11)]);
    assert_eq!(h.error_of(classic_version), codes::UNSUPPORTED_VERSION);
    // b joins; a gives up one partition and moves to the next epoch. A commit still
    // on its way in a's previous epoch is fine for the partition a kept, stale for
    // the one it gave up.
    let mut b = Client::new("b", &["t"]);
    hb(&mut h, "g", &mut b);
    let old = a.epoch;
    hb(&mut h, "g", &mut a);
    hb(&mut h, "g", &mut a);
    assert!(a.epoch > old);
    let kept = *a.owned[&topic_id("t")].iter().next().expect("kept one");
    let ok = commit(&mut h, "g", "a", old, &[("t", kept, 12)]);
    assert_eq!(h.error_of(ok), 0);
    let given_up = commit(&mut h, "g", "a", old, &[("t", 1 - kept, 12)]);
    assert_eq!(h.error_of(given_up), codes::STALE_MEMBER_EPOCH);
}

#[test]
fn the_group_comes_back_from_its_records() {
    let mut h = harness(&[("t", 6)]);
    let mut clients: Vec<Client> = (0..3)
        .map(|i| Client::new(&format!("m{i}"), &["t"]))
        .collect();
    settle(&mut h, "g", &mut clients);
    let c = commit(&mut h, "g", "m0", clients[0].epoch, &[("t", 0, 42)]);
    assert_eq!(h.error_of(c), 0);
    let before = describe(&mut h, "g");
    // A fresh coordinator replays the log.
    let config = h.c.config().clone();
    let mut fresh = harness(&[("t", 6)]);
    fresh.c = GroupCoordinator::with_member_ids(config.clone(), Box::new(SeededMemberIds::new(9)));
    let effects = fresh.c.update_topics(fresh.now, catalog(&[("t", 6)]));
    fresh.apply(effects);
    for p in 0..config.offsets_topic_num_partitions {
        fresh.c.begin_loading(p);
        for (offset, (partition, key, value)) in h.log.iter().enumerate() {
            if *partition == p {
                fresh
                    .c
                    .load_record(p, offset as i64, Some(key), value.as_deref());
            }
        }
        let effects = fresh.c.finish_loading(p, fresh.now);
        fresh.apply(effects);
    }
    let after = describe(&mut fresh, "g");
    assert_eq!(after, before);
    // Members carry on with their epochs; offsets are there.
    for c in clients.iter_mut() {
        let owned = c.owned.clone();
        let r = hb(&mut fresh, "g", c);
        assert_eq!((r.error_code, c.owned.clone()), (0, owned));
    }
    let (error, fetched) = fresh.fetch("g", Some(&[("t", &[0])]));
    assert_eq!((error, fetched[0].2), (0, 42));
    let id = fresh.send(5, GroupRequest::ListGroups(ListGroupsRequest::default()));
    let Some(GroupResponse::ListGroups(list)) = fresh.replies.remove(&id) else {
        panic!("no list answer");
    };
    assert_eq!(list.groups[0].group_type.as_str(), "consumer");
    assert_eq!(list.groups[0].group_state.as_str(), "Stable");
}

#[test]
fn an_empty_consumer_group_whose_offsets_expire_is_deleted_for_good() {
    let mut h = harness(&[("t", 1)]);
    let mut a = Client::new("a", &["t"]);
    hb(&mut h, "g", &mut a);
    let c = commit(&mut h, "g", "a", a.epoch, &[("t", 0, 5)]);
    assert_eq!(h.error_of(c), 0);
    let mut leave = a.request("g").with_member_epoch(-1);
    leave.topic_partitions = None;
    assert_eq!(send_hb(&mut h, leave).error_code, 0);
    let retention = h.c.config().offsets_retention_ms();
    let check = h.c.config().offsets_retention_check_interval_ms;
    h.advance(retention + check + 1);
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g"))]);
    let id = h.send(0, GroupRequest::ConsumerGroupDescribe(req));
    let Some(GroupResponse::ConsumerGroupDescribe(r)) = h.replies.remove(&id) else {
        panic!("no describe answer");
    };
    assert_eq!(r.groups[0].error_code, codes::GROUP_ID_NOT_FOUND);
    // The group's epoch records are deleted: the log's last word on type 3 is a tombstone.
    let last_epoch_record = h
        .log
        .iter()
        .rev()
        .find(|(_, k, _)| k.len() >= 2 && k[..2] == [0, 3])
        .expect("a group epoch record");
    assert!(
        last_epoch_record.2.is_none(),
        "tombstone for the group epoch"
    );
}
