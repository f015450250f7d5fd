//! After kill -9 under load the broker listens while it recovers its partitions and
//! serves each as soon as it is recovered (issue 17); after a clean stop it listens
//! at once too and serves each partition as soon as it is opened. One partition's
//! opening is held back by an LD_PRELOAD shim (`tests/fault/hold_open.c`) that makes
//! opening its files wait on a flag file: the others are served meanwhile, the held
//! one is refused with a retriable error, the broker's /metrics counts it as
//! recovering, and once let go it is served with every acknowledged record. Without
//! the change the broker does not listen until every partition is open, so the
//! restart never reports its listener.

use moldau_e2e::ServeProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HELD: &str = "held";
const SPREAD: &str = "spread";
const SPREAD_PARTITIONS: i32 = 16;
const RECOVERING: &str = "moldau_log_partitions_recovering";

/// Compiles the shim into `dir` and returns the library's path.
fn build_shim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fault/hold_open.c");
    let out = dir.join("hold_open.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("running cc");
    assert!(status.success(), "compiling the open shim failed");
    out
}

/// Every (topic, partition) the test writes to.
fn partitions() -> Vec<(&'static str, i32)> {
    let mut all: Vec<(&'static str, i32)> = (0..SPREAD_PARTITIONS).map(|p| (SPREAD, p)).collect();
    all.push((HELD, 0));
    all
}

/// Sends one record to every partition for each of `rounds`, starting at `first`;
/// returns the futures with their values.
fn send_rounds(
    producer: &FutureProducer,
    first: usize,
    rounds: usize,
) -> Vec<(String, rdkafka::producer::DeliveryFuture)> {
    let mut sent = Vec::new();
    for round in first..first + rounds {
        for (topic, p) in partitions() {
            let value = format!("{topic}-{p}-{round}");
            let future = producer
                .send_result(
                    FutureRecord::<(), _>::to(topic)
                        .partition(p)
                        .payload(&value),
                )
                .expect("enqueued");
            sent.push((value, future));
        }
    }
    sent
}

async fn acked(sent: Vec<(String, rdkafka::producer::DeliveryFuture)>) -> HashSet<String> {
    let mut out = HashSet::new();
    for (value, future) in sent {
        if let Ok(Ok(_)) = future.await {
            out.insert(value);
        }
    }
    out
}

/// Reads `topic`'s `count` partitions from the start until `expected` (those of
/// `topic`) are all seen, or a bounded wait ends; returns what was seen.
fn read_values(addr: &str, topic: &str, count: i32, expected: &HashSet<String>) -> HashSet<String> {
    let wanted: HashSet<&String> = expected
        .iter()
        .filter(|v| v.starts_with(&format!("{topic}-")))
        .collect();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..count {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !wanted.iter().all(|v| seen.contains(*v)) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    seen
}

/// Waits (bounded) until the broker's recovering gauge reads `value`.
fn wait_for_recovering(broker: &ServeProcess, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while broker.metric(RECOVERING) != value {
        assert!(
            Instant::now() < deadline,
            "{RECOVERING} never reached {value}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_are_served_as_they_recover_after_kill_9_under_load() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let shim = build_shim(temp.path());
    let broker = ServeProcess::start(&data, &[], &[], false);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[
                NewTopic::new(HELD, 1, TopicReplication::Fixed(1)),
                NewTopic::new(SPREAD, SPREAD_PARTITIONS, TopicReplication::Fixed(1)),
            ],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("producer");
    let mut expected = acked(send_rounds(&producer, 0, 20)).await;
    assert_eq!(
        expected.len(),
        20 * partitions().len(),
        "all acked before the crash"
    );
    // kill -9 with writes in flight: whatever was acknowledged must survive.
    let in_flight = send_rounds(&producer, 20, 20);
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(broker);
    expected.extend(acked(in_flight).await);
    drop(producer);

    restart_with_held_partition(temp.path(), &data, &shim, &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_are_served_as_they_are_opened_after_a_clean_stop() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let shim = build_shim(temp.path());
    let mut broker = ServeProcess::start(&data, &[], &[], false);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[
                NewTopic::new(HELD, 1, TopicReplication::Fixed(1)),
                NewTopic::new(SPREAD, SPREAD_PARTITIONS, TopicReplication::Fixed(1)),
            ],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("producer");
    let expected = acked(send_rounds(&producer, 0, 20)).await;
    assert_eq!(expected.len(), 20 * partitions().len(), "all acked");
    drop(producer);
    drop(admin);
    let status = broker.stop(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "clean stop: {status:?}"
    );
    assert!(
        data.join(".kafka_cleanshutdown").exists(),
        "a clean stop leaves Kafka's marker"
    );
    drop(broker);
    restart_with_held_partition(temp.path(), &data, &shim, &expected);
}

/// Restarts the broker on `data` with `held-0`'s opening held back: the others are
/// served meanwhile with every `expected` record, the held one is refused with a
/// retriable error until let go, then served with everything.
fn restart_with_held_partition(temp: &Path, data: &Path, shim: &Path, expected: &HashSet<String>) {
    let flag = temp.join("hold");
    let reached = temp.join("held");
    std::fs::write(&flag, b"").unwrap();
    let envs = [
        ("LD_PRELOAD", shim.to_str().unwrap()),
        ("MOLDAU_HOLD_PATH", "/held-0/"),
        ("MOLDAU_HOLD_FLAG", flag.to_str().unwrap()),
        ("MOLDAU_HOLD_REACHED", reached.to_str().unwrap()),
    ];
    // Listening while `held-0` is still held back.
    let broker = ServeProcess::start(data, &[], &envs, true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        assert!(Instant::now() < deadline, "held-0 was never reached");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for_recovering(&broker, 1.0);

    // The partitions open serve every acknowledged record meanwhile.
    let seen = read_values(&broker.addr, SPREAD, SPREAD_PARTITIONS, expected);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|v| v.starts_with("spread-") && !seen.contains(*v))
        .collect();
    assert!(missing.is_empty(), "acked but lost: {missing:?}");
    // The held one is not served yet: a retriable refusal, not data or a crash.
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("consumer");
    assert!(
        probe
            .fetch_watermarks(HELD, 0, Duration::from_secs(2))
            .is_err(),
        "a partition not open yet has no offsets to give"
    );
    assert_eq!(broker.metric(RECOVERING), 1.0, "held-0 still recovering");

    // Let it go: it is served, with everything acknowledged.
    std::fs::remove_file(&flag).unwrap();
    wait_for_recovering(&broker, 0.0);
    let seen = read_values(&broker.addr, HELD, 1, expected);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|v| v.starts_with("held-") && !seen.contains(*v))
        .collect();
    assert!(missing.is_empty(), "acked but lost: {missing:?}");
    assert!(
        broker.metric("moldau_log_partitions_recovery_finished_total") >= partitions().len() as f64,
        "every partition found at start was opened"
    );
}
