//! Partition replication (issue 12) on three real `moldau serve` processes: followers
//! fetch from the leader and store its batches byte for byte; the high watermark is
//! what every in-sync replica has, so consumers never read past it; acks=all waits
//! for the in-sync replicas.

mod rdkafka_support;

use moldau_e2e::ClusterProcesses;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka_support::cluster_view::{
    wait_for_brokers, wait_for_partition_0, wait_for_partitions, PartitionState, SETTLE_TIMEOUT,
};
use rdkafka_support::{consume_all, delivered, enqueue, producer};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const NODES: i32 = 3;

/// Creates `name` with `partitions` partitions on all three brokers and
/// `min.insync.replicas=2`.
async fn create_replicated_topic(addr: &str, name: &str, partitions: i32) {
    // Three replicas need three registered brokers.
    wait_for_brokers(addr, NODES as usize);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(NODES))
        .set("min.insync.replicas", "2");
    let results = admin
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Metadata for `topic` through `bootstrap`, once all three brokers are listed and
/// a partition has a leader.
fn partitions_of(bootstrap: &str, topic: &str) -> BTreeMap<i32, PartitionState> {
    wait_for_partitions(bootstrap, topic, NODES as usize, |_| true)
}

/// The high watermark of `topic`-`partition` as its leader answers ListOffsets.
fn high_watermark(bootstrap: &str, topic: &str, partition: i32) -> i64 {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("offsets client");
    client
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("watermarks")
        .1
}

