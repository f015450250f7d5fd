//! Transactions with librdkafka's transactional producer against the real broker:
//! committed transactions become visible to a read_committed consumer and aborted
//! ones never do; a second producer with the same transactional.id fences the first;
//! a transaction left open is aborted by the coordinator after its timeout; a broker
//! killed in the middle of an open transaction recovers the coordinator's state;
//! DescribeTransactions and ListTransactions show open transactions.

#[path = "rdkafka_support/mod.rs"]
mod rdkafka_support;

use bytes::BytesMut;
use moldau_e2e::{BrokerProcess, RawConnection};
use moldau_protocol::kafka::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, TransactionalId,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Longest any client call here may take.
const TIMEOUT: Duration = Duration::from_secs(30);

fn transactional_producer(addr: &str, id: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("transactional.id", id)
        .set("message.timeout.ms", "30000");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let p: BaseProducer = c.create().expect("producer");
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p
}

fn send(p: &BaseProducer, topic: &str, partition: i32, value: &str) {
    p.send(
        BaseRecord::<(), str>::to(topic)
            .partition(partition)
            .payload(value),
    )
    .expect("enqueue");
    p.poll(Duration::ZERO);
}

/// Every value of `partitions` of `topic` a consumer with `isolation` reads, up to
/// the end offset it is given (the last stable offset for read_committed).
fn read_all(addr: &str, topic: &str, partitions: i32, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("reader-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
        let (_, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .expect("watermarks");
        ends.push(high);
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut positions = vec![0i64; partitions as usize];
    let deadline = Instant::now() + TIMEOUT;
    // Control records take offsets too: read until every partition's position passes
    // its end, or the consumer reaches the end of each partition.
    let mut at_end = vec![false; partitions as usize];
    while at_end.iter().any(|e| !e) {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let p = m.partition() as usize;
                positions[p] = m.offset() + 1;
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
        for p in 0..partitions as usize {
            let position = consumer
                .position()
                .ok()
                .and_then(|tpl| {
                    tpl.find_partition(topic, p as i32)
                        .and_then(|e| e.offset().to_raw())
                })
                .unwrap_or(positions[p]);
            at_end[p] = position.max(positions[p]) >= ends[p];
        }
    }
    out.sort();
    out
}

fn create_topic(addr: &str, topic: &str, partitions: i32) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(rdkafka_support::create_topic(addr, topic, partitions));
}

fn is_fenced(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
    ) || e.to_string().to_lowercase().contains("fenced")
}

