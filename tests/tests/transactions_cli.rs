//! `moldau transactions` (as kafka-transactions.sh) and DescribeProducers against
//! the real broker: a transactional batch written with raw Produce and never ended
//! (no coordinator knows it) is shown by describe-producers, found by find-hanging
//! while a live librdkafka transaction is not, and aborted with an ABORT marker,
//! which moves the last stable offset past it; list and describe show the live
//! transaction; unknown ids and partitions fail with a clear message and exit 1.

use bytes::{Bytes, BytesMut};
use moldau_e2e::{moldau_bin, BrokerProcess, RawConnection};
use moldau_protocol::batch::{refresh_crc, set_producer, Codec, TRANSACTIONAL_BIT};
use moldau_protocol::batch_encode::encode_timed_batch;
use moldau_protocol::kafka::messages::describe_producers_request::TopicRequest;
use moldau_protocol::kafka::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::{
    BrokerId, DescribeProducersRequest, DescribeProducersResponse, ListOffsetsRequest,
    ListOffsetsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::process::{Command, Output};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
const PRODUCE_VERSION: i16 = 8;
const LIST_OFFSETS_VERSION: i16 = 5;
const DESCRIBE_PRODUCERS_KEY: i16 = 61;
const DESCRIBE_PRODUCERS_VERSION: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ATTRIBUTES_LOW_BYTE_AT: usize = 22;
/// The hanging transaction's producer: an id no coordinator handed out.
const HANGING_PRODUCER_ID: i64 = 987_654;
const HANGING_PRODUCER_EPOCH: i16 = 3;
/// How old the hanging transaction's record is: past a 1-minute timeout.
const HANGING_AGE_MS: i64 = 5 * 60_000;
const LIVE_TRANSACTIONAL_ID: &str = "live-tx";

fn moldau(addr: &str, args: &[&str]) -> Output {
    Command::new(moldau_bin())
        .args(["--bootstrap", addr, "--timeout", "20s", "transactions"])
        .args(args)
        .output()
        .expect("running moldau")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs a subcommand that must succeed; returns its output.
fn ok(addr: &str, args: &[&str]) -> String {
    let out = moldau(addr, args);
    assert!(
        out.status.success(),
        "moldau transactions {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Runs a subcommand that must fail with exit code 1; returns its stderr.
fn fails(addr: &str, args: &[&str]) -> String {
    let out = moldau(addr, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "moldau transactions {args:?} should fail: {}",
        stdout(&out)
    );
    stderr(&out)
}

/// The data lines of a table (header dropped), split into cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

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

/// Produces one raw batch of `value` timestamped `timestamp` to partition 0
/// (acks=all), transactional for `producer` when given; returns its base offset.
fn produce(
    addr: &str,
    topic: &str,
    value: &str,
    timestamp: i64,
    producer: Option<(i64, i16)>,
) -> i64 {
    let records = vec![(None, Some(Bytes::from(value.to_string())), timestamp)];
    let mut b = encode_timed_batch(&records, Codec::None)
        .expect("encode")
        .to_vec();
    if let Some((pid, epoch)) = producer {
        b[ATTRIBUTES_LOW_BYTE_AT] |= TRANSACTIONAL_BIT as u8;
        set_producer(&mut b, pid, epoch, 0);
        refresh_crc(&mut b);
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(b)))])]);
    let mut body = BytesMut::new();
    request.encode(&mut body, PRODUCE_VERSION).expect("encode");
    let mut answer =
        Bytes::from(RawConnection::connect(addr).call(0, PRODUCE_VERSION, false, &body));
    let mut response = ProduceResponse::decode(&mut answer, PRODUCE_VERSION).expect("decode");
    let p = response.responses.remove(0).partition_responses.remove(0);
    assert_eq!(p.error_code, 0, "produce refused");
    p.base_offset
}

/// ListOffsets(latest) of partition 0 with read_committed: the last stable offset.
fn last_stable_offset(addr: &str, topic: &str) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(1)
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
    let mut response =
        ListOffsetsResponse::decode(&mut answer, LIST_OFFSETS_VERSION).expect("decode");
    let p = response.topics.remove(0).partitions.remove(0);
    assert_eq!(p.error_code, 0);
    p.offset
}

