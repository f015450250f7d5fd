//! Kafka's request quota (KIP-124) and its throttled Fetch (KIP-219), seen on the
//! wire. A client id with a tiny `request_percentage` sending many cheap requests is
//! told to back off in `throttle_time_ms` (at most one 1 s sample, as in Kafka) while
//! another client id beside it never is. A consumer over its `consumer_byte_rate` is
//! answered with an empty Fetch carrying the throttle, and the records it did not get
//! come in later answers: each exactly once, in order.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::alter_client_quotas_request::{
    EntityData, EntryData, OpData,
};
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use moldau_protocol::kafka::messages::{
    AlterClientQuotasRequest, BrokerId, FetchRequest, FetchResponse, MetadataRequest,
};
use moldau_protocol::kafka::records::RecordBatchDecoder;
use std::time::{Duration, Instant};
use topic_support::{create_topic, produce, s, topic_name, RawClient, NONE};

/// Requests a client may send before the test gives up on seeing a throttle.
const REQUESTS_MAX: usize = 5_000;
/// Longest a test waits for what it expects.
const WAIT: Duration = Duration::from_secs(60);
/// Kafka bounds a request quota's throttle to one sample of its window.
const REQUEST_THROTTLE_MS_MAX: i32 = 1_000;

/// Sets quota `key` to `value` for client id `client`.
fn set_client_quota(admin: &mut RawClient, client: &str, key: &str, value: f64) {
    let entry = EntryData::default()
        .with_entity(vec![EntityData::default()
            .with_entity_type(s("client-id"))
            .with_entity_name(Some(s(client)))])
        .with_ops(vec![OpData::default().with_key(s(key)).with_value(value)]);
    let altered = admin.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![entry]),
    );
    assert_eq!(altered.entries[0].error_code, NONE, "{altered:?}");
}

/// Metadata v12 for no topic at all: about the cheapest request there is.
fn cheap_metadata(client: &mut RawClient) -> i32 {
    let answer = client.call(12, &MetadataRequest::default().with_topics(Some(vec![])));
    answer.throttle_time_ms
}

#[test]
fn a_client_over_its_request_percentage_is_told_to_back_off_and_its_neighbour_is_not() {
    let broker = BrokerProcess::start(&[]);
    let mut admin = RawClient::connect(&broker.addr);
    // 0.01 percent of a handler thread is 1 ms of handling over the 10 s window.
    set_client_quota(&mut admin, "busy", "request_percentage", 0.01);

    let mut busy = RawClient::connect_as(&broker.addr, "busy");
    let deadline = Instant::now() + WAIT;
    let mut sent = 0;
    let throttle_ms = loop {
        assert!(
            sent < REQUESTS_MAX && Instant::now() < deadline,
            "{sent} requests and never throttled"
        );
        sent += 1;
        let throttle_ms = cheap_metadata(&mut busy);
        if throttle_ms > 0 {
            break throttle_ms;
        }
    };
    assert!(throttle_ms <= REQUEST_THROTTLE_MS_MAX, "{throttle_ms}");

    let mut calm = RawClient::connect_as(&broker.addr, "calm");
    for i in 0..sent {
        assert_eq!(
            cheap_metadata(&mut calm),
            0,
            "request {i} of another client id"
        );
    }
}

/// Bytes of each record's value: one record per fetch (see `PARTITION_BYTES_MAX`).
const VALUE_BYTES: usize = 20_000;
/// Records produced; together twice what the quota lets through over its window.
const RECORDS: i64 = 10;
/// The consumer's quota: 10 kB/s is 100 kB over Kafka's 10 s window.
const CONSUMER_BYTES_PER_SEC: f64 = 10_000.0;
/// Less than two batches: each fetch answers one record.
const PARTITION_BYTES_MAX: i32 = 30_000;

/// Fetch v12 (KIP-219: the client backs off by itself) of one partition from `offset`:
/// the throttle time and the (offset, first value byte) of each record returned.
fn fetch_v12(client: &mut RawClient, topic: &str, offset: i64) -> (i32, Vec<(i64, u8)>) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(PARTITION_BYTES_MAX)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(PARTITION_BYTES_MAX)])]);
    let answer: FetchResponse = client.call(12, &request);
    assert_eq!(answer.error_code, NONE);
    let mut records = Vec::new();
    for p in answer.responses.iter().flat_map(|t| &t.partitions) {
        assert_eq!(p.error_code, NONE);
        if let Some(bytes) = &p.records {
            let mut buf = bytes.clone();
            for set in RecordBatchDecoder::decode_all(&mut buf).expect("batches decode") {
                for r in set.records {
                    let first = r.value.as_ref().and_then(|v| v.first().copied());
                    records.push((r.offset, first.expect("a value")));
                }
            }
        }
    }
    (answer.throttle_time_ms, records)
}

#[test]
fn a_throttled_fetch_is_answered_empty_and_its_records_come_after_the_mute() {
    let broker = BrokerProcess::start(&[]);
    let mut admin = RawClient::connect(&broker.addr);
    let topic = "throttled-fetch";
    assert_eq!(create_topic(&mut admin, topic, 1, &[]), NONE);
    for i in 0..RECORDS {
        let value = vec![i as u8; VALUE_BYTES];
        assert_eq!(produce(&mut admin, topic, 0, 1, 0, &value), (NONE, i));
    }
    set_client_quota(
        &mut admin,
        "slow-reader",
        "consumer_byte_rate",
        CONSUMER_BYTES_PER_SEC,
    );

    let mut reader = RawClient::connect_as(&broker.addr, "slow-reader");
    let mut read: Vec<(i64, u8)> = Vec::new();
    let mut throttled = 0;
    let deadline = Instant::now() + WAIT;
    while (read.len() as i64) < RECORDS {
        assert!(Instant::now() < deadline, "read {} records", read.len());
        let next = read.last().map_or(0, |(offset, _)| offset + 1);
        let (throttle_ms, records) = fetch_v12(&mut reader, topic, next);
        if throttle_ms > 0 {
            throttled += 1;
            assert!(records.is_empty(), "a throttled answer carries no records");
        }
        read.extend(records);
    }
    assert!(
        throttled > 0,
        "twice the window's bytes and never throttled"
    );
    let expected: Vec<(i64, u8)> = (0..RECORDS).map(|i| (i, i as u8)).collect();
    assert_eq!(read, expected, "every record once, in order");
}