/// Every `.log` file of the partition directory, in name order, concatenated.
fn log_bytes(data_dir: &Path, topic: &str, partition: i32) -> Vec<u8> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read(f).expect("segment"))
        .collect()
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_leaves_identical_batches_on_every_replica() {
    let mut cluster = ClusterProcesses::start(NODES as usize, &[]);
    let bootstrap = cluster.bootstrap();
    let topic = "replicated";
    let partitions = 2;
    create_replicated_topic(&bootstrap, topic, partitions).await;
    let before = partitions_of(&bootstrap, topic);
    for (p, state) in &before {
        assert_eq!(state.replicas.len(), 3, "partition {p}: {state:?}");
    }

    let producer = producer(&bootstrap, &[("acks", "all"), ("linger.ms", "5")]);
    let records = 300;
    let mut pending = Vec::new();
    for i in 0..records {
        let value = format!("value-{i}");
        let key = format!("key-{i}");
        let record = FutureRecord::to(topic)
            .partition(i % partitions)
            .key(&key)
            .payload(&value);
        pending.push(enqueue(&producer, record).await);
    }
    for f in pending {
        delivered(f).await.expect("acks=all delivery");
    }
    let seen = consume_all(&bootstrap, topic, partitions, records as usize);
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), records as usize);

    // Every acknowledged batch is on every in-sync replica (all three), so stopped
    // now each holds the same bytes: same offsets, same leader epochs, same records.
    for id in 1..=NODES {
        cluster.stop(id);
    }
    for p in 0..partitions {
        let logs: Vec<Vec<u8>> = (1..=NODES)
            .map(|id| log_bytes(&cluster.node(id).data_dir, topic, p))
            .collect();
        assert!(!logs[0].is_empty(), "partition {p} has data");
        for id in 2..=NODES {
            assert!(
                logs[(id - 1) as usize] == logs[0],
                "partition {p}: node {id}'s log ({} bytes) differs from node 1's ({} bytes)",
                logs[(id - 1) as usize].len(),
                logs[0].len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_never_read_past_what_every_in_sync_replica_has() {
    // A follower stopped for less than replica.lag.time.max.ms stays in the ISR and
    // holds the high watermark back: acks=1 writes are acknowledged by the leader
    // but not readable until the follower has them.
    let mut cluster = ClusterProcesses::start(NODES as usize, &[]);
    let bootstrap = cluster.bootstrap();
    let topic = "held-back";
    create_replicated_topic(&bootstrap, topic, 1).await;
    let state = partitions_of(&bootstrap, topic)[&0].clone();
    let leader_addr = cluster.addr(state.leader);
    let producer = producer(&leader_addr, &[("acks", "1"), ("linger.ms", "0")]);
    let send = |i: usize| {
        let value = format!("v{i}");
        let producer = &producer;
        async move {
            let record = FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload(&value);
            delivered(enqueue(producer, record).await)
                .await
                .expect("acks=1 delivery")
                .offset
        }
    };
    let first = send(0).await;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while high_watermark(&leader_addr, topic, 0) <= first {
        assert!(
            Instant::now() < deadline,
            "the first record never committed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let follower = *state
        .replicas
        .iter()
        .find(|r| **r != state.leader)
        .expect("a follower");
    let pid = cluster.node(follower).pid().expect("follower runs");
    signal(pid, "STOP");
    let mut last = first;
    for i in 1..=5 {
        last = send(i).await;
    }
    // Long enough for the other follower and the leader's fsync many times over.
    std::thread::sleep(Duration::from_secs(2));
    let held = high_watermark(&leader_addr, topic, 0);
    signal(pid, "CONT");
    assert_eq!(
        held,
        first + 1,
        "the high watermark stays where the stopped in-sync follower is"
    );
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while high_watermark(&leader_addr, topic, 0) <= last {
        assert!(
            Instant::now() < deadline,
            "the high watermark never passed {last} after the follower resumed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = consume_all(&leader_addr, topic, 1, 6);
    assert_eq!(seen[&0].len(), 6);
}

/// Waits until Metadata through `bootstrap` shows `isr` (sorted) for partition 0.
fn wait_for_isr(bootstrap: &str, topic: &str, isr: &[i32]) {
    wait_for_partition_0(bootstrap, topic, NODES as usize, |p| p.isr == isr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isr_shrinks_and_refills_and_acks_all_follows_min_insync_replicas() {
    // Five nodes (a quorum that survives two stopped), one partition on three of
    // them, min.insync.replicas=2; a follower not caught up for 2 s leaves the ISR.
    let mut cluster = ClusterProcesses::start(5, &["--set", "replica.lag.time.max.ms=2000"]);
    let topic = "isr-moves";
    create_replicated_topic(&cluster.addr(1), topic, 1).await;
    let state = partitions_of(&cluster.addr(1), topic)[&0].clone();
    let bootstrap = cluster.addr(state.leader);
    let mut all = state.replicas.clone();
    all.sort_unstable();
    wait_for_isr(&bootstrap, topic, &all);
    let followers: Vec<i32> = state
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != state.leader)
        .collect();
    let (second, third) = (followers[0], followers[1]);
    let isr_without =
        |gone: &[i32]| -> Vec<i32> { all.iter().copied().filter(|r| !gone.contains(r)).collect() };

    let acks_all = producer(&bootstrap, &[("acks", "all"), ("linger.ms", "0")]);
    let mut acked = Vec::new();
    let send = |producer: &rdkafka::producer::FutureProducer, i: usize| {
        let value = format!("r{i}");
        let producer = producer.clone();
        async move {
            let record = FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload(&value);
            delivered(enqueue(&producer, record).await).await
        }
    };
    for i in 0..5 {
        acked.push(send(&acks_all, i).await.expect("all three in sync").offset);
    }

    // One follower stopped: it leaves the ISR and acks=all goes on with two.
    let pid3 = cluster.node(third).pid().expect("a follower runs");
    signal(pid3, "STOP");
    for i in 5..10 {
        acked.push(send(&acks_all, i).await.expect("two in sync").offset);
    }
    wait_for_isr(&bootstrap, topic, &isr_without(&[third]));

    // Two stopped: the ISR is the leader alone, fewer than min.insync.replicas.
    let pid2 = cluster.node(second).pid().expect("a follower runs");
    signal(pid2, "STOP");
    wait_for_isr(&bootstrap, topic, &[state.leader]);
    let no_retries = producer(
        &bootstrap,
        &[("acks", "all"), ("retries", "0"), ("linger.ms", "0")],
    );
    let refused = send(&no_retries, 99).await;
    signal(pid2, "CONT");
    signal(pid3, "CONT");
    match refused {
        Err((rdkafka::error::KafkaError::MessageProduction(code), _)) => assert_eq!(
            code,
            rdkafka::types::RDKafkaErrorCode::NotEnoughReplicas,
            "refused before the append"
        ),
        other => panic!("expected NOT_ENOUGH_REPLICAS, got {other:?}"),
    }

    // They come back, catch up and rejoin; nothing refused was written.
    wait_for_isr(&bootstrap, topic, &all);
    for i in 10..13 {
        acked.push(
            send(&acks_all, i)
                .await
                .expect("three in sync again")
                .offset,
        );
    }
    let expected: Vec<i64> = (0..13).collect();
    assert_eq!(acked, expected, "acknowledged at consecutive offsets");
    let seen = consume_all(&bootstrap, topic, 1, 13);
    let values: Vec<Vec<u8>> = seen[&0].iter().map(|r| r.1.clone()).collect();
    let sent: Vec<Vec<u8>> = (0..13).map(|i| format!("r{i}").into_bytes()).collect();
    assert_eq!(values, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_acknowledged_before_the_leader_is_killed_are_read_from_the_new_leader() {
    // Short broker sessions so the killed leader is fenced and another in-sync
    // replica elected soon; the survivors' logs must hold every acks=all record.
    let mut cluster = ClusterProcesses::start(
        NODES as usize,
        &[
            "--set",
            "broker.heartbeat.interval.ms=500",
            "--set",
            "broker.session.timeout.ms=3000",
            "--set",
            "replica.lag.time.max.ms=3000",
        ],
    );
    let topic = "failover";
    create_replicated_topic(&cluster.bootstrap(), topic, 1).await;
    let state = partitions_of(&cluster.bootstrap(), topic)[&0].clone();
    let old_leader = state.leader;
    let acks_all = producer(
        &cluster.bootstrap(),
        &[
            ("acks", "all"),
            ("linger.ms", "2"),
            ("enable.idempotence", "true"),
        ],
    );
    let records = 200;
    let mut pending = Vec::new();
    for i in 0..records {
        let value = format!("before-{i}");
        let record = FutureRecord::<(), _>::to(topic)
            .partition(0)
            .payload(&value);
        pending.push(enqueue(&acks_all, record).await);
    }
    let mut acked = Vec::new();
    for f in pending {
        acked.push(delivered(f).await.expect("acks=all delivery").offset);
    }
    drop(acks_all);

    cluster.kill(old_leader);
    let survivor = *state
        .replicas
        .iter()
        .find(|r| **r != old_leader)
        .expect("a follower");
    let survivor_addr = cluster.addr(survivor);
    let new_state = wait_for_partition_0(&survivor_addr, topic, 1, |s| s.leader != old_leader);
    assert!(
        state.isr.contains(&new_state.leader),
        "elected from the ISR"
    );

    // Every acknowledged record, at the offset it was acknowledged with.
    let seen = consume_all(&cluster.addr(new_state.leader), topic, 1, records as usize);
    let values: Vec<Vec<u8>> = seen[&0].iter().map(|r| r.1.clone()).collect();
    let sent: Vec<Vec<u8>> = (0..records)
        .map(|i| format!("before-{i}").into_bytes())
        .collect();
    assert_eq!(values, sent);
    assert_eq!(acked, (0..records as i64).collect::<Vec<_>>());

    // The new leader takes acks=all writes with the two replicas left.
    let producer2 = producer(&cluster.addr(new_state.leader), &[("acks", "all")]);
    let record = FutureRecord::<(), _>::to(topic)
        .partition(0)
        .payload("after");
    let after = delivered(enqueue(&producer2, record).await)
        .await
        .expect("acks=all on the new leader")
        .offset;
    assert_eq!(after, records as i64);
}
