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
