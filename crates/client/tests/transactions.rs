//! The transactional producer and read_committed consumption against a real broker:
//! committed transactions are read by read_committed consumers (ours and
//! librdkafka's) and aborted ones never, read_uncommitted sees both; a second
//! producer with the same transactional.id fences the first (a typed error); calls
//! out of order are refused; idempotent sequencing carries on across transactions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use moldau_client::admin::OffsetSpec;
use moldau_client::consumer::{ConsumerBuilder, IsolationLevel};
use moldau_client::producer::{Producer, ProducerBuilder};
use moldau_client::{AdminClient, Error, OffsetReset, ProducerRecord, TopicPartition};
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
const BROKER_PROPS: &[&str] = &[
    "num.partitions=3",
    "transaction.state.log.num.partitions=1",
    "offsets.topic.num.partitions=1",
    "group.initial.rebalance.delay.ms=0",
];
const TIMEOUT: Duration = Duration::from_secs(30);

fn transactional(addr: &str, id: &str) -> Producer {
    ProducerBuilder::new(addr)
        .transactional_id(id)
        .build()
        .unwrap()
}

/// Sends `values` (keyed by themselves) in one transaction and commits or aborts it.
async fn transaction(p: &Producer, topic: &str, values: &[String], commit: bool) {
    p.begin_transaction().await.unwrap();
    let mut deliveries = Vec::new();
    for v in values {
        let record = ProducerRecord::new(topic, v.clone()).with_key(v.clone());
        deliveries.push(p.send(record).await.unwrap());
    }
    if commit {
        p.commit_transaction().await.unwrap();
    } else {
        p.abort_transaction().await.unwrap();
    }
    for d in deliveries {
        d.await.unwrap();
    }
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every partition's log end offset.
async fn ends(addr: &str, topic: &str) -> BTreeMap<TopicPartition, i64> {
    let admin = AdminClient::connect(addr).unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    admin
        .list_offsets(&tps, OffsetSpec::Latest)
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, o)| (tp, o.offset))
        .collect()
}

/// The values our consumer with `isolation` reads from the beginning until its
/// position reaches every partition's end (markers included), sorted.
async fn read_with_ours(addr: &str, topic: &str, isolation: IsolationLevel) -> Vec<String> {
    let ends = ends(addr, topic).await;
    let mut builder = ConsumerBuilder::new(addr).auto_offset_reset(OffsetReset::Earliest);
    builder = builder
        .set(
            "isolation.level",
            match isolation {
                IsolationLevel::ReadCommitted => "read_committed",
                IsolationLevel::ReadUncommitted => "read_uncommitted",
            },
        )
        .unwrap();
    let consumer = builder.build().unwrap();
    let tps: Vec<TopicPartition> = ends.keys().cloned().collect();
    consumer.assign(&tps).await.unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
        let done = ends
            .iter()
            .all(|(tp, end)| consumer.position(tp).is_some_and(|p| p >= *end));
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "never reached the end: {ends:?}");
    }
    consumer.close().await.unwrap();
    out.sort();
    out
}

