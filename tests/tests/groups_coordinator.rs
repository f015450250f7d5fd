//! The coordinator on the wire, with a bare protocol client: first use of the offsets
//! topic, batched FindCoordinator and OffsetFetch, static-member fencing.

mod groups_support;

use groups_support::raw::*;
use groups_support::*;
use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_request::OffsetFetchRequestGroup;
use moldau_protocol::kafka::messages::sync_group_request::SyncGroupRequestAssignment;
use moldau_protocol::kafka::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;

#[test]
fn on_first_use_a_named_coordinator_serves_joins_at_once() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    create_topic(&broker.addr, "first", 1);
    // Several clients race to create __consumer_offsets; whoever is told where the
    // coordinator is must be able to join there right away.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let addr = broker.addr.clone();
            std::thread::spawn(move || {
                let group = format!("first-use-{i}");
                let mut raw = RawClient::connect(&addr);
                raw.wait_for_coordinator(&group);
                raw.call(5, &join_request(&group, "first", "", None, 10_000, 10_000))
                    .error_code
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("client thread"), MEMBER_ID_REQUIRED);
    }
}

#[test]
fn find_coordinator_v4_answers_every_key_of_a_batch() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let mut raw = RawClient::connect(&broker.addr);
    raw.wait_for_coordinator("warm-up");
    let keys = ["alpha", "beta", "gamma"];
    let r = raw.call(
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(keys.iter().map(|k| s(k)).collect()),
    );
    let port = broker.port() as i32;
    let answered: Vec<(String, i16, i32, i32)> = r
        .coordinators
        .iter()
        .map(|c| (c.key.to_string(), c.error_code, c.node_id.0, c.port))
        .collect();
    assert_eq!(
        answered,
        keys.iter()
            .map(|k| (k.to_string(), 0, 1, port))
            .collect::<Vec<_>>()
    );
}

#[test]
fn offset_fetch_v8_returns_several_groups_at_once() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let topic = "multi";
    create_topic(&broker.addr, topic, 2);
    for (group, offset) in [("reader-a", 5), ("reader-b", 9)] {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 1, Offset::Offset(offset))
            .expect("offset");
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    }
    let mut raw = RawClient::connect(&broker.addr);
    let groups = ["reader-a", "reader-b", "reader-none"]
        .iter()
        .map(|g| {
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(g)))
                .with_topics(None) // all topics
        })
        .collect();
    let r = raw.call(8, &OffsetFetchRequest::default().with_groups(groups));
    let mut got = BTreeMap::new();
    for g in &r.groups {
        assert_eq!(g.error_code, 0, "{g:?}");
        for t in &g.topics {
            for p in &t.partitions {
                got.insert(
                    (
                        g.group_id.to_string(),
                        t.name.to_string(),
                        p.partition_index,
                    ),
                    p.committed_offset,
                );
            }
        }
    }
    let key = |g: &str| (g.to_string(), topic.to_string(), 1);
    assert_eq!(got.get(&key("reader-a")), Some(&5));
    assert_eq!(got.get(&key("reader-b")), Some(&9));
    assert!(got.keys().all(|(g, _, _)| g != "reader-none"), "{got:?}");
}

#[test]
fn a_second_static_member_with_the_same_instance_id_fences_the_first() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("fenced", "fence");
    create_topic(&broker.addr, topic, 2);
    let join = |raw: &mut RawClient| {
        raw.call(
            5,
            &join_request(group, topic, "", Some("the-one"), 10_000, 10_000),
        )
    };
    let sync = |raw: &mut RawClient, generation: i32, member: &str, leader: bool| {
        let assignments = if leader {
            vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(member))
                .with_assignment(assignment(topic, &[0, 1]))]
        } else {
            Vec::new()
        };
        raw.call(
            3,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_group_instance_id(Some(s("the-one")))
                .with_assignments(assignments),
        )
    };
    let heartbeat = |raw: &mut RawClient, generation: i32, member: &str| {
        raw.call(
            3,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_group_instance_id(Some(s("the-one"))),
        )
        .error_code
    };

    let mut first = RawClient::connect(&broker.addr);
    first.wait_for_coordinator(group);
    // A static member gets its id at once (no MEMBER_ID_REQUIRED round).
    let a = join(&mut first);
    assert_eq!(a.error_code, 0);
    let a_id = a.member_id.to_string();
    let synced = sync(&mut first, a.generation_id, &a_id, true);
    assert_eq!(synced.error_code, 0);
    assert_eq!(heartbeat(&mut first, a.generation_id, &a_id), 0);

    // The same instance id joins again (a restarted process): it takes the place of
    // the first, keeps the generation and the assignment, and the first is fenced.
    let mut second = RawClient::connect(&broker.addr);
    let b = join(&mut second);
    assert_eq!(b.error_code, 0);
    assert_ne!(b.member_id.to_string(), a_id);
    assert_eq!(b.generation_id, a.generation_id, "no rebalance");
    let b_id = b.member_id.to_string();
    let synced = sync(&mut second, b.generation_id, &b_id, false);
    assert_eq!(synced.error_code, 0);
    assert_eq!(
        decode_assignment(&synced.assignment).expect("assignment")[topic],
        vec![0, 1]
    );
    assert_eq!(
        heartbeat(&mut first, a.generation_id, &a_id),
        FENCED_INSTANCE_ID
    );
    assert_eq!(heartbeat(&mut second, b.generation_id, &b_id), 0);
    let g = describe_group(&broker.addr, group).expect("group");
    assert_eq!(g.state, "Stable");
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_id, b_id);
}