#[test]
fn committed_transactions_are_visible_and_aborted_ones_never_are() {
    let broker = BrokerProcess::start(&[]);
    create_topic(&broker.addr, "txn-out", 2);
    let p = transactional_producer(&broker.addr, "tx-commit", &[]);
    for round in 0..3 {
        p.begin_transaction().expect("begin");
        for i in 0..4 {
            send(&p, "txn-out", i % 2, &format!("commit-{round}-{i}"));
        }
        p.commit_transaction(TIMEOUT).expect("commit");
        p.begin_transaction().expect("begin");
        for i in 0..3 {
            send(&p, "txn-out", i % 2, &format!("abort-{round}-{i}"));
        }
        p.flush(TIMEOUT).expect("flush");
        p.abort_transaction(TIMEOUT).expect("abort");
    }
    let committed = read_all(&broker.addr, "txn-out", 2, "read_committed");
    let mut expected: Vec<String> = (0..3)
        .flat_map(|r| (0..4).map(move |i| format!("commit-{r}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(committed, expected);
    let everything = read_all(&broker.addr, "txn-out", 2, "read_uncommitted");
    assert_eq!(everything.len(), 3 * (4 + 3));
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first() {
    let broker = BrokerProcess::start(&[]);
    create_topic(&broker.addr, "fenced", 1);
    let first = transactional_producer(&broker.addr, "tx-fence", &[]);
    first.begin_transaction().expect("begin");
    send(&first, "fenced", 0, "from-first");
    first.flush(TIMEOUT).expect("flush");
    // The newcomer's InitProducerId aborts the first one's open transaction.
    let second = transactional_producer(&broker.addr, "tx-fence", &[]);
    let err = first
        .commit_transaction(TIMEOUT)
        .expect_err("the fenced producer cannot commit");
    assert!(is_fenced(&err), "{err:?}");
    second.begin_transaction().expect("begin");
    send(&second, "fenced", 0, "from-second");
    second.commit_transaction(TIMEOUT).expect("commit");
    assert_eq!(
        read_all(&broker.addr, "fenced", 1, "read_committed"),
        vec!["from-second".to_string()]
    );
}

#[test]
fn a_transaction_left_open_is_aborted_after_its_timeout() {
    let broker = BrokerProcess::start(&[
        "--set",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
    ]);
    create_topic(&broker.addr, "abandoned", 1);
    let p = transactional_producer(
        &broker.addr,
        "tx-timeout",
        &[
            ("transaction.timeout.ms", "1000"),
            ("message.timeout.ms", "1000"),
        ],
    );
    p.begin_transaction().expect("begin");
    send(&p, "abandoned", 0, "never-committed");
    p.flush(TIMEOUT).expect("flush");
    // The coordinator aborts it (and bumps the epoch): a read_committed consumer
    // reaches the end without seeing the record, and the producer is fenced.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .set("group.id", "lso-watch")
            .set("isolation.level", "read_committed")
            .create()
            .expect("consumer");
        let (_, high) = consumer
            .fetch_watermarks("abandoned", 0, TIMEOUT)
            .expect("watermarks");
        // The record and the abort marker: the LSO has reached the end.
        if high >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the open transaction was never aborted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(read_all(&broker.addr, "abandoned", 1, "read_committed").is_empty());
    let err = p
        .commit_transaction(TIMEOUT)
        .expect_err("the timed-out transaction cannot commit");
    assert!(
        is_fenced(&err) || err.to_string().contains("abort"),
        "{err:?}"
    );
}

#[test]
fn a_restart_in_the_middle_of_a_transaction_recovers_the_coordinator() {
    let mut broker = BrokerProcess::start(&[]);
    create_topic(&broker.addr, "restarted", 1);
    {
        let p = transactional_producer(&broker.addr, "tx-restart", &[]);
        p.begin_transaction().expect("begin");
        send(&p, "restarted", 0, "committed-before");
        p.commit_transaction(TIMEOUT).expect("commit");
        p.begin_transaction().expect("begin");
        send(&p, "restarted", 0, "open-at-crash");
        p.flush(TIMEOUT).expect("flush");
        broker.kill();
    }
    broker.restart();
    // The coordinator replays __transaction_state: the id's open transaction is found
    // and aborted when a new producer of the id arrives, which then goes on.
    let p = transactional_producer(&broker.addr, "tx-restart", &[]);
    p.begin_transaction().expect("begin");
    send(&p, "restarted", 0, "committed-after");
    p.commit_transaction(TIMEOUT).expect("commit");
    assert_eq!(
        read_all(&broker.addr, "restarted", 1, "read_committed"),
        vec![
            "committed-after".to_string(),
            "committed-before".to_string()
        ]
    );
}

/// DescribeTransactions (api 65, v0, flexible).
fn describe_transactions(addr: &str, ids: &[&str]) -> DescribeTransactionsResponse {
    let request = DescribeTransactionsRequest::default().with_transactional_ids(
        ids.iter()
            .map(|id| TransactionalId(StrBytes::from_string(id.to_string())))
            .collect(),
    );
    let mut body = BytesMut::new();
    request.encode(&mut body, 0).expect("encode");
    let response = RawConnection::connect(addr).call(65, 0, true, &body);
    DescribeTransactionsResponse::decode(&mut bytes::Bytes::from(response), 0).expect("decode")
}

/// ListTransactions (api 66, v1, flexible) with a state filter.
fn list_transactions(addr: &str, states: &[&str]) -> ListTransactionsResponse {
    let request = ListTransactionsRequest::default()
        .with_state_filters(
            states
                .iter()
                .map(|s| StrBytes::from_string(s.to_string()))
                .collect(),
        )
        .with_duration_filter(-1);
    let mut body = BytesMut::new();
    request.encode(&mut body, 1).expect("encode");
    let response = RawConnection::connect(addr).call(66, 1, true, &body);
    ListTransactionsResponse::decode(&mut bytes::Bytes::from(response), 1).expect("decode")
}

#[test]
fn describe_and_list_transactions_show_open_transactions() {
    let broker = BrokerProcess::start(&[]);
    create_topic(&broker.addr, "described", 2);
    let p = transactional_producer(&broker.addr, "tx-described", &[]);
    p.begin_transaction().expect("begin");
    send(&p, "described", 1, "open");
    p.flush(TIMEOUT).expect("flush");

    let described = describe_transactions(&broker.addr, &["tx-described", "tx-unknown"]);
    let open = &described.transaction_states[0];
    assert_eq!(open.error_code, 0);
    assert_eq!(open.transaction_state.as_str(), "Ongoing");
    assert!(open.producer_id.0 >= 0 && open.transaction_start_time_ms > 0);
    assert_eq!(open.topics.len(), 1);
    assert_eq!(open.topics[0].topic.0.as_str(), "described");
    assert_eq!(open.topics[0].partitions, vec![1]);
    // An id nobody used: TRANSACTIONAL_ID_NOT_FOUND (105), or NOT_COORDINATOR (16)
    // had its partition been led elsewhere (one node leads all).
    assert_eq!(described.transaction_states[1].error_code, 105);

    let ongoing = list_transactions(&broker.addr, &["Ongoing"]);
    assert_eq!(ongoing.error_code, 0);
    let ids: Vec<&str> = ongoing
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.0.as_str())
        .collect();
    assert_eq!(ids, vec!["tx-described"]);
    let bogus = list_transactions(&broker.addr, &["Nonsense"]);
    assert_eq!(bogus.unknown_state_filters.len(), 1);

    p.commit_transaction(TIMEOUT).expect("commit");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let state = describe_transactions(&broker.addr, &["tx-described"]);
        if state.transaction_states[0].transaction_state.as_str() == "CompleteCommit" {
            assert!(state.transaction_states[0].topics.is_empty());
            break;
        }
        assert!(Instant::now() < deadline, "the commit never completed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(list_transactions(&broker.addr, &["Ongoing"])
        .transaction_states
        .is_empty());
}
