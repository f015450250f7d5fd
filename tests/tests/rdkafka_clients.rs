//! librdkafka (through the `rdkafka` crate) against the real broker binary.

use moldau_e2e::BrokerProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;

fn producer(addr: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("message.timeout.ms", "30000")
        .set("acks", "all");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

/// Enqueues a record, waiting while librdkafka's local queue is full.
async fn enqueue<K: rdkafka::message::ToBytes + ?Sized, P: rdkafka::message::ToBytes + ?Sized>(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, K, P>,
) -> DeliveryFuture {
    loop {
        match producer.send_result(record) {
            Ok(f) => return f,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err((e, _)) => panic!("enqueue failed: {e}"),
        }
    }
}

/// Waits for a delivery report.
async fn delivered(f: DeliveryFuture) -> OwnedDeliveryResult {
    f.await.expect("delivery future not cancelled")
}

async fn create_topic(addr: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// A record as read back: (key, value, headers, timestamp).
type Seen = (Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>, i64);

/// Reads every partition of `topic` from the beginning until `expected` records arrive.
fn consume_all(
    addr: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> HashMap<i32, Vec<Seen>> {
    consume_until(addr, topic, partitions, |seen| {
        seen.values().map(Vec::len).sum::<usize>() >= expected
    })
}

/// Reads every partition of `topic` from the beginning until `done` says so.
fn consume_until(
    addr: &str,
    topic: &str,
    partitions: i32,
    done: impl Fn(&HashMap<i32, Vec<Seen>>) -> bool,
) -> HashMap<i32, Vec<Seen>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out: HashMap<i32, Vec<Seen>> = HashMap::new();
    let mut count = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done(&out) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {count} records"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| (x.key.to_string(), x.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.entry(m.partition()).or_default().push((
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                    headers,
                    m.timestamp().to_millis().unwrap_or(-1),
                ));
                count += 1;
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_keyed_records_with_headers_round_trip_and_survive_restart() {
    let mut broker = BrokerProcess::start(&[]);
    let topic = "roundtrip";
    create_topic(&broker.addr, topic, 6).await;
    let producer = producer(
        &broker.addr,
        &[("compression.type", "lz4"), ("linger.ms", "5")],
    );
    const N: usize = 100_000;
    let base_ts = 1_700_000_000_000i64;
    let mut futures = Vec::with_capacity(N);
    for i in 0..N {
        let key = format!("key-{}", i % 1000);
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "seq",
                value: Some(&i.to_string()),
            })
            .insert(Header {
                key: "kind",
                value: Some("test"),
            });
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&value)
            .headers(headers)
            .timestamp(base_ts + i as i64);
        futures.push(enqueue(&producer, record).await);
    }
    // (partition, offset) for each i, in send order.
    let mut placed = Vec::with_capacity(N);
    for f in futures {
        let delivery = delivered(f).await.expect("delivered");
        placed.push((delivery.partition, delivery.offset));
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let check = |by_partition: &HashMap<i32, Vec<Seen>>| {
        let total: usize = by_partition.values().map(Vec::len).sum();
        assert_eq!(total, N);
        for (i, (partition, offset)) in placed.iter().enumerate() {
            let seen = &by_partition[partition][*offset as usize];
            assert_eq!(seen.0, format!("key-{}", i % 1000).into_bytes());
            assert_eq!(
                seen.1,
                format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes()
            );
            assert_eq!(seen.2[0], ("seq".to_string(), i.to_string().into_bytes()));
            assert_eq!(seen.2[1], ("kind".to_string(), b"test".to_vec()));
            assert_eq!(seen.3, base_ts + i as i64);
        }
        // Same key, same partition.
        let mut key_partition: HashMap<Vec<u8>, i32> = HashMap::new();
        for (p, records) in by_partition {
            for r in records {
                assert_eq!(*key_partition.entry(r.0.clone()).or_insert(*p), *p);
            }
        }
    };
    let first = consume_all(&broker.addr, topic, 6, N);
    check(&first);

    broker.stop();
    broker.restart();
    let second = consume_all(&broker.addr, topic, 6, N);
    assert_eq!(first, second, "data identical after a clean restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_9() {
    let mut broker = BrokerProcess::start(&[]);
    let topic = "crash";
    create_topic(&broker.addr, topic, 3).await;
    let producer = producer(&broker.addr, &[("linger.ms", "1"), ("retries", "0")]);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sender = {
        let acked = acked.clone();
        let producer = producer.clone();
        tokio::spawn(async move {
            for i in 0..1_000_000u64 {
                let value = format!("v{i}");
                let fut =
                    enqueue(&producer, FutureRecord::<(), _>::to(topic).payload(&value)).await;
                let acked = acked.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(d)) = fut.await {
                        acked.lock().unwrap().push((d.partition, d.offset, value));
                    }
                });
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // Let acknowledgements accumulate, then crash the broker mid-stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 20_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "too few acknowledgements"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.kill();
    sender.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acked: Vec<(i32, i64, String)> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20_000);

    broker.restart();
    let max_offset: HashMap<i32, i64> = acked.iter().fold(HashMap::new(), |mut m, (p, o, _)| {
        let e = m.entry(*p).or_insert(0);
        *e = (*e).max(*o);
        m
    });
    let seen = consume_until(&broker.addr, topic, 3, |seen| {
        max_offset
            .iter()
            .all(|(p, o)| seen.get(p).is_some_and(|v| v.len() > *o as usize))
    });
    for (p, o, v) in &acked {
        let got = &seen[p][*o as usize];
        assert_eq!(got.1, v.as_bytes(), "acknowledged record {p}/{o} intact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_created_topic_via_metadata_and_produce_consume() {
    let broker = BrokerProcess::start(&["--set", "num.partitions=2"]);
    let producer = producer(&broker.addr, &[]);
    for i in 0..10 {
        producer
            .send(
                FutureRecord::to("auto-demo")
                    .key(&format!("k{i}"))
                    .payload("hello"),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
    let seen = consume_all(&broker.addr, "auto-demo", 2, 10);
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), 10);
    let md = producer
        .client()
        .fetch_metadata(Some("auto-demo"), Duration::from_secs(5))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 2);
    assert_eq!(md.brokers().len(), 1);
}
