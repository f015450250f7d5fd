//! Deleting and recreating a topic under produce load, with tiny segments and busy
//! retention: what is left of the deleted topic (an in-flight produce, a retention
//! pass that listed its log) must never touch the files of the recreated one.

mod topic_support;

use moldau_e2e::BrokerProcess;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use topic_support::*;

const TOPIC: &str = "recreated";
const PARTITIONS: i32 = 2;
const ROUNDS: usize = 12;
const ACKED_PER_ROUND: usize = 24;
/// Records older than the topic's retention, so every closed segment holding only
/// them is deleted by the next retention pass.
const EXPIRED_AGE_MS: i64 = 2 * 24 * 3_600_000;
/// Generous: a round's records stay readable far longer than the test runs.
const TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("segment.bytes", "600"),
    ("retention.ms", "3600000"),
    ("file.delete.delay.ms", "0"),
];

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Produces expired records to every partition until `stop`; errors (the topic is
/// often missing) are expected and ignored.
fn expired_load(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut client = RawClient::connect(&addr);
        let value = [b'o'; 200];
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let _ = produce(
                &mut client,
                TOPIC,
                i % PARTITIONS,
                1,
                now_ms() - EXPIRED_AGE_MS,
                &value,
            );
            i += 1;
        }
    })
}

/// Every acknowledged (partition, offset, value) is still there.
fn assert_readable(client: &mut RawClient, acked: &[(i32, i64, Vec<u8>)], when: &str) {
    for (partition, offset, value) in acked {
        let (error, records) = fetch(client, TOPIC, *partition, *offset);
        assert_eq!(error, NONE, "{when}: fetch {partition}@{offset}");
        let found = records.iter().find(|(o, _)| o == offset);
        assert_eq!(
            found.and_then(|(_, v)| v.as_deref()),
            Some(&value[..]),
            "{when}: acknowledged record {partition}@{offset} lost"
        );
    }
}

#[test]
fn recreated_topic_keeps_every_acknowledged_record() {
    let mut broker = BrokerProcess::start(&[
        "--set",
        "log.retention.check.interval.ms=5",
        "--set",
        "auto.create.topics.enable=false",
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = expired_load(broker.addr.clone(), Arc::clone(&stop));
    let mut client = RawClient::connect(&broker.addr);
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let deleted = delete_topic(&mut client, TOPIC);
        assert!(
            deleted == NONE || (round == 0 && deleted == UNKNOWN_TOPIC_OR_PARTITION),
            "round {round}: delete gave {deleted}"
        );
        assert_eq!(
            create_topic(&mut client, TOPIC, PARTITIONS, TOPIC_CONFIGS),
            NONE
        );
        acked.clear();
        for i in 0..ACKED_PER_ROUND {
            let partition = i as i32 % PARTITIONS;
            let value = format!("round {round} record {i} {}", "x".repeat(150)).into_bytes();
            let (error, offset) = produce(&mut client, TOPIC, partition, -1, now_ms(), &value);
            assert_eq!(error, NONE, "round {round}: produce {i}");
            acked.push((partition, offset, value));
        }
        assert_readable(&mut client, &acked, &format!("round {round}"));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    // Let retention passes over whatever is left run, then look again, also after
    // a restart (a file written into the new directory by an old log would be
    // loaded as part of it).
    std::thread::sleep(Duration::from_millis(200));
    assert_readable(&mut client, &acked, "after the load");
    broker.stop();
    broker.restart();
    let mut client = RawClient::connect(&broker.addr);
    assert_readable(&mut client, &acked, "after restart");
}

/// Copies the files of a partition directory (it has no subdirectories).
fn copy_partition_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_deleted_topics_directory_left_by_a_crash_is_removed_at_start() {
    let mut broker = BrokerProcess::start(&["--set", "auto.create.topics.enable=false"]);
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut client, "ghost", 1, &[]), NONE);
    for i in 0..3 {
        let (error, _) = produce(
            &mut client,
            "ghost",
            0,
            -1,
            now_ms(),
            format!("old {i}").as_bytes(),
        );
        assert_eq!(error, NONE);
    }
    broker.stop();
    let saved = tempfile::tempdir().unwrap();
    let partition_dir = broker.data_dir.join("ghost-0");
    copy_partition_dir(&partition_dir, saved.path());
    broker.restart();
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(delete_topic(&mut client, "ghost"), NONE);
    broker.stop();
    // As if the broker had died after committing the deletion, before the rename.
    assert!(!partition_dir.exists());
    copy_partition_dir(saved.path(), &partition_dir);
    broker.restart();
    assert!(!partition_dir.exists(), "stray ghost-0 kept at start");
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut client, "ghost", 1, &[]), NONE);
    let (error, offset) = produce(&mut client, "ghost", 0, -1, now_ms(), b"new");
    assert_eq!((error, offset), (NONE, 0));
    let (error, records) = fetch(&mut client, "ghost", 0, 0);
    assert_eq!(error, NONE);
    let values: Vec<_> = records.iter().map(|(_, v)| v.as_deref()).collect();
    assert_eq!(values, vec![Some(&b"new"[..])]);
}
