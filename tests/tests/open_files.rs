//! Descriptors are a bounded resource: a broker whose open files limit (soft and hard)
//! is 1 024 creates 2 000 partitions with several segments each, takes writes to all
//! of them, restarts under the same limit and serves every record back.

mod rdkafka_support;
mod topic_support;

use moldau_e2e::BrokerProcess;
use rdkafka::producer::FutureRecord;
use rdkafka_support::{consume_until, delivered, enqueue, producer};
use topic_support::{create_topic, RawClient, NONE};

/// The common default limit, far below three files per partition.
const OPEN_FILES_LIMIT: u64 = 1024;
const TOPICS: usize = 20;
const PARTITIONS_PER_TOPIC: i32 = 100;
/// One record per partition per round, each its own batch.
const ROUNDS: usize = 4;
const VALUE_BYTES: usize = 300;
/// A clean shutdown syncs every partition's active segment: thousands of fsyncs.
const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// Two batches fill a segment, so every partition has closed segments.
const TOPIC_CONFIGS: &[(&str, &str)] = &[("segment.bytes", "1024")];

fn topic(t: usize) -> String {
    format!("many-{t:02}")
}

fn value(topic: &str, partition: i32, round: usize) -> Vec<u8> {
    let mut v = format!("{topic}/{partition}/{round}/").into_bytes();
    v.resize(VALUE_BYTES, b'x');
    v
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_partitions_under_1024_open_files_survive_a_restart() {
    let mut broker = BrokerProcess::start_with_open_files_limit(&[], OPEN_FILES_LIMIT);
    let mut admin = RawClient::connect(&broker.addr);
    for t in 0..TOPICS {
        let error = create_topic(&mut admin, &topic(t), PARTITIONS_PER_TOPIC, TOPIC_CONFIGS);
        assert_eq!(error, NONE, "creating {}", topic(t));
    }
    // Idempotent, so a request that times out on a loaded machine and is retried is
    // stored once: the read-back below expects every record exactly once.
    let producer = producer(
        &broker.addr,
        &[
            ("linger.ms", "0"),
            ("message.timeout.ms", "300000"),
            ("enable.idempotence", "true"),
        ],
    );
    for round in 0..ROUNDS {
        let mut acks = Vec::new();
        for t in 0..TOPICS {
            let name = topic(t);
            for p in 0..PARTITIONS_PER_TOPIC {
                let v = value(&name, p, round);
                let record = FutureRecord::<(), _>::to(&name).partition(p).payload(&v);
                acks.push(enqueue(&producer, record).await);
            }
        }
        let started = std::time::Instant::now();
        for ack in acks {
            delivered(ack).await.expect("record acknowledged");
        }
        eprintln!("round {round} acknowledged in {:?}", started.elapsed());
    }
    drop(producer);
    let segments = std::fs::read_dir(broker.data_dir.join(format!("{}-0", topic(0))))
        .expect("partition directory")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count();
    assert!(segments > 1, "segments rolled ({segments})");
    if let Some(pid) = broker.pid() {
        let open = open_files(pid);
        assert!(open < OPEN_FILES_LIMIT as usize, "{open} files open");
    }

    let stopping = std::time::Instant::now();
    broker.stop_within(SHUTDOWN_TIMEOUT);
    eprintln!("clean shutdown took {:?}", stopping.elapsed());
    let starting = std::time::Instant::now();
    broker.restart();
    eprintln!("restart took {:?}", starting.elapsed());

    let addr = broker.addr.clone();
    tokio::task::spawn_blocking(move || {
        for t in 0..TOPICS {
            let name = topic(t);
            let seen = consume_until(&addr, &name, PARTITIONS_PER_TOPIC, |seen| {
                seen.len() == PARTITIONS_PER_TOPIC as usize
                    && seen.values().all(|records| records.len() >= ROUNDS)
            });
            for p in 0..PARTITIONS_PER_TOPIC {
                let values: Vec<&[u8]> = seen[&p].iter().map(|r| r.1.as_slice()).collect();
                let expected: Vec<Vec<u8>> = (0..ROUNDS).map(|r| value(&name, p, r)).collect();
                assert_eq!(values, expected, "{name}-{p} read back after restart");
            }
        }
    })
    .await
    .expect("reading back");
}