/// OffsetCommit v7 of one partition; returns its error code.
fn commit(
    raw: &mut RawClient,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offset: i64,
) -> i16 {
    let r = raw.call(
        7,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]),
    );
    r.topics[0].partitions[0].error_code
}

/// Joins `group` alone as a dynamic member and takes partition 0; (generation, id).
fn join_alone(raw: &mut RawClient, group: &str, topic: &str) -> (i32, String) {
    raw.wait_for_coordinator(group);
    let first = raw.call(5, &join_request(group, topic, "", None, 10_000, 10_000));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let id = first.member_id.to_string();
    let joined = raw.call(5, &join_request(group, topic, &id, None, 10_000, 10_000));
    assert_eq!(joined.error_code, 0);
    let synced = raw.call(
        3,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(s(&id))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&id))
                .with_assignment(assignment(topic, &[0]))]),
    );
    assert_eq!(synced.error_code, 0);
    (joined.generation_id, id)
}

#[test]
fn commits_from_a_stale_generation_or_an_unknown_member_are_rejected() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("strict", "accounts");
    create_topic(&broker.addr, topic, 1);
    let mut raw = RawClient::connect(&broker.addr);
    let (generation, id) = join_alone(&mut raw, group, topic);

    assert_eq!(commit(&mut raw, group, generation, &id, topic, 10), 0);
    assert_eq!(
        commit(&mut raw, group, generation + 1, &id, topic, 20),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(&mut raw, group, generation, "impostor", topic, 30),
        UNKNOWN_MEMBER_ID
    );
    // A simple consumer (no membership) may not commit into a group with members.
    assert_eq!(
        commit(&mut raw, group, -1, "", topic, 40),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(committed(&broker.addr, group, topic, 1), vec![10]);
    // ... but may once the group is empty.
    assert_eq!(commit(&mut raw, "simple-only", -1, "", topic, 50), 0);
    assert_eq!(committed(&broker.addr, "simple-only", topic, 1), vec![50]);
}

#[test]
fn a_full_group_refuses_a_new_member() {
    let broker = BrokerProcess::start(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "group.max.size=1",
    ]);
    let (group, topic) = ("tiny", "seats");
    create_topic(&broker.addr, topic, 1);
    let mut first = RawClient::connect(&broker.addr);
    join_alone(&mut first, group, topic);

    let mut second = RawClient::connect(&broker.addr);
    let r = second.call(5, &join_request(group, topic, "", None, 10_000, 10_000));
    let code = if r.error_code == MEMBER_ID_REQUIRED {
        let id = r.member_id.to_string();
        second
            .call(5, &join_request(group, topic, &id, None, 10_000, 10_000))
            .error_code
    } else {
        r.error_code
    };
    assert_eq!(code, GROUP_MAX_SIZE_REACHED);
    let g = describe_group(&broker.addr, group).expect("group");
    assert_eq!((g.state.as_str(), g.members.len()), ("Stable", 1));
}

/// OffsetDelete v0 of partition 0 of `topic`; (group error, partition error).
fn delete_offset(raw: &mut RawClient, group: &str, topic: &str) -> (i16, i16) {
    let r = raw.call(
        0,
        &OffsetDeleteRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0)
                ])]),
    );
    let partition = r
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(-1, |p| p.error_code);
    (r.error_code, partition)
}

#[test]
fn offset_delete_removes_offsets_of_topics_the_group_does_not_consume() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let topic = "trimmed";
    create_topic(&broker.addr, topic, 1);
    let mut raw = RawClient::connect(&broker.addr);
    raw.wait_for_coordinator("idle-group");

    // An empty group: the offset goes.
    assert_eq!(commit(&mut raw, "idle-group", -1, "", topic, 12), 0);
    assert_eq!(delete_offset(&mut raw, "idle-group", topic), (0, 0));
    assert_eq!(committed(&broker.addr, "idle-group", topic, 1), vec![-1]);

    // A group whose member consumes the topic keeps it.
    let (generation, id) = join_alone(&mut raw, "busy-group", topic);
    assert_eq!(commit(&mut raw, "busy-group", generation, &id, topic, 7), 0);
    assert_eq!(
        delete_offset(&mut raw, "busy-group", topic),
        (0, GROUP_SUBSCRIBED_TO_TOPIC)
    );
    assert_eq!(committed(&broker.addr, "busy-group", topic, 1), vec![7]);
}
