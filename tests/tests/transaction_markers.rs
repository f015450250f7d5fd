//! The log side of transactions against the real broker, without a coordinator:
//! transactional batches written with raw Produce, COMMIT/ABORT markers with raw
//! WriteTxnMarkers (as a transaction coordinator sends them), then librdkafka with
//! `isolation.level=read_committed` sees only committed records and stops at an open
//! transaction, read_uncommitted sees everything, Fetch and ListOffsets report the
//! last stable offset and the aborted transactions, and a restart (clean or kill -9)
//! in the middle of an open transaction keeps it open.

use bytes::{Bytes, BytesMut};
use moldau_e2e::{BrokerProcess, RawConnection};
use moldau_protocol::batch::{refresh_crc, set_producer, Codec, TRANSACTIONAL_BIT};
use moldau_protocol::batch_encode::encode_timed_batch;
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use moldau_protocol::kafka::messages::fetch_response::PartitionData;
use moldau_protocol::kafka::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use moldau_protocol::kafka::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest,
    ProduceResponse, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a consumer must stay quiet to show it stopped at the LSO.
const QUIET: Duration = Duration::from_millis(1500);
const PRODUCE_VERSION: i16 = 8;
const FETCH_VERSION: i16 = 11;
const LIST_OFFSETS_VERSION: i16 = 5;
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
const WRITE_TXN_MARKERS_KEY: i16 = 27;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
const ATTRIBUTES_LOW_BYTE_AT: usize = 22;
const COORDINATOR_EPOCH: i32 = 5;

fn create_topic(addr: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        ))
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A batch with `values`; transactional for `(producer id, epoch, sequence)`.
fn batch(values: &[&str], txn: Option<(i64, i16, i32)>) -> Vec<u8> {
    let records: Vec<_> = values
        .iter()
        .map(|v| (None, Some(Bytes::from(v.to_string())), now_ms()))
        .collect();
    let mut b = encode_timed_batch(&records, Codec::None)
        .expect("encode")
        .to_vec();
    if let Some((pid, epoch, seq)) = txn {
        b[ATTRIBUTES_LOW_BYTE_AT] |= TRANSACTIONAL_BIT as u8;
        set_producer(&mut b, pid, epoch, seq);
        refresh_crc(&mut b);
    }
    b
}

/// Produces one raw batch (acks=all); returns (error code, base offset).
fn produce(addr: &str, topic: &str, records: Vec<u8>) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(records)))])]);
    let mut body = BytesMut::new();
    request.encode(&mut body, PRODUCE_VERSION).expect("encode");
    let mut answer =
        Bytes::from(RawConnection::connect(addr).call(0, PRODUCE_VERSION, false, &body));
    let mut response = ProduceResponse::decode(&mut answer, PRODUCE_VERSION).expect("decode");
    let p = response.responses.remove(0).partition_responses.remove(0);
    (p.error_code, p.base_offset)
}

/// Sends one marker for `partitions` of `topic`; returns each partition's error code.
fn write_marker(
    addr: &str,
    topic: &str,
    partitions: &[i32],
    producer: (i64, i16),
    commit: bool,
    coordinator_epoch: i32,
) -> Vec<i16> {
    let request =
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(producer.0))
            .with_producer_epoch(producer.1)
            .with_transaction_result(commit)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_indexes(partitions.to_vec())])]);
    let mut body = BytesMut::new();
    request
        .encode(&mut body, WRITE_TXN_MARKERS_VERSION)
        .expect("encode");
    let mut answer = Bytes::from(RawConnection::connect(addr).call(
        WRITE_TXN_MARKERS_KEY,
        WRITE_TXN_MARKERS_VERSION,
        true,
        &body,
    ));
    let response =
        WriteTxnMarkersResponse::decode(&mut answer, WRITE_TXN_MARKERS_VERSION).expect("decode");
    assert_eq!(response.markers.len(), 1);
    assert_eq!(response.markers[0].producer_id.0, producer.0);
    response.markers[0].topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

fn commit(addr: &str, topic: &str, producer: (i64, i16)) {
    assert_eq!(
        write_marker(addr, topic, &[0], producer, true, COORDINATOR_EPOCH),
        vec![0]
    );
}

