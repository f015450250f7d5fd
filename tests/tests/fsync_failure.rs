//! A failed fsync takes the log directory offline: nothing whose fsync failed is
//! acknowledged, the single-directory broker exits, and after a restart every
//! acknowledged record is there. The failure comes from an LD_PRELOAD shim
//! (`tests/fault/fail_fsync_once.c`) that fails one fsync, the next ones succeeding
//! again, so a broker that carried on would acknowledge data whose pages were lost.
//! The same holds for the one `syncfs` that makes a round of many partitions durable.

mod rdkafka_support;

use moldau_e2e::{kernel_syncfs_reports_errors, ServeProcess};
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

const TOPIC: &str = "durable";

/// Compiles the shim into `dir` and returns the library's path.
fn build_shim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("fault/fail_fsync_once.c");
    let out = dir.join("fail_fsync_once.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("running cc");
    assert!(status.success(), "compiling the fsync shim failed");
    out
}

fn producer(addr: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "all")
        .set("message.timeout.ms", "15000")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Sends `values` at once and returns those acknowledged.
async fn send_all(producer: &FutureProducer, values: &[String]) -> Vec<String> {
    let futures: Vec<_> = values
        .iter()
        .map(|v| {
            producer
                .send_result(FutureRecord::<(), _>::to(TOPIC).payload(v))
                .expect("enqueued")
        })
        .collect();
    let mut acked = Vec::new();
    for (value, f) in values.iter().zip(futures) {
        if let Ok(Ok(_)) = f.await {
            acked.push(value.clone());
        }
    }
    acked
}

fn read_values(addr: &str, expected: &HashSet<String>) -> HashSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&seen) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_fsync_is_never_acknowledged_and_stops_the_broker() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let shim = build_shim(temp.path());
    let flag = temp.path().join("fail-next-fsync");
    let fired = temp.path().join("fsync-failed");
    let envs = [
        ("LD_PRELOAD", shim.to_str().unwrap()),
        ("MOLDAU_FAULT_FLAG", flag.to_str().unwrap()),
        ("MOLDAU_FAULT_FIRED", fired.to_str().unwrap()),
    ];
    let mut broker = ServeProcess::start(&data, &[], &envs, false);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    assert!(created[0].is_ok(), "{created:?}");

    let producer = producer(&broker.addr);
    let before: Vec<String> = (0..200).map(|i| format!("before-{i}")).collect();
    let acked = send_all(&producer, &before).await;
    assert_eq!(acked.len(), before.len(), "a healthy disk acknowledges all");

    // From here the next fsync fails once. Every record below is appended after the
    // flag exists, so its fsync is the failing one or comes after it.
    std::fs::write(&flag, b"").unwrap();
    let after: Vec<String> = (0..200).map(|i| format!("after-{i}")).collect();
    let acked_after = send_all(&producer, &after).await;
    assert!(fired.exists(), "the shim's fault never fired");
    assert!(
        acked_after.is_empty(),
        "{} records acknowledged after an fsync failed, e.g. {:?}",
        acked_after.len(),
        acked_after.first()
    );

    let status = broker
        .wait_exit(Duration::from_secs(30))
        .expect("the broker must stop when its only log directory fails");
    assert!(!status.success(), "exit status {status}");
    let log = broker.log();
    assert!(log.contains("offline"), "no log line says why: {log}");
    drop(broker);

    // Without the shim: recovery keeps every acknowledged record.
    let broker = ServeProcess::start(&data, &[], &[], false);
    let expected: HashSet<String> = acked.into_iter().collect();
    let seen = read_values(&broker.addr, &expected);
    let missing: Vec<&String> = expected.difference(&seen).collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");
}

/// Partitions of the topic the syncfs test writes one record to each of at once:
/// many more than one `syncfs` round needs.
const SPREAD_PARTITIONS: i32 = 400;

/// The partition a synced path belongs to (`.../spread-17/...` is 17).
fn spread_partition(path: &str, topic: &str) -> Option<i32> {
    let prefix = format!("{topic}-");
    path.split('/')
        .find_map(|c| c.strip_prefix(prefix.as_str())?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_syncfs_is_never_acknowledged_and_stops_the_broker() {
    if !kernel_syncfs_reports_errors() {
        eprintln!("skipped: this kernel's syncfs reports no errors, so the broker never uses it");
        return;
    }
    const SPREAD: &str = "spread";
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let shim = build_shim(temp.path());
    let flag = temp.path().join("fail-next-syncfs");
    let fired = temp.path().join("syncfs-failed");
    let synced = temp.path().join("synced-file-by-file");
    let envs = [
        ("LD_PRELOAD", shim.to_str().unwrap()),
        ("MOLDAU_FAULT_CALL", "syncfs"),
        ("MOLDAU_FAULT_FLAG", flag.to_str().unwrap()),
        ("MOLDAU_FAULT_FIRED", fired.to_str().unwrap()),
        ("MOLDAU_FAULT_SYNCED", synced.to_str().unwrap()),
    ];
    let mut broker = ServeProcess::start(&data, &[], &envs, false);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(
                SPREAD,
                SPREAD_PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(60))),
        )
        .await
        .unwrap();
    assert!(created[0].is_ok(), "{created:?}");

    let producer = producer(&broker.addr);
    let before =
        rdkafka_support::send_to_each_partition(&producer, SPREAD, SPREAD_PARTITIONS, |p| {
            format!("before-{p}")
        })
        .await;
    assert_eq!(
        before.len(),
        SPREAD_PARTITIONS as usize,
        "a healthy disk acknowledges all"
    );

    // From here the next syncfs fails once; fsyncs of single partitions still succeed
    // and the shim lists what they synced: only those partitions may be acknowledged.
    std::fs::write(&flag, b"").unwrap();
    let after =
        rdkafka_support::send_to_each_partition(&producer, SPREAD, SPREAD_PARTITIONS, |p| {
            format!("after-{p}")
        })
        .await;
    let fired_call = std::fs::read_to_string(&fired).expect("the shim's fault never fired");
    assert_eq!(fired_call, "syncfs", "the fault hit another call");
    let synced_alone: HashSet<i32> = std::fs::read_to_string(&synced)
        .unwrap_or_default()
        .lines()
        .filter_map(|path| spread_partition(path, SPREAD))
        .collect();
    let wrongly: Vec<&rdkafka_support::Acked> = after
        .iter()
        .filter(|(p, ..)| !synced_alone.contains(p))
        .collect();
    assert!(
        wrongly.is_empty(),
        "{} records acknowledged though only the failed syncfs covered them, e.g. {:?}",
        wrongly.len(),
        wrongly.first()
    );
    assert!(
        after.len() < SPREAD_PARTITIONS as usize,
        "every record acknowledged after the flag: no syncfs round failed"
    );

    let status = broker
        .wait_exit(Duration::from_secs(30))
        .expect("the broker must stop when its only log directory fails");
    assert!(!status.success(), "exit status {status}");
    let log = broker.log();
    assert!(log.contains("offline"), "no log line says why: {log}");
    drop(broker);

    // Without the shim: recovery keeps every acknowledged record.
    let broker = ServeProcess::start(&data, &[], &[], false);
    let acked: Vec<rdkafka_support::Acked> = before.into_iter().chain(after).collect();
    let addr = broker.addr.clone();
    tokio::task::spawn_blocking(move || {
        rdkafka_support::assert_acked_intact(&addr, SPREAD, SPREAD_PARTITIONS, &acked)
    })
    .await
    .expect("reading back");
}
