//! acks=all produce spread over 2 000 partitions: a request touching many partitions
//! is made durable by one `syncfs` of the log directory's filesystem rather than one
//! fsync per partition (issue 17), and every acknowledged record is there after the
//! broker is killed with SIGKILL and restarted.

mod rdkafka_support;
mod topic_support;

use moldau_e2e::{kernel_syncfs_reports_errors, ServeProcess};
use rdkafka_support::{assert_acked_intact, producer, send_to_each_partition, Acked};
use topic_support::{create_partitions, create_topic, partition_count, RawClient, NONE};

const TOPIC: &str = "spread";
const PARTITIONS: i32 = 2_000;
/// Created a hundred at a time: one CreateTopics of 2 000 partitions can outlast its
/// timeout on a loaded machine.
const CREATE_STEP_PARTITIONS: i32 = 100;
/// One record per partition per round.
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_spread_over_2000_partitions_survives_kill_9() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let broker = ServeProcess::start(&data, &[], &[], true);
    let mut admin = RawClient::connect(&broker.addr);
    assert_eq!(
        create_topic(&mut admin, TOPIC, CREATE_STEP_PARTITIONS, &[]),
        NONE
    );
    for total in (2 * CREATE_STEP_PARTITIONS..=PARTITIONS).step_by(CREATE_STEP_PARTITIONS as usize)
    {
        assert_eq!(
            create_partitions(&mut admin, TOPIC, total),
            NONE,
            "to {total}"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while partition_count(&mut admin, TOPIC) != Some(PARTITIONS as usize) {
        assert!(
            std::time::Instant::now() < deadline,
            "metadata never showed every partition"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let producer = producer(
        &broker.addr,
        &[("linger.ms", "5"), ("message.timeout.ms", "120000")],
    );
    let syncfs_before = broker.metric("moldau_log_syncfs_total");
    let mut acked: Vec<Acked> = Vec::new();
    for round in 0..ROUNDS {
        let started = std::time::Instant::now();
        let got =
            send_to_each_partition(&producer, TOPIC, PARTITIONS, |p| format!("r{round}-p{p}"))
                .await;
        assert_eq!(
            got.len(),
            PARTITIONS as usize,
            "round {round}: all acknowledged"
        );
        eprintln!("round {round} acknowledged in {:?}", started.elapsed());
        acked.extend(got);
    }
    let syncfs = broker.metric("moldau_log_syncfs_total") - syncfs_before;
    let fsyncs = broker.metric("moldau_log_fsyncs_total");
    eprintln!(
        "{syncfs} syncfs, {fsyncs} fsyncs for {} records",
        acked.len()
    );
    if kernel_syncfs_reports_errors() {
        assert!(
            syncfs >= 1.0,
            "acks=all over {PARTITIONS} partitions never used one syncfs ({fsyncs} fsyncs)"
        );
    }
    drop(producer);
    // SIGKILL, then recovery from what was on disk.
    drop(broker);
    let broker = ServeProcess::start(&data, &[], &[], true);
    // Partitions are served as each is recovered; read once all are.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while broker.metric("moldau_log_partitions_recovering") > 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "recovery never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let addr = broker.addr.clone();
    tokio::task::spawn_blocking(move || assert_acked_intact(&addr, TOPIC, PARTITIONS, &acked))
        .await
        .expect("reading back");
}