fn abort(addr: &str, topic: &str, producer: (i64, i16)) {
    assert_eq!(
        write_marker(addr, topic, &[0], producer, false, COORDINATOR_EPOCH),
        vec![0]
    );
}

/// A raw read_committed Fetch of partition 0 from `offset`.
fn fetch_committed(addr: &str, topic: &str, offset: i64) -> PartitionData {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let mut body = BytesMut::new();
    request.encode(&mut body, FETCH_VERSION).expect("encode");
    let mut answer = Bytes::from(RawConnection::connect(addr).call(1, FETCH_VERSION, false, &body));
    let mut response = FetchResponse::decode(&mut answer, FETCH_VERSION).expect("decode");
    response.responses.remove(0).partitions.remove(0)
}

/// ListOffsets(latest) of partition 0 with `isolation_level`.
fn latest_offset(addr: &str, topic: &str, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let mut body = BytesMut::new();
    request
        .encode(&mut body, LIST_OFFSETS_VERSION)
        .expect("encode");
    let mut answer =
        Bytes::from(RawConnection::connect(addr).call(2, LIST_OFFSETS_VERSION, false, &body));
    let response = ListOffsetsResponse::decode(&mut answer, LIST_OFFSETS_VERSION).expect("decode");
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

fn consumer(addr: &str, topic: &str, isolation: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("txn-check-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    consumer
}

/// Polls until `count` records arrived; returns their values.
fn poll_values(consumer: &BaseConsumer, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {out:?} of {count} records arrived"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// Polls for `QUIET` and returns whatever arrived (expected: nothing).
fn poll_more(consumer: &BaseConsumer) -> Vec<String> {
    let mut out = Vec::new();
    let until = Instant::now() + QUIET;
    while Instant::now() < until {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

const A: (i64, i16) = (1_000, 0);
const B: (i64, i16) = (2_000, 3);
const C: (i64, i16) = (3_000, 1);

#[test]
fn read_committed_sees_committed_records_only_and_stops_at_an_open_transaction() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topic(&addr, "txn");
    assert_eq!(produce(&addr, "txn", batch(&["plain-0"], None)), (0, 0));
    assert_eq!(
        produce(&addr, "txn", batch(&["a-0", "a-1"], Some((A.0, A.1, 0)))),
        (0, 1)
    );
    assert_eq!(
        produce(&addr, "txn", batch(&["b-0"], Some((B.0, B.1, 0)))),
        (0, 3)
    );
    commit(&addr, "txn", A); // 4
    abort(&addr, "txn", B); // 5
    assert_eq!(
        produce(&addr, "txn", batch(&["c-0"], Some((C.0, C.1, 0)))),
        (0, 6)
    );
    assert_eq!(produce(&addr, "txn", batch(&["plain-1"], None)), (0, 7));

    // The LSO is the open transaction's start; the high watermark is past it.
    assert_eq!(latest_offset(&addr, "txn", 1), 6);
    assert_eq!(latest_offset(&addr, "txn", 0), 8);
    let fetched = fetch_committed(&addr, "txn", 0);
    assert_eq!(fetched.error_code, 0);
    assert_eq!((fetched.high_watermark, fetched.last_stable_offset), (8, 6));
    let aborted: Vec<(i64, i64)> = fetched
        .aborted_transactions
        .unwrap_or_default()
        .iter()
        .map(|t| (t.producer_id.0, t.first_offset))
        .collect();
    assert_eq!(aborted, vec![(B.0, 3)]);
    // From past the aborted transaction, it is not listed.
    let later = fetch_committed(&addr, "txn", 6);
    assert!(later.aborted_transactions.unwrap_or_default().is_empty());

    let committed = consumer(&addr, "txn", "read_committed");
    assert_eq!(poll_values(&committed, 3), ["plain-0", "a-0", "a-1"]);
    assert_eq!(
        poll_more(&committed),
        Vec::<String>::new(),
        "stops at the LSO"
    );
    let uncommitted = consumer(&addr, "txn", "read_uncommitted");
    assert_eq!(
        poll_values(&uncommitted, 6),
        ["plain-0", "a-0", "a-1", "b-0", "c-0", "plain-1"]
    );

    // Committing the open transaction releases the rest to the waiting consumer.
    commit(&addr, "txn", C);
    assert_eq!(poll_values(&committed, 2), ["c-0", "plain-1"]);
    assert_eq!(latest_offset(&addr, "txn", 1), 9);
}

#[test]
fn write_txn_markers_answers_kafkas_errors() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topic(&addr, "fenced");
    assert_eq!(
        produce(&addr, "fenced", batch(&["x"], Some((A.0, 2, 0)))).0,
        0
    );
    // An unknown partition, beside one that takes the marker.
    assert_eq!(
        write_marker(&addr, "fenced", &[0, 7], (A.0, 2), true, COORDINATOR_EPOCH),
        vec![0, UNKNOWN_TOPIC_OR_PARTITION]
    );
    // An older producer epoch; an older coordinator epoch.
    assert_eq!(
        write_marker(&addr, "fenced", &[0], (A.0, 1), false, COORDINATOR_EPOCH),
        vec![INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(
        write_marker(
            &addr,
            "fenced",
            &[0],
            (A.0, 2),
            false,
            COORDINATOR_EPOCH - 1
        ),
        vec![TRANSACTION_COORDINATOR_FENCED]
    );
    // A producer without an open transaction: written, closes nothing.
    assert_eq!(
        write_marker(&addr, "fenced", &[0], (B.0, 0), false, COORDINATOR_EPOCH),
        vec![0]
    );
    assert_eq!(latest_offset(&addr, "fenced", 1), 3);
    // A marker at a newer epoch fences the producer's older transactional batches,
    // and a non-transactional batch during an open transaction is refused.
    assert_eq!(
        write_marker(&addr, "fenced", &[0], (A.0, 3), false, COORDINATOR_EPOCH),
        vec![0]
    );
    assert_eq!(
        produce(&addr, "fenced", batch(&["old"], Some((A.0, 2, 1)))).0,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        produce(&addr, "fenced", batch(&["y"], Some((A.0, 3, 0)))).0,
        0
    );
    let mut plain = batch(&["z"], None);
    set_producer(&mut plain, A.0, 3, 1);
    refresh_crc(&mut plain);
    assert_eq!(produce(&addr, "fenced", plain).0, INVALID_TXN_STATE);
}

#[test]
fn an_open_transaction_stays_open_across_a_restart_and_a_kill_9() {
    let mut broker = BrokerProcess::start(&[]);
    create_topic(&broker.addr, "restart");
    let addr = broker.addr.clone();
    produce(&addr, "restart", batch(&["before"], None));
    produce(&addr, "restart", batch(&["open-0"], Some((C.0, C.1, 0))));
    produce(&addr, "restart", batch(&["aborted"], Some((B.0, B.1, 0))));
    abort(&addr, "restart", B);
    produce(&addr, "restart", batch(&["after"], None));
    assert_eq!(latest_offset(&addr, "restart", 1), 1);

    broker.stop();
    broker.restart();
    assert_eq!(
        latest_offset(&broker.addr, "restart", 1),
        1,
        "clean restart"
    );
    broker.kill();
    broker.restart();
    let addr = broker.addr.clone();
    assert_eq!(latest_offset(&addr, "restart", 1), 1, "after kill -9");
    let fetched = fetch_committed(&addr, "restart", 0);
    assert_eq!(fetched.last_stable_offset, 1);

    // The transaction continues after the restart and commits.
    produce(&addr, "restart", batch(&["open-1"], Some((C.0, C.1, 1))));
    commit(&addr, "restart", C);
    let committed = consumer(&addr, "restart", "read_committed");
    assert_eq!(
        poll_values(&committed, 4),
        ["before", "open-0", "after", "open-1"]
    );
    let aborted: Vec<(i64, i64)> = fetch_committed(&addr, "restart", 0)
        .aborted_transactions
        .unwrap_or_default()
        .iter()
        .map(|t| (t.producer_id.0, t.first_offset))
        .collect();
    assert_eq!(aborted, vec![(B.0, 2)], "rebuilt or reloaded .txnindex");
}
