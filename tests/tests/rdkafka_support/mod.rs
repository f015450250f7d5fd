//! librdkafka helpers shared by the client tests: an acks=all producer, enqueueing
//! under back-pressure, topic creation, and reading partitions back from the start.

#![allow(dead_code)] // each test binary uses its own part of these helpers

pub mod cluster_view;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn producer(addr: &str, extra: &[(&str, &str)]) -> FutureProducer {
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
pub async fn enqueue<
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
>(
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
pub async fn delivered(f: DeliveryFuture) -> OwnedDeliveryResult {
    f.await.expect("delivery future not cancelled")
}

pub async fn create_topic(addr: &str, name: &str, partitions: i32) {
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
pub type Seen = (Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>, i64);

/// Reads every partition of `topic` from the beginning until `expected` records arrive.
pub fn consume_all(
    addr: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> HashMap<i32, Vec<Seen>> {
    consume_until(addr, topic, partitions, |seen| {
        seen.values().map(Vec::len).sum::<usize>() >= expected
    })
}

/// Reads every partition of `topic` from the beginning until `done` says so; the
/// consumer checks every batch's CRC.
pub fn consume_until(
    addr: &str,
    topic: &str,
    partitions: i32,
    done: impl Fn(&HashMap<i32, Vec<Seen>>) -> bool,
) -> HashMap<i32, Vec<Seen>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
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

/// Records sent between two yields (or pauses) of a load.
const LOAD_STEP_RECORDS: u64 = 64;

/// An acknowledged record: partition, offset, key, value.
pub type Acked = (i32, i64, Option<String>, String);

/// Sends `record(i)` (key, value) for i = 0, 1, … to `topic` until the task is
/// aborted, pushing each record the broker acknowledges onto `acked`. With `pause`,
/// it waits that long after every `LOAD_STEP_RECORDS` records (a bounded load).
pub fn spawn_acked_load(
    producer: FutureProducer,
    topic: &'static str,
    pause: Option<Duration>,
    record: impl Fn(u64) -> (Option<String>, String) + Send + 'static,
    acked: Arc<Mutex<Vec<Acked>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0.. {
            let (key, value) = record(i);
            let mut r = FutureRecord::to(topic).payload(&value);
            if let Some(k) = &key {
                r = r.key(k);
            }
            let fut = enqueue(&producer, r).await;
            let acked = acked.clone();
            tokio::spawn(async move {
                if let Ok(Ok(d)) = fut.await {
                    acked
                        .lock()
                        .expect("acked list")
                        .push((d.partition, d.offset, key, value));
                }
            });
            if i % LOAD_STEP_RECORDS == 0 {
                match pause {
                    Some(p) => tokio::time::sleep(p).await,
                    None => tokio::task::yield_now().await,
                }
            }
        }
    })
}

/// Reads `topic` back until every acknowledged offset is there and checks that each
/// acknowledged record sits at its offset with its key and value; returns what was
/// read.
pub fn assert_acked_intact(
    addr: &str,
    topic: &str,
    partitions: i32,
    acked: &[Acked],
) -> HashMap<i32, Vec<Seen>> {
    let mut max_offset: HashMap<i32, i64> = HashMap::new();
    for (p, o, _, _) in acked {
        let e = max_offset.entry(*p).or_insert(0);
        *e = (*e).max(*o);
    }
    let seen = consume_until(addr, topic, partitions, |seen| {
        max_offset
            .iter()
            .all(|(p, o)| seen.get(p).is_some_and(|v| v.len() > *o as usize))
    });
    for (p, o, k, v) in acked {
        let got = &seen[p][*o as usize];
        assert_eq!(got.1, v.as_bytes(), "acknowledged record {p}/{o} intact");
        if let Some(k) = k {
            assert_eq!(got.0, k.as_bytes(), "acknowledged key {p}/{o} intact");
        }
    }
    seen
}

/// Sends `value(p)` to every partition `p` of `topic` at once and returns the
/// records acknowledged (the others failed or timed out).
pub async fn send_to_each_partition(
    producer: &FutureProducer,
    topic: &str,
    partitions: i32,
    value: impl Fn(i32) -> String,
) -> Vec<Acked> {
    let mut pending = Vec::with_capacity(partitions as usize);
    for p in 0..partitions {
        let v = value(p);
        let f = enqueue(
            producer,
            FutureRecord::<(), _>::to(topic).partition(p).payload(&v),
        )
        .await;
        pending.push((v, f));
    }
    let mut acked = Vec::new();
    for (v, f) in pending {
        if let Ok(d) = delivered(f).await {
            acked.push((d.partition, d.offset, None, v));
        }
    }
    acked
}
