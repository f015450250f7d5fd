//! Compatibility with librdkafka (through the `rdkafka` crate) against a real broker:
//! the Java partitioner, a mixed consumer group, and records crossing between the
//! two clients with every compression.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moldau_client::consumer::{AssignmentStrategy, ConsumerBuilder};
use moldau_client::partitioner::partition_for_key;
use moldau_client::producer::ProducerBuilder;
use moldau_client::{Compression, OffsetReset, ProducerRecord, TopicPartition};
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;

const PARTITIONS: i32 = 7;

fn start() -> Option<common::Broker> {
    common::start_group_broker(PARTITIONS)
}

#[tokio::test]
async fn keyed_records_land_where_librdkafka_murmur2_random_puts_them() {
    let Some(broker) = start() else { return };
    let topic = common::unique("part");
    let rd: FutureProducer = RdConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let producer = ProducerBuilder::new(&broker.addr).build().unwrap();
    for i in 0..200 {
        let key = format!("customer-{i}-{}", i * 7919);
        let theirs = rd
            .send(
                FutureRecord::to(&topic).key(&key).payload("x"),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        let ours = producer
            .send(ProducerRecord::new(&topic, "y").with_key(key.clone()))
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(theirs.partition, ours.partition, "key {key}");
        assert_eq!(
            ours.partition,
            partition_for_key(key.as_bytes(), PARTITIONS as usize)
        );
    }
    producer.close().await.unwrap();
}

#[tokio::test]
async fn records_cross_between_clients_with_every_compression() {
    let Some(broker) = start() else { return };
    for (codec, name) in [
        (Compression::None, "none"),
        (Compression::Gzip, "gzip"),
        (Compression::Snappy, "snappy"),
        (Compression::Lz4, "lz4"),
        (Compression::Zstd, "zstd"),
    ] {
        // Moldau producer -> librdkafka consumer.
        let topic = common::unique(&format!("x-{name}"));
        let producer = ProducerBuilder::new(&broker.addr)
            .compression(codec)
            .build()
            .unwrap();
        let mut fs = Vec::new();
        for i in 0..300 {
            let rec = ProducerRecord::new(&topic, format!("m{i}"))
                .with_key(format!("k{i}"))
                .with_header("h", "v");
            fs.push(producer.send(rec).await.unwrap());
        }
        for f in fs {
            f.await.unwrap();
        }
        producer.close().await.unwrap();
        let rc: BaseConsumer = RdConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .set("group.id", common::unique("rdg"))
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        rc.subscribe(&[&topic]).unwrap();
        let mut got = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < 300 && Instant::now() < deadline {
            if let Some(Ok(m)) = rc.poll(Duration::from_millis(100)) {
                let v = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
                got.insert(v);
            }
        }
        assert_eq!(got.len(), 300, "librdkafka read our {name} batches");

        // librdkafka producer -> Moldau consumer.
        let topic2 = common::unique(&format!("y-{name}"));
        let rp: FutureProducer = RdConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .set("compression.codec", name)
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let data: Vec<(String, String)> = (0..300)
            .map(|i| (format!("k{i}"), format!("r{i}")))
            .collect();
        let mut sends = Vec::new();
        for (key, payload) in &data {
            sends.push(rp.send(
                FutureRecord::to(&topic2).key(key).payload(payload),
                Duration::from_secs(10),
            ));
        }
        for s in sends {
            s.await.map_err(|(e, _)| e).unwrap();
        }
        let c = ConsumerBuilder::new(&broker.addr)
            .auto_offset_reset(OffsetReset::Earliest)
            .build()
            .unwrap();
        let tps: Vec<TopicPartition> = (0..PARTITIONS)
            .map(|p| TopicPartition::new(&topic2, p))
            .collect();
        c.assign(&tps).await.unwrap();
        let mut got = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < 300 && Instant::now() < deadline {
            for r in c.poll(Duration::from_millis(200)).await.unwrap() {
                got.insert(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
        assert_eq!(got.len(), 300, "we read librdkafka's {name} batches");
        c.close().await.unwrap();
    }
}

/// A librdkafka group member polling on its own thread.
struct RdMember {
    consumer: Arc<BaseConsumer>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RdMember {
    fn start(addr: &str, group: &str, topic: &str, strategy: &str) -> RdMember {
        let consumer: Arc<BaseConsumer> = Arc::new(
            RdConfig::new()
                .set("bootstrap.servers", addr)
                .set("group.id", group)
                .set("auto.offset.reset", "earliest")
                .set("partition.assignment.strategy", strategy)
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "300")
                .create()
                .unwrap(),
        );
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (consumer.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let _ = c.poll(Duration::from_millis(50));
            }
            c.unsubscribe();
        });
        RdMember {
            consumer,
            stop,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.consumer
            .assignment()
            .map(|l| {
                l.elements()
                    .iter()
                    .map(|e| TopicPartition::new(e.topic(), e.partition()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for RdMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn mixed_group(strategy: AssignmentStrategy) {
    let Some(broker) = start() else { return };
    let topic = common::unique("mixed");
    let group = common::unique("mg");
    // Create the topic.
    let p = ProducerBuilder::new(&broker.addr).build().unwrap();
    p.send(ProducerRecord::new(&topic, "seed"))
        .await
        .unwrap()
        .await
        .unwrap();
    p.close().await.unwrap();

    let ours: Vec<moldau_client::Consumer> = (0..2)
        .map(|_| {
            ConsumerBuilder::new(&broker.addr)
                .group_id(&group)
                .assignment_strategies(vec![strategy])
                .heartbeat_interval(Duration::from_millis(300))
                .session_timeout(Duration::from_secs(6))
                .build()
                .unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in &ours {
        c.subscribe(&[&topic]).await.unwrap();
        let (c, stop) = (c.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = c.poll(Duration::from_millis(50)).await;
            }
        }));
    }
    let theirs: Vec<RdMember> = (0..2)
        .map(|_| RdMember::start(&broker.addr, &group, &topic, strategy.name()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let sets = loop {
        let mut sets: Vec<BTreeSet<TopicPartition>> = ours
            .iter()
            .map(|c| c.assignment().into_iter().collect())
            .collect();
        sets.extend(theirs.iter().map(RdMember::assignment));
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<&TopicPartition> = sets.iter().flatten().collect();
        if total == PARTITIONS as usize
            && union.len() == PARTITIONS as usize
            && sets.iter().all(|s| !s.is_empty())
        {
            break sets;
        }
        assert!(
            Instant::now() < deadline,
            "{strategy:?}: no stable mixed assignment: {sets:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // 7 partitions over 4 members: 2,2,2,1 in some order, no overlap.
    let mut sizes: Vec<usize> = sets.iter().map(BTreeSet::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![1, 2, 2, 2], "{strategy:?}: {sets:?}");
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    for c in &ours {
        c.close().await.unwrap();
    }
    drop(theirs);
}

#[tokio::test]
async fn mixed_group_with_librdkafka_range() {
    mixed_group(AssignmentStrategy::Range).await;
}

#[tokio::test]
async fn mixed_group_with_librdkafka_roundrobin() {
    mixed_group(AssignmentStrategy::RoundRobin).await;
}

#[tokio::test]
async fn mixed_group_with_librdkafka_cooperative_sticky() {
    mixed_group(AssignmentStrategy::CooperativeSticky).await;
}
