//! Idempotent producers against the real broker: a batch whose acknowledgement was lost
//! and is sent again is stored once (librdkafka through a proxy that loses Produce
//! responses; raw requests for the exact answers), Kafka's error codes for a sequence
//! gap, an old epoch and a new epoch not starting at 0, and deduplication across a
//! clean restart (state from the `.snapshot`) and a kill -9 (state from the log).

use bytes::Bytes;
use moldau_e2e::{BrokerProcess, ProduceDroppingProxy, RawConnection};
use moldau_protocol::batch::{refresh_crc, set_producer, Codec};
use moldau_protocol::batch_encode::encode_timed_batch;
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::produce_response::PartitionProduceResponse;
use moldau_protocol::kafka::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
    TopicName,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);
const PRODUCE_VERSION: i16 = 8;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

fn create_topic(addr: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        ))
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Every record of partition `partition`, as (offset, value), read from the start up to
/// the high watermark.
fn consume_all(addr: &str, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "idempotence-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(topic, partition, TIMEOUT)
        .expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while out.last().map_or(high > 0, |(o, _)| o + 1 < high) {
        assert!(Instant::now() < deadline, "consuming to {high} timed out");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("consume");
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            out.push((m.offset(), value));
        }
    }
    out
}

/// Produces one raw batch (acks=all) and returns the partition's answer.
fn produce(addr: &str, topic: &str, records: &[u8]) -> PartitionProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::copy_from_slice(records)))])]);
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, PRODUCE_VERSION).expect("encode");
    let mut conn = RawConnection::connect(addr);
    let mut answer = Bytes::from(conn.call(0, PRODUCE_VERSION, false, &body));
    let mut response = ProduceResponse::decode(&mut answer, PRODUCE_VERSION).expect("decode");
    response.responses.remove(0).partition_responses.remove(0)
}

/// A batch of `count` records from producer `pid` at `epoch`, first sequence `seq`.
fn producer_batch(pid: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    let records: Vec<_> = (0..count)
        .map(|i| {
            (
                None,
                Some(Bytes::from(format!(
                    "p{pid}-e{epoch}-s{}",
                    seq as usize + i
                ))),
                now_ms(),
            )
        })
        .collect();
    let mut b = encode_timed_batch(&records, Codec::None)
        .expect("encode")
        .to_vec();
    set_producer(&mut b, pid, epoch, seq);
    refresh_crc(&mut b);
    b
}

/// (error code, base offset) of a raw produce.
fn send(addr: &str, topic: &str, batch: &[u8]) -> (i16, i64) {
    let r = produce(addr, topic, batch);
    (r.error_code, r.base_offset)
}

#[test]
fn librdkafka_retries_after_lost_produce_responses_are_stored_once() {
    const RECORDS: usize = 300;
    const LOST_RESPONSES: usize = 3;
    let listener = ProduceDroppingProxy::bind();
    let proxy_addr = listener.local_addr().expect("addr").to_string();
    let broker = BrokerProcess::start(&["--advertise", &proxy_addr]);
    let proxy = ProduceDroppingProxy::start(listener, &broker.addr, LOST_RESPONSES);
    create_topic(&proxy.addr, "idem", 1);

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &proxy.addr)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.num.messages", "20")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    for i in 0..RECORDS {
        let value = format!("v{i:04}");
        loop {
            match producer.send(BaseRecord::<(), str>::to("idem").payload(&value)) {
                Ok(()) => break,
                Err((e, _)) => {
                    assert!(format!("{e}").contains("Queue full"), "send failed: {e}");
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(TIMEOUT).expect("every record acknowledged");
    assert_eq!(
        proxy.dropped(),
        LOST_RESPONSES,
        "the proxy lost no response"
    );

    let stored = consume_all(&broker.addr, "idem", 0);
    let offsets: Vec<i64> = stored.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        offsets,
        (0..RECORDS as i64).collect::<Vec<_>>(),
        "records stored more than once, or offsets not contiguous"
    );
    let values: HashSet<&str> = stored.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values.len(), RECORDS, "a record is stored twice");
    let ordered: Vec<String> = stored.iter().map(|(_, v)| v.clone()).collect();
    let expected: Vec<String> = (0..RECORDS).map(|i| format!("v{i:04}")).collect();
    assert_eq!(ordered, expected, "records out of order");
}