/// A raw DescribeProducers of `partitions` of `topic`.
fn describe_producers(addr: &str, topic: &str, partitions: &[i32]) -> DescribeProducersResponse {
    let request = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partition_indexes(partitions.to_vec())]);
    let mut body = BytesMut::new();
    request
        .encode(&mut body, DESCRIBE_PRODUCERS_VERSION)
        .expect("encode");
    let mut answer = Bytes::from(RawConnection::connect(addr).call(
        DESCRIBE_PRODUCERS_KEY,
        DESCRIBE_PRODUCERS_VERSION,
        true,
        &body,
    ));
    DescribeProducersResponse::decode(&mut answer, DESCRIBE_PRODUCERS_VERSION).expect("decode")
}

/// A librdkafka transaction left open on partition 1 of `topic`.
fn open_live_transaction(addr: &str, topic: &str) -> BaseProducer {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("transactional.id", LIVE_TRANSACTIONAL_ID)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p.begin_transaction().expect("begin");
    p.send(
        BaseRecord::<(), str>::to(topic)
            .partition(1)
            .payload("live"),
    )
    .expect("enqueue");
    p.flush(TIMEOUT).expect("flush");
    p
}

#[test]
fn describe_producers_reports_each_partitions_active_producers() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topic(&addr, "producers", 2);
    let written = now_ms() - 1000;
    produce(&addr, "producers", "plain", written, None);
    let start = produce(
        &addr,
        "producers",
        "open",
        written,
        Some((HANGING_PRODUCER_ID, HANGING_PRODUCER_EPOCH)),
    );

    let response = describe_producers(&addr, "producers", &[0, 1, 9]);
    let partitions = &response.topics[0].partitions;
    assert_eq!(partitions.len(), 3);
    // Partition 0: only the transactional producer (the plain batch has none).
    assert_eq!(partitions[0].error_code, 0);
    let active = &partitions[0].active_producers;
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].producer_id.0, HANGING_PRODUCER_ID);
    assert_eq!(active[0].producer_epoch, i32::from(HANGING_PRODUCER_EPOCH));
    assert_eq!(active[0].last_sequence, 0);
    assert_eq!(active[0].last_timestamp, written);
    assert_eq!(active[0].coordinator_epoch, -1);
    assert_eq!(active[0].current_txn_start_offset, start);
    // Partition 1: hosted, no producer yet; partition 9 does not exist.
    assert_eq!(partitions[1].error_code, 0);
    assert!(partitions[1].active_producers.is_empty());
    assert_eq!(partitions[2].error_code, UNKNOWN_TOPIC_OR_PARTITION);

    // The CLI prints the same, with kafka-transactions.sh's columns.
    let table = ok(
        &addr,
        &[
            "describe-producers",
            "--topic",
            "producers",
            "--partition",
            "0",
        ],
    );
    assert!(
        table.starts_with("ProducerId  ProducerEpoch  LatestCoordinatorEpoch  LastSequence  LastTimestamp  CurrentTransactionStartOffset"),
        "{table}"
    );
    assert_eq!(
        rows(&table),
        vec![vec![
            HANGING_PRODUCER_ID.to_string(),
            HANGING_PRODUCER_EPOCH.to_string(),
            "-1".to_string(),
            "0".to_string(),
            written.to_string(),
            start.to_string(),
        ]]
    );
    // A partition the broker does not have: the broker's error, exit code 1.
    let why = fails(
        &addr,
        &[
            "describe-producers",
            "--topic",
            "producers",
            "--partition",
            "9",
            "--broker-id",
            "1",
        ],
    );
    assert!(why.contains("does not exist"), "{why}");
}

