//! A restarted broker takes its id back (issue 11, KIP-966's PreviousBrokerEpoch), on
//! three real `moldau serve` processes:
//! - SIGTERM, then start again: the node kept its broker epoch in
//!   `.kafka_cleanshutdown`, the controller lets that registration replace the old one
//!   at once (no DuplicateBrokerRegistration in its log, although its old session is
//!   still live), and it leads its single-replica partitions again;
//! - kill -9, then start again at once: no previous epoch, so it waits for the old
//!   session to end, and is registered and leads again after that.
//!
//! Every wait has a deadline; nothing asserts on timing (the times are printed).

use moldau_e2e::ClusterProcesses;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const NODES: i32 = 3;
/// Upper bound of any wait (elections and session timeouts on a loaded machine).
const WAIT_MAX: Duration = Duration::from_secs(60);
/// Long enough that a registration refused until the old session ends shows in the
/// log many times over (the broker retries every 250 ms).
const SESSION_TIMEOUT_MS: u32 = 6000;

/// (listed brokers, leader of each partition of `topic`) from one Metadata answer.
fn leaders(bootstrap: &str, topic: &str) -> (BTreeSet<i32>, BTreeMap<i32, i32>) {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let Ok(md) = client.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return (BTreeSet::new(), BTreeMap::new());
    };
    let brokers = md.brokers().iter().map(|b| b.id()).collect();
    let partitions = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| (p.id(), p.leader())))
        .collect();
    (brokers, partitions)
}

/// Polls Metadata through `bootstrap` until every broker is listed and `topic`'s
/// partitions are led as `expected`, within [`WAIT_MAX`]; returns how long it took.
fn wait_for_leaders(bootstrap: &str, topic: &str, expected: &BTreeMap<i32, i32>) -> Duration {
    let started = Instant::now();
    loop {
        let (brokers, now) = leaders(bootstrap, topic);
        if brokers.len() == NODES as usize && &now == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "{topic}: brokers {brokers:?}, leaders {now:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn duplicate_lines(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains("DuplicateBrokerRegistration"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_stopped_node_re_registers_at_once_and_a_killed_one_after_its_session() {
    let mut cluster = ClusterProcesses::start_with(NODES as usize, |_| {
        vec![
            "--set".into(),
            "broker.heartbeat.interval.ms=500".into(),
            "--set".into(),
            format!("broker.session.timeout.ms={SESSION_TIMEOUT_MS}"),
        ]
    });
    let topic = "solo";
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.addr(1))
        .create()
        .expect("admin client");
    for r in admin
        .create_topics(
            &[NewTopic::new(topic, 6, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(15))),
        )
        .await
        .expect("create topics")
    {
        r.expect("topic created");
    }
    let started = Instant::now();
    let placed = loop {
        let (brokers, placed) = leaders(&cluster.addr(1), topic);
        if brokers.len() == NODES as usize && placed.len() == 6 && placed.values().all(|l| *l > 0) {
            break placed;
        }
        assert!(started.elapsed() < WAIT_MAX, "leaders: {placed:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        placed.values().copied().collect::<BTreeSet<_>>(),
        (1..=NODES).collect(),
        "six single-replica partitions are led by all three nodes"
    );

    // A clean stop: the session the controller holds for it is still live when it
    // comes back, yet its previous epoch lets it in at once.
    let clean = 2;
    cluster.stop(clean);
    // Read before the restart, which consumes it.
    let marker = std::fs::read_to_string(cluster.data_dir(clean).join(".kafka_cleanshutdown"))
        .expect("clean-shutdown marker");
    let restarted_at = Instant::now();
    cluster.restart(clean);
    let waited = wait_for_leaders(&cluster.addr(1), topic, &placed);
    eprintln!(
        "clean restart: listening {} ms after start, leading again after {} ms more (session {SESSION_TIMEOUT_MS} ms)",
        restarted_at.elapsed().saturating_sub(waited).as_millis(),
        waited.as_millis()
    );
    let lines = cluster.log_lines(clean);
    assert!(
        duplicate_lines(&lines).is_empty(),
        "a clean restart is no duplicate registration: {:?}",
        duplicate_lines(&lines)
    );
    assert!(
        marker.starts_with("{\"version\":0,\"brokerEpoch\":") && !marker.contains("-1"),
        "marker names the epoch it stopped under: {marker}"
    );

    // A crash: no previous epoch; registered once the old session ended.
    let crashed = 3;
    cluster.kill(crashed);
    let restarted_at = Instant::now();
    cluster.restart(crashed);
    let waited = wait_for_leaders(&cluster.addr(1), topic, &placed);
    eprintln!(
        "kill -9 restart: listening {} ms after start, leading again after {} ms more, {} refusals logged (session {SESSION_TIMEOUT_MS} ms)",
        restarted_at.elapsed().saturating_sub(waited).as_millis(),
        waited.as_millis(),
        duplicate_lines(&cluster.log_lines(crashed)).len()
    );
}