#[test]
fn raw_produce_gets_kafkas_answers_for_retries_gaps_and_epochs() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topic(&addr, "raw", 1);

    let first = producer_batch(1000, 0, 0, 3);
    assert_eq!(send(&addr, "raw", &first), (0, 0));
    assert_eq!(send(&addr, "raw", &producer_batch(1000, 0, 3, 2)), (0, 3));
    // The retry of the first batch: no error, its original offset, nothing appended.
    assert_eq!(send(&addr, "raw", &first), (0, 0));
    // A gap in the sequence.
    assert_eq!(
        send(&addr, "raw", &producer_batch(1000, 0, 7, 1)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // A new epoch must start at sequence 0.
    assert_eq!(
        send(&addr, "raw", &producer_batch(1000, 1, 5, 1)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(send(&addr, "raw", &producer_batch(1000, 1, 0, 1)), (0, 5));
    // The old epoch is fenced off.
    assert_eq!(
        send(&addr, "raw", &producer_batch(1000, 0, 5, 1)).0,
        INVALID_PRODUCER_EPOCH
    );
    // A producer this partition has no state for is accepted at any sequence (Kafka
    // 2.5+, KIP-360: no UNKNOWN_PRODUCER_ID), then held to it.
    assert_eq!(send(&addr, "raw", &producer_batch(2000, 0, 40, 1)), (0, 6));
    assert_eq!(
        send(&addr, "raw", &producer_batch(2000, 0, 42, 1)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let stored = consume_all(&addr, "raw", 0);
    assert_eq!(
        stored.len(),
        7,
        "refused or retried batches were stored: {stored:?}"
    );
}

#[test]
fn retries_are_deduplicated_across_a_restart_and_a_kill_9() {
    let mut broker = BrokerProcess::start(&[]);
    create_topic(&broker.addr, "durable", 1);
    let a = producer_batch(3000, 0, 0, 2);
    let b = producer_batch(3000, 0, 2, 2);
    assert_eq!(send(&broker.addr, "durable", &a), (0, 0));

    // Clean restart: the state comes back from the snapshot written at shutdown.
    broker.stop();
    broker.restart();
    assert_eq!(send(&broker.addr, "durable", &a), (0, 0));
    assert_eq!(send(&broker.addr, "durable", &b), (0, 2));

    // kill -9: no snapshot of the last batch; the state is rebuilt from the log.
    broker.kill();
    broker.restart();
    assert_eq!(send(&broker.addr, "durable", &b), (0, 2));
    assert_eq!(
        send(&broker.addr, "durable", &producer_batch(3000, 0, 9, 1)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        send(&broker.addr, "durable", &producer_batch(3000, 0, 4, 1)),
        (0, 4)
    );
    assert_eq!(consume_all(&broker.addr, "durable", 0).len(), 5);
}

#[test]
fn idle_producers_expire_after_producer_id_expiration_ms() {
    let broker = BrokerProcess::start(&[
        "--set",
        "producer.id.expiration.ms=1000",
        "--set",
        "log.retention.check.interval.ms=100",
    ]);
    create_topic(&broker.addr, "expiring", 1);
    // Expiration counts from the batch's max timestamp (now), as Kafka's does.
    let first = producer_batch(5000, 0, 0, 1);
    assert_eq!(send(&broker.addr, "expiring", &first), (0, 0));
    // A batch with a gap is refused while the broker remembers the producer, and
    // accepted (unknown producer) once it has forgotten it.
    let gap = producer_batch(5000, 0, 9, 1);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match send(&broker.addr, "expiring", &gap) {
            (0, offset) => {
                assert_eq!(offset, 1);
                break;
            }
            (OUT_OF_ORDER_SEQUENCE_NUMBER, _) => {
                assert!(Instant::now() < deadline, "the producer never expired");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// A producer id from InitProducerId (v4, no transactional id).
fn init_producer_id(addr: &str) -> i64 {
    const VERSION: i16 = 4;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, VERSION).expect("encode");
    let mut conn = RawConnection::connect(addr);
    let mut answer = Bytes::from(conn.call(22, VERSION, true, &body));
    let response = InitProducerIdResponse::decode(&mut answer, VERSION).expect("decode");
    assert_eq!(response.error_code, 0, "InitProducerId failed");
    assert_eq!(response.producer_epoch, 0);
    response.producer_id.0
}

#[test]
fn producer_ids_come_from_blocks_that_never_repeat_across_restarts_and_kill_9() {
    let mut broker = BrokerProcess::start(&[]);
    let mut seen = HashSet::new();
    let mut take = |addr: &str| {
        let ids: Vec<i64> = (0..5).map(|_| init_producer_id(addr)).collect();
        for id in &ids {
            assert!(seen.insert(*id), "producer id {id} handed out twice");
        }
        ids
    };
    // Kafka's blocks: 1000 ids each, the first from 0; a restarted broker claims the
    // next block rather than reusing the rest of its last one.
    assert_eq!(take(&broker.addr), vec![0, 1, 2, 3, 4]);
    broker.stop();
    broker.restart();
    assert_eq!(take(&broker.addr), vec![1000, 1001, 1002, 1003, 1004]);
    broker.kill();
    broker.restart();
    assert_eq!(take(&broker.addr), vec![2000, 2001, 2002, 2003, 2004]);
}
