//! Members that stop making progress: one exceeds its rebalance timeout (the client's
//! max.poll.interval.ms) while still heartbeating and is removed by the broker; a
//! librdkafka application that stops polling is removed and the others take over.

mod groups_support;

use groups_support::raw::*;
use groups_support::*;
use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::sync_group_request::SyncGroupRequestAssignment;
use moldau_protocol::kafka::messages::{GroupId, HeartbeatRequest, SyncGroupRequest};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;

#[test]
fn a_member_that_misses_its_rebalance_timeout_is_removed_and_the_others_take_over() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("slow", "work");
    create_topic(&broker.addr, topic, PARTITIONS);

    // The raw member joins alone, leads, and assigns itself every partition. Its
    // session (30 s) outlives the test; only its rebalance timeout can remove it.
    let mut raw = RawClient::connect(&broker.addr);
    raw.wait_for_coordinator(group);
    let join = |member_id: &str| join_request(group, topic, member_id, None, 30_000, 3_000);
    let first = raw.call(5, &join(""));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let member_id = first.member_id.to_string();
    let joined = raw.call(5, &join(&member_id));
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.as_str(), member_id);
    let all: Vec<i32> = (0..PARTITIONS).collect();
    let synced = raw.call(
        3,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(s(&member_id))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&member_id))
                .with_assignment(assignment(topic, &all))]),
    );
    assert_eq!(synced.error_code, 0);
    assert_eq!(
        decode_assignment(&synced.assignment).expect("assignment")[topic],
        all
    );

    // It keeps heartbeating but never rejoins.
    let codes = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let heartbeats = {
        let (codes, stop, member_id) = (codes.clone(), stop.clone(), member_id.clone());
        let generation = joined.generation_id;
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let r = raw.call(
                    3,
                    &HeartbeatRequest::default()
                        .with_group_id(GroupId(s(group)))
                        .with_generation_id(generation)
                        .with_member_id(s(&member_id)),
                );
                codes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(r.error_code);
                if r.error_code == UNKNOWN_MEMBER_ID {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    let view = new_view();
    let spec = MemberSpec {
        group,
        topic,
        commit_each: false,
        config: &[("max.poll.interval.ms", "6000")],
    };
    let taker = Member::start(&broker.addr, "taker", &spec, &view);
    let g = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &["taker"]);
    assert_eq!(g.members.len(), 1, "the raw member was removed");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&UNKNOWN_MEMBER_ID)
    {
        assert!(
            Instant::now() < deadline,
            "raw member never told it is gone"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    heartbeats.join().expect("heartbeat thread");
    let codes = codes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        codes.contains(&REBALANCE_IN_PROGRESS),
        "heartbeats announced the rebalance first: {codes:?}"
    );
    taker.close();
}

#[test]
fn a_consumer_that_stops_polling_is_removed_and_the_others_take_over() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("stalling", "tasks");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let spec = MemberSpec {
        group,
        topic,
        commit_each: false,
        config: &[("max.poll.interval.ms", "6000")],
    };
    let stuck = Member::start(&broker.addr, "stuck", &spec, &view);
    let healthy = Member::start(&broker.addr, "healthy", &spec, &view);
    wait_for_settled(
        &broker.addr,
        &view,
        group,
        topic,
        PARTITIONS,
        &["stuck", "healthy"],
    );
    stuck.stall();
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &["healthy"]);
    assert!(lock(&view).violations.is_empty());
    drop(stuck);
    healthy.close();
}
