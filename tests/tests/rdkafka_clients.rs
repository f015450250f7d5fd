//! librdkafka (through the `rdkafka` crate) against the real broker binary.

mod rdkafka_support;

use moldau_e2e::BrokerProcess;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka_support::{
    assert_acked_intact, consume_all, create_topic, delivered, enqueue, producer, spawn_acked_load,
    Acked, Seen,
};
use std::collections::HashMap;
use std::time::Duration;

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
    let sender = spawn_acked_load(
        producer,
        topic,
        None,
        |i| (None, format!("v{i}")),
        acked.clone(),
    );
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
    let acked: Vec<Acked> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20_000);

    broker.restart();
    assert_acked_intact(&broker.addr, topic, 3, &acked);
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