#[test]
fn a_hanging_transaction_is_found_and_aborted_while_a_live_one_is_not() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topic(&addr, "hang", 2);
    let old = now_ms() - HANGING_AGE_MS;
    produce(&addr, "hang", "before", now_ms(), None);
    // Written straight to the partition, never added through a coordinator and
    // never ended: only an operator can close it.
    let start = produce(
        &addr,
        "hang",
        "hanging",
        old,
        Some((HANGING_PRODUCER_ID, HANGING_PRODUCER_EPOCH)),
    );
    produce(&addr, "hang", "after", now_ms(), None);
    assert_eq!(
        last_stable_offset(&addr, "hang"),
        start,
        "the open transaction holds the LSO"
    );
    let live = open_live_transaction(&addr, "hang");

    // list and describe show the live transaction as its coordinator has it.
    let listed = ok(&addr, &["list"]);
    assert!(
        listed.starts_with("TransactionalId  Coordinator  ProducerId  TransactionState"),
        "{listed}"
    );
    let live_row = rows(&listed)
        .into_iter()
        .find(|r| r[0] == LIVE_TRANSACTIONAL_ID)
        .unwrap_or_else(|| panic!("{LIVE_TRANSACTIONAL_ID} not listed: {listed}"));
    assert_eq!(live_row[3], "Ongoing");
    let described = ok(
        &addr,
        &["describe", "--transactional-id", LIVE_TRANSACTIONAL_ID],
    );
    let row = &rows(&described)[0];
    assert_eq!(row[1], LIVE_TRANSACTIONAL_ID);
    assert_eq!(row[2], live_row[2], "same producer id in list and describe");
    assert_eq!(row[4], "Ongoing");
    assert_eq!(row[8], "hang-1");
    let why = fails(&addr, &["describe", "--transactional-id", "nobody"]);
    assert!(why.contains("TRANSACTIONAL_ID_NOT_FOUND"), "{why}");

    // Every open transaction is older than 0 minutes; only the one no coordinator
    // knows is hanging. By broker and by topic alike.
    let node = broker_id(&addr);
    let expected = vec![vec![
        "hang".to_string(),
        "0".to_string(),
        HANGING_PRODUCER_ID.to_string(),
        HANGING_PRODUCER_EPOCH.to_string(),
        "-1".to_string(),
        start.to_string(),
        old.to_string(),
        "5".to_string(),
    ]];
    let found = ok(
        &addr,
        &[
            "find-hanging",
            "--broker-id",
            &node,
            "--max-transaction-timeout",
            "0",
        ],
    );
    assert!(found.starts_with("Topic  Partition  ProducerId  ProducerEpoch  CoordinatorEpoch  StartOffset  LastTimestamp  Duration(min)"), "{found}");
    assert_eq!(rows(&found), expected);
    let found = ok(
        &addr,
        &[
            "find-hanging",
            "--topic",
            "hang",
            "--max-transaction-timeout",
            "0",
        ],
    );
    assert_eq!(rows(&found), expected);
    // With the default 15-minute timeout the 5-minute-old one is not a candidate yet.
    assert!(rows(&ok(&addr, &["find-hanging", "--topic", "hang"])).is_empty());

    // Abort it by its start offset: an ABORT marker, the LSO moves past the records.
    let aborted = ok(
        &addr,
        &[
            "abort",
            "--topic",
            "hang",
            "--partition",
            "0",
            "--start-offset",
            &start.to_string(),
        ],
    );
    assert!(
        aborted.contains(&format!("producer {HANGING_PRODUCER_ID}")),
        "{aborted}"
    );
    let end = last_stable_offset(&addr, "hang");
    assert_eq!(
        end,
        start + 3,
        "data, plain record and marker are stable now"
    );
    assert!(rows(&ok(
        &addr,
        &[
            "find-hanging",
            "--broker-id",
            &node,
            "--max-transaction-timeout",
            "0"
        ]
    ))
    .is_empty());
    let producers = ok(
        &addr,
        &["describe-producers", "--topic", "hang", "--partition", "0"],
    );
    assert_eq!(rows(&producers)[0][5], "-", "{producers}");
    let why = fails(
        &addr,
        &[
            "abort",
            "--topic",
            "hang",
            "--partition",
            "0",
            "--start-offset",
            &start.to_string(),
        ],
    );
    assert!(
        why.contains("no open transaction starts at offset"),
        "{why}"
    );
    // An older epoch than the producer's is refused by the partition.
    let why = fails(
        &addr,
        &[
            "abort",
            "--topic",
            "hang",
            "--partition",
            "0",
            "--producer-id",
            &HANGING_PRODUCER_ID.to_string(),
            "--producer-epoch",
            "1",
            "--coordinator-epoch",
            "0",
        ],
    );
    assert!(why.contains("INVALID_PRODUCER_EPOCH"), "{why}");

    // The live transaction is untouched and still commits.
    live.commit_transaction(TIMEOUT).expect("commit");
}

/// The node id of the single broker at `addr`.
fn broker_id(addr: &str) -> String {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("consumer");
    let md =
        rdkafka::consumer::Consumer::fetch_metadata(&consumer, None, TIMEOUT).expect("metadata");
    md.brokers()[0].id().to_string()
}
