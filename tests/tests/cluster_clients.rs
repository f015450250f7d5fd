//! Requests go to the right broker (issue 11): three real `moldau serve` processes,
//! each a combined broker and controller of one metadata quorum. Metadata lists the
//! three brokers; a topic of six partitions gets leaders on all of them; every
//! partition is produced to and consumed from through each bootstrap broker alone
//! (librdkafka follows Metadata to the leaders); a consumer group works wherever its
//! coordinator is.

mod rdkafka_support;

use moldau_e2e::ClusterProcesses;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::Message;
use rdkafka_support::{consume_all, create_topic, delivered, enqueue, producer};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const NODES: i32 = 3;
const PARTITIONS: i32 = 6;

/// Partition -> leader as `bootstrap` reports it once every partition of `topic`
/// has a leader and all three brokers are listed.
fn leaders_via(bootstrap: &str, topic: &str) -> BTreeMap<i32, i32> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let md = client
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let brokers: BTreeSet<i32> = md.brokers().iter().map(|b| b.id()).collect();
        let leaders: BTreeMap<i32, i32> = md
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
            .filter(|p| p.error().is_none() && p.leader() >= 0)
            .map(|p| (p.id(), p.leader()))
            .collect();
        if brokers.len() == NODES as usize && leaders.len() == PARTITIONS as usize {
            assert_eq!(brokers, (1..=NODES).collect(), "brokers via {bootstrap}");
            return leaders;
        }
        assert!(
            Instant::now() < deadline,
            "via {bootstrap}: brokers {brokers:?}, leaders {leaders:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_works_through_any_bootstrap_broker() {
    let cluster = ClusterProcesses::start(NODES as usize, &[]);
    let nodes: Vec<String> = (1..=NODES).map(|id| cluster.addr(id)).collect();
    let topic = "spread";
    create_topic(&nodes[0], topic, PARTITIONS).await;

    let leaders = leaders_via(&nodes[0], topic);
    let leading: BTreeSet<i32> = leaders.values().copied().collect();
    assert_eq!(
        leading,
        (1..=NODES).collect(),
        "six partitions are led by all three nodes: {leaders:?}"
    );
    for n in &nodes[1..] {
        assert_eq!(leaders_via(n, topic), leaders, "every node agrees");
    }

    // Through each bootstrap broker alone, one record to every partition.
    for (i, n) in nodes.iter().enumerate() {
        let p = producer(n, &[("acks", "all")]);
        for partition in 0..PARTITIONS {
            let key = format!("via-{i}");
            let value = format!("p{partition}");
            let record = FutureRecord::to(topic)
                .partition(partition)
                .key(&key)
                .payload(&value);
            let sent = delivered(enqueue(&p, record).await).await;
            let delivery = sent.unwrap_or_else(|(e, _)| panic!("via {n}: {e}"));
            assert_eq!(delivery.partition, partition);
        }
        p.flush(Duration::from_secs(10)).expect("flushed");
    }
    let expected = (NODES * PARTITIONS) as usize;
    for n in &nodes {
        let read = consume_all(n, topic, PARTITIONS, expected);
        for partition in 0..PARTITIONS {
            let keys: Vec<String> = read[&partition]
                .iter()
                .map(|r| String::from_utf8_lossy(&r.0).into_owned())
                .collect();
            assert_eq!(
                keys,
                vec!["via-0", "via-1", "via-2"],
                "partition {partition}"
            );
        }
    }

    // A consumer group through the last node, wherever its coordinator is.
    let group = "spread-readers";
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &nodes[2])
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("group consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut seen = 0usize;
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen < expected {
        assert!(Instant::now() < deadline, "group read {seen} of {expected}");
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            let m = m.expect("group message");
            assert_eq!(m.topic(), topic);
            seen += 1;
        }
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("offsets committed");
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("committed offsets");
    for e in committed.elements() {
        assert_eq!(
            e.offset(),
            rdkafka::Offset::Offset(i64::from(NODES)),
            "partition {}",
            e.partition()
        );
    }
    assert_eq!(committed.count(), PARTITIONS as usize);
}
