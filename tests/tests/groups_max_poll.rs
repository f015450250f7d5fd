//! Members that stop making progress: one exceeds its rebalance timeout (the client's
//! max.poll.interval.ms) while still heartbeating and is removed by the broker; a
//! librdkafka application that stops polling is removed and the others take over.

mod groups_support;

use bytes::{Bytes, BytesMut};
use groups_support::*;
use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::join_group_request::JoinGroupRequestProtocol;
use moldau_protocol::kafka::messages::sync_group_request::SyncGroupRequestAssignment;
use moldau_protocol::kafka::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, RequestHeader,
    ResponseHeader, SyncGroupRequest,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;
const MEMBER_ID_REQUIRED: i16 = 79;
const REBALANCE_IN_PROGRESS: i16 = 27;
const UNKNOWN_MEMBER_ID: i16 = 25;
/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
const COORDINATOR_RETRIABLE: [i16; 3] = [14, 15, 16];
/// Largest response the raw client accepts.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

/// A bare Kafka connection speaking just enough of the group protocol.
struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    fn connect(addr: &str) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        RawClient {
            stream,
            correlation_id: 0,
        }
    }

    fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("raw-member")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("header encodes");
        request.encode(&mut body, version).expect("request encodes");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).expect("send");
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("response size");
        let size = i32::from_be_bytes(size) as usize;
        assert!(size <= RESPONSE_BYTES_MAX, "response of {size} bytes");
        let mut buf = vec![0u8; size];
        self.stream.read_exact(&mut buf).expect("response");
        let mut buf = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut buf, R::Response::header_version(version))
            .expect("response header");
        assert_eq!(h.correlation_id, self.correlation_id);
        R::Response::decode(&mut buf, version).expect("response decodes")
    }
}

/// Consumer-protocol subscription v0 to one topic.
fn subscription(topic: &str) -> Bytes {
    let mut v = 0i16.to_be_bytes().to_vec();
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    v.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(v)
}

/// Consumer-protocol assignment v0 of `partitions` of one topic.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut v = 0i16.to_be_bytes().to_vec();
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    v.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for p in partitions {
        v.extend_from_slice(&p.to_be_bytes());
    }
    v.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(v)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[test]
fn a_member_that_misses_its_rebalance_timeout_is_removed_and_the_others_take_over() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("slow", "work");
    create_topic(&broker.addr, topic, PARTITIONS);

    // The raw member joins alone, leads, and assigns itself every partition. Its
    // session (30 s) outlives the test; only its rebalance timeout can remove it.
    let mut raw = RawClient::connect(&broker.addr);
    // FindCoordinator creates __consumer_offsets on first use; ask until it is served.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let found = raw.call(1, &FindCoordinatorRequest::default().with_key(s(group)));
        if found.error_code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no coordinator: {found:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let join = |member_id: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(3_000)
            .with_member_id(s(member_id))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(topic))])
    };
    // The offsets partition may still be loading: retry what Kafka calls retriable.
    let first = loop {
        let r = raw.call(5, &join(""));
        if !COORDINATOR_RETRIABLE.contains(&r.error_code) {
            break r;
        }
        assert!(Instant::now() < deadline, "coordinator never ready: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
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