/// The values librdkafka with isolation.level=read_committed reads, sorted.
fn read_with_librdkafka(
    addr: &str,
    topic: &str,
    ends: &BTreeMap<TopicPartition, i64>,
) -> Vec<String> {
    let consumer: BaseConsumer = RdConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", common::unique("rd-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for tp in ends.keys() {
        tpl.add_partition_offset(topic, tp.partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let deadline = Instant::now() + TIMEOUT;
    while at_end.len() < ends.len() {
        assert!(
            Instant::now() < deadline,
            "librdkafka never reached the end"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                let tp = TopicPartition::new(topic, p);
                let position = consumer
                    .position()
                    .unwrap()
                    .find_partition(topic, p)
                    .and_then(|e| e.offset().to_raw());
                if position.is_some_and(|o| o >= ends[&tp]) {
                    at_end.insert(p);
                }
            }
            Some(Err(e)) => panic!("librdkafka: {e}"),
            None => {}
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn committed_transactions_are_read_committed_and_aborted_ones_never() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    common::init_logs();
    let topic = common::unique("txn");
    let p = transactional(&broker.addr, "rust-tx");
    p.init_transactions().await.unwrap();
    let first = values("commit-a", 30);
    let aborted = values("abort", 30);
    let second = values("commit-b", 20);
    transaction(&p, &topic, &first, true).await;
    transaction(&p, &topic, &aborted, false).await;
    transaction(&p, &topic, &second, true).await;
    // An empty transaction commits without asking the coordinator.
    p.begin_transaction().await.unwrap();
    p.commit_transaction().await.unwrap();
    p.close().await.unwrap();

    let mut committed: Vec<String> = first.iter().chain(&second).cloned().collect();
    committed.sort();
    let mut everything: Vec<String> = committed.iter().chain(&aborted).cloned().collect();
    everything.sort();
    assert_eq!(
        read_with_ours(&broker.addr, &topic, IsolationLevel::ReadCommitted).await,
        committed
    );
    assert_eq!(
        read_with_ours(&broker.addr, &topic, IsolationLevel::ReadUncommitted).await,
        everything
    );
    let ends = ends(&broker.addr, &topic).await;
    let addr = broker.addr.clone();
    let topic2 = topic.clone();
    let theirs = tokio::task::spawn_blocking(move || read_with_librdkafka(&addr, &topic2, &ends))
        .await
        .unwrap();
    assert_eq!(theirs, committed, "librdkafka read_committed");
}

#[tokio::test]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    let topic = common::unique("fence");
    let old = transactional(&broker.addr, "fenced-tx");
    old.init_transactions().await.unwrap();
    old.begin_transaction().await.unwrap();
    old.send(ProducerRecord::new(&topic, "old").with_key("k"))
        .await
        .unwrap()
        .await
        .unwrap();

    let new = transactional(&broker.addr, "fenced-tx");
    new.init_transactions().await.unwrap();
    let err = old.commit_transaction().await.unwrap_err();
    assert!(matches!(err, Error::Fenced(_)), "{err:?}");
    // Fenced for good: nothing else is allowed.
    let err = old.begin_transaction().await.unwrap_err();
    assert!(matches!(err, Error::Fenced(_)), "{err:?}");

    transaction(&new, &topic, &["new".to_string()], true).await;
    assert_eq!(
        read_with_ours(&broker.addr, &topic, IsolationLevel::ReadCommitted).await,
        vec!["new".to_string()],
        "the fenced producer's open transaction was aborted"
    );
}

#[tokio::test]
async fn transactional_calls_out_of_order_are_refused() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    let topic = common::unique("order");
    let p = transactional(&broker.addr, "order-tx");
    let state = |r: moldau_client::Result<()>| matches!(r, Err(Error::TransactionState(_)));
    assert!(state(p.begin_transaction().await), "begin before init");
    p.init_transactions().await.unwrap();
    assert!(state(p.init_transactions().await), "init twice");
    let sent = p.send(ProducerRecord::new(&topic, "x")).await;
    assert!(
        matches!(sent, Err(Error::TransactionState(_))),
        "send outside"
    );
    assert!(state(p.commit_transaction().await), "commit outside");
    p.begin_transaction().await.unwrap();
    assert!(state(p.begin_transaction().await), "begin twice");
    p.abort_transaction().await.unwrap();
    // Not transactional at all.
    let plain = ProducerBuilder::new(&broker.addr).build().unwrap();
    assert!(state(plain.begin_transaction().await));
}

/// Consume-transform-produce with `process_chunks_transactionally`: a chunk whose
/// processing fails is aborted and processed again, and in the end the output holds
/// every input record exactly once and the group's committed offsets are at the end.
#[tokio::test]
async fn transactional_chunks_commit_output_and_offsets_together() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    chunks_exactly_once(&broker, "chunk-tx").await;
}

/// The same under transaction version 2 (KIP-890 part 2): no AddPartitionsToTxn or
/// AddOffsetsToTxn, an epoch bump per transaction.
#[tokio::test]
async fn transactional_chunks_under_transaction_version_2() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    finalize_transaction_version_2(&broker.addr);
    chunks_exactly_once(&broker, "chunk-tx-v2").await;
}

/// Commits and aborts under transaction version 2: read_committed readers (ours and
/// librdkafka's) see exactly the committed ones, and the producer's epoch moved on
/// with every transaction (a new producer still fences it).
#[tokio::test]
async fn transaction_version_2_commits_and_aborts() {
    let Some(broker) = common::start_broker(BROKER_PROPS) else {
        return;
    };
    finalize_transaction_version_2(&broker.addr);
    let topic = common::unique("txn-v2");
    let p = transactional(&broker.addr, "rust-tx-v2");
    p.init_transactions().await.unwrap();
    let first = values("commit-a", 30);
    let aborted = values("abort", 30);
    let second = values("commit-b", 20);
    transaction(&p, &topic, &first, true).await;
    transaction(&p, &topic, &aborted, false).await;
    transaction(&p, &topic, &second, true).await;
    let mut committed: Vec<String> = first.iter().chain(&second).cloned().collect();
    committed.sort();
    assert_eq!(
        read_with_ours(&broker.addr, &topic, IsolationLevel::ReadCommitted).await,
        committed
    );
    let ends = ends(&broker.addr, &topic).await;
    let addr = broker.addr.clone();
    let topic2 = topic.clone();
    let theirs = tokio::task::spawn_blocking(move || read_with_librdkafka(&addr, &topic2, &ends))
        .await
        .unwrap();
    assert_eq!(theirs, committed, "librdkafka read_committed");
    // A newer producer of the id fences this one, whose epoch kept moving.
    let new = transactional(&broker.addr, "rust-tx-v2");
    new.init_transactions().await.unwrap();
    p.begin_transaction().await.unwrap();
    let delivery = p
        .send(ProducerRecord::new(&topic, "stale").with_key("k"))
        .await
        .unwrap();
    let sent = tokio::time::timeout(TIMEOUT, delivery).await;
    assert!(
        matches!(sent, Ok(Err(_))),
        "a fenced producer's record is refused: {sent:?}"
    );
}

