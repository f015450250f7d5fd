//! Kafka's throttling of a client over its quota, seen on the wire. From Produce v6
//! (KIP-219) the client is answered at once with `throttle_time_ms` and the broker
//! then reads none of the connection's requests until that time has passed; an older
//! version's answer is held back instead, and the connection with it. Observed by
//! order, not by clock: a request pipelined behind the throttled one is appended after
//! a record another client sends once the throttle is known.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::alter_client_quotas_request::{
    EntityData, EntryData, OpData,
};
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::{AlterClientQuotasRequest, ProduceRequest};
use std::time::{Duration, Instant};
use topic_support::{create_topic, fetch, produce, s, topic_name, RawClient, NONE};

/// The quota the noisy clients get, in bytes per second.
const QUOTA_BYTES_PER_SEC: f64 = 10_000.0;
/// One record this big is 1.75 times the quota over Kafka's 10 s window: a throttle
/// of about 7.5 s, far longer than the other client needs for its record.
const NOISY_VALUE_BYTES: usize = 175_000;

fn produce_request(topic: &str, value: &[u8]) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(topic_support::batch(0, value)))])])
}

/// A broker with topic `topic` and a producer quota on client id `client`.
fn broker_with_quota(topic: &str, client: &str) -> BrokerProcess {
    let broker = BrokerProcess::start(&[]);
    let mut admin = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut admin, topic, 1, &[]), NONE);
    let entry = EntryData::default()
        .with_entity(vec![EntityData::default()
            .with_entity_type(s("client-id"))
            .with_entity_name(Some(s(client)))])
        .with_ops(vec![OpData::default()
            .with_key(s("producer_byte_rate"))
            .with_value(QUOTA_BYTES_PER_SEC)]);
    let altered = admin.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![entry]),
    );
    assert_eq!(altered.entries[0].error_code, NONE);
    broker
}

/// Longest wait for the noisy record to be appended.
const APPEND_WAIT: Duration = Duration::from_secs(30);

/// Fetches until the topic's first record can be read.
fn wait_for_first_record(client: &mut RawClient, topic: &str) {
    let deadline = Instant::now() + APPEND_WAIT;
    loop {
        let (code, records) = fetch(client, topic, 0, 0);
        assert_eq!(code, NONE);
        if !records.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the noisy record never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends, on the noisy connection, a record far over the quota and pipelined behind
/// it a second one, at `version`; once the first answer (or, for an old version,
/// the append) is done, another client appends a record. Returns (the first answer's
/// throttle time, the other client's offset, the pipelined record's offset).
fn pipelined_behind_a_throttle(version: i16, answer_first: bool) -> (i32, i64, i64) {
    let topic = format!("throttled-v{version}");
    let client: &'static str = if answer_first {
        "noisy-new"
    } else {
        "noisy-old"
    };
    let broker = broker_with_quota(&topic, client);
    let mut noisy = RawClient::connect_as(&broker.addr, client);
    let mut other = RawClient::connect_as(&broker.addr, "other");

    let big = vec![1u8; NOISY_VALUE_BYTES];
    let first = noisy.send(version, &produce_request(&topic, &big));
    let second = noisy.send(version, &produce_request(&topic, b"pipelined"));
    let mut throttle_ms = -1;
    if answer_first {
        let answer = noisy.receive_answer::<ProduceRequest>(version, first);
        assert_eq!(answer.responses[0].partition_responses[0].error_code, NONE);
        assert_eq!(answer.responses[0].partition_responses[0].base_offset, 0);
        throttle_ms = answer.throttle_time_ms;
    } else {
        wait_for_first_record(&mut other, &topic);
    }
    // The noisy connection is muted now: the other client's record goes first.
    let (code, other_offset) = produce(&mut other, &topic, 0, 1, 0, b"other");
    assert_eq!(code, NONE);
    if !answer_first {
        let answer = noisy.receive_answer::<ProduceRequest>(version, first);
        assert_eq!(answer.responses[0].partition_responses[0].base_offset, 0);
        throttle_ms = answer.throttle_time_ms;
    }
    let pipelined = noisy.receive_answer::<ProduceRequest>(version, second);
    let pipelined = &pipelined.responses[0].partition_responses[0];
    assert_eq!(pipelined.error_code, NONE);
    (throttle_ms, other_offset, pipelined.base_offset)
}

#[test]
fn a_kip_219_client_is_answered_at_once_then_its_connection_is_muted() {
    let (throttle_ms, other_offset, pipelined_offset) = pipelined_behind_a_throttle(9, true);
    assert!(throttle_ms > 0, "the answer carries the throttle time");
    assert_eq!(
        (other_offset, pipelined_offset),
        (1, 2),
        "the pipelined request was read only after the mute"
    );
}

#[test]
fn an_old_version_is_answered_after_the_throttle_and_its_connection_waits_with_it() {
    let (throttle_ms, other_offset, pipelined_offset) = pipelined_behind_a_throttle(5, false);
    assert!(throttle_ms > 0, "the answer carries the throttle time");
    assert_eq!(
        (other_offset, pipelined_offset),
        (1, 2),
        "the pipelined request waited for the held-back answer"
    );
}