/// Finalizes `transaction.version` 2 with a raw UpdateFeatures, as
/// `kafka-features.sh upgrade --feature transaction.version=2` does.
fn finalize_transaction_version_2(addr: &str) {
    use moldau_protocol::kafka::messages::update_features_request::FeatureUpdateKey;
    use moldau_protocol::kafka::messages::{
        RequestHeader, ResponseHeader, UpdateFeaturesRequest, UpdateFeaturesResponse,
    };
    use moldau_protocol::kafka::protocol::{
        Decodable, Encodable, HeaderVersion, Request, StrBytes,
    };
    use std::io::{Read, Write};
    const VERSION: i16 = 1;
    let request = UpdateFeaturesRequest::default()
        .with_timeout_ms(5000)
        .with_feature_updates(vec![FeatureUpdateKey::default()
            .with_feature(StrBytes::from_static_str("transaction.version"))
            .with_max_version_level(2)
            .with_upgrade_type(1)]);
    let mut body = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(UpdateFeaturesRequest::KEY)
        .with_request_api_version(VERSION)
        .with_correlation_id(1)
        .encode(&mut body, UpdateFeaturesRequest::header_version(VERSION))
        .unwrap();
    request.encode(&mut body, VERSION).unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
        .write_all(&(body.len() as i32).to_be_bytes())
        .unwrap();
    stream.write_all(&body).unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut answer = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut answer).unwrap();
    let mut answer = bytes::Bytes::from(answer);
    ResponseHeader::decode(&mut answer, UpdateFeaturesResponse::header_version(VERSION)).unwrap();
    let response = UpdateFeaturesResponse::decode(&mut answer, VERSION).unwrap();
    assert_eq!(response.error_code, 0, "{response:?}");
}

/// Consume-transform-produce with `process_chunks_transactionally` under the
/// transactional id `txn_id`.
async fn chunks_exactly_once(broker: &common::Broker, txn_id: &str) {
    const N: usize = 600;
    let input = common::unique("eos-in");
    let output = common::unique("eos-out");
    let group = common::unique("eos-group");
    let plain = ProducerBuilder::new(&broker.addr).build().unwrap();
    let mut deliveries = Vec::new();
    for v in values("in", N) {
        let record = ProducerRecord::new(&input, v.clone()).with_key(v);
        deliveries.push(plain.send(record).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    let input_ends = ends(&broker.addr, &input).await;

    let consumer = ConsumerBuilder::new(&broker.addr)
        .group_id(&group)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(50)
        .set("isolation.level", "read_committed")
        .unwrap()
        .build()
        .unwrap();
    consumer.subscribe(&[&input]).await.unwrap();
    let producer = transactional(&broker.addr, txn_id);
    producer.init_transactions().await.unwrap();
    let out_topic = output.clone();
    let transform = move |chunk: Vec<moldau_client::ConsumerRecord>| {
        let out_topic = out_topic.clone();
        async move {
            Ok::<_, String>(
                chunk
                    .into_iter()
                    .map(|r| {
                        let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                        ProducerRecord::new(&out_topic, format!("out-{v}")).with_key(v)
                    })
                    .collect(),
            )
        }
    };
    // The first chunk fails: its transaction aborts and the positions go back.
    let failed = consumer
        .process_chunks_transactionally(&producer, |_chunk| async {
            Err::<Vec<ProducerRecord>, _>("transform failed".to_string())
        })
        .await;
    assert!(matches!(failed, Err(Error::Processing(_))), "{failed:?}");

    let closer = consumer.clone();
    let admin = AdminClient::connect(&broker.addr).unwrap();
    let run = {
        let producer = producer.clone();
        tokio::spawn(async move {
            consumer
                .process_chunks_transactionally(&producer, transform)
                .await
        })
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let committed = admin.list_group_offsets(&group).await.unwrap();
        let done = input_ends
            .iter()
            .all(|(tp, end)| *end == 0 || committed.get(tp).map(|o| o.offset) == Some(*end));
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "offsets never reached the end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    closer.close().await.unwrap();
    run.await.unwrap().unwrap();

    let mut expected: Vec<String> = values("in", N).iter().map(|v| format!("out-{v}")).collect();
    expected.sort();
    assert_eq!(
        read_with_ours(&broker.addr, &output, IsolationLevel::ReadCommitted).await,
        expected,
        "every input exactly once in the committed output"
    );
}
