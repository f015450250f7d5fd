//! Three real `moldau serve` processes forming one metadata quorum on loopback,
//! driven by librdkafka's admin client: a topic created through a follower is in
//! every node's Metadata; kill -9 of the active controller elects another and
//! CreateTopics works again; the killed node comes back and catches up; with two of
//! three nodes down CreateTopics fails with a clear error and works again once one
//! returns; a full stop and start keeps every topic. Every wait has a deadline;
//! nothing asserts on timing.

use moldau_e2e::{moldau_bin, ClusterProcesses};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use std::process::Command;
use std::time::{Duration, Instant};

/// Upper bound of any wait (an election on a loaded machine included).
const WAIT_MAX: Duration = Duration::from_secs(90);

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("request.timeout.ms", "15000")
        .create()
        .expect("admin client")
}

/// CreateTopics through `bootstrap`: Ok, or the error code the broker answered.
async fn create(bootstrap: &str, name: &str) -> Result<(), RDKafkaErrorCode> {
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(15)))
        .request_timeout(Some(Duration::from_secs(20)));
    let results = admin(bootstrap)
        .create_topics(
            &[NewTopic::new(name, 2, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .map_err(|e| {
            eprintln!("CreateTopics {name} through {bootstrap}: {e}");
            e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)
        })?;
    match results.into_iter().next().expect("one result") {
        Ok(_) => Ok(()),
        Err((_, code)) => Err(code),
    }
}

/// Polls CreateTopics until it succeeds (TOPIC_ALREADY_EXISTS counts: an earlier
/// attempt that timed out may have committed).
async fn create_eventually(bootstrap: &str, name: &str) {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        match create(bootstrap, name).await {
            Ok(()) | Err(RDKafkaErrorCode::TopicAlreadyExists) => return,
            Err(code) => assert!(
                Instant::now() < deadline,
                "creating {name} through {bootstrap} kept failing: {code:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The topics in the Metadata answer of the node at `addr` (librdkafka).
fn metadata_topics(addr: &str) -> Vec<String> {
    let client: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("metadata client");
    match client.fetch_metadata(None, Duration::from_secs(10)) {
        Ok(m) => m.topics().iter().map(|t| t.name().to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits until node `addr`'s Metadata lists every topic of `names`.
fn wait_for_topics(addr: &str, names: &[&str]) {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let seen = metadata_topics(addr);
        if names.iter().all(|n| seen.iter().any(|s| s == n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} never listed {names:?} (saw {seen:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The active controller as node `addr` reports it (DescribeQuorum through
/// `moldau cluster describe`).
fn controller_seen_by(addr: &str) -> Option<i32> {
    let out = Command::new(moldau_bin())
        .args(["-b", addr, "--json", "cluster", "describe"])
        .output()
        .ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    doc["quorum"]["leader_id"]
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
}

/// The controller every running node agrees on, once there is one.
fn agreed_controller(cluster: &ClusterProcesses) -> i32 {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let seen: Vec<Option<i32>> = (1..=3)
            .filter(|id| cluster.is_running(*id))
            .map(|id| controller_seen_by(&cluster.addr(id)))
            .collect();
        if let Some(Some(first)) = seen.first() {
            if seen.iter().all(|s| *s == Some(*first)) && cluster.is_running(*first) {
                return *first;
            }
        }
        assert!(Instant::now() < deadline, "no agreed controller: {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_forward_fail_over_and_refuse_without_a_majority() {
    let mut cluster = ClusterProcesses::start(3, &[]);
    let leader = agreed_controller(&cluster);
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");

    // A follower forwards the write to the active controller.
    create(&cluster.addr(follower), "via-follower")
        .await
        .expect("created through a follower");
    for id in 1..=3 {
        wait_for_topics(&cluster.addr(id), &["via-follower"]);
    }
    // Created twice through different nodes: refused when applied.
    let other = (1..=3).find(|id| *id != follower).expect("another node");
    assert_eq!(
        create(&cluster.addr(other), "via-follower").await,
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );

    // kill -9 of the active controller: another is elected and takes writes.
    cluster.kill(leader);
    let survivor = (1..=3).find(|id| *id != leader).expect("a survivor");
    create_eventually(&cluster.addr(survivor), "after-failover").await;
    let new_leader = agreed_controller(&cluster);
    assert_ne!(new_leader, leader, "the killed node cannot lead");

    // The killed node restarts and catches up.
    cluster.restart(leader);
    wait_for_topics(&cluster.addr(leader), &["via-follower", "after-failover"]);

    // Two of three down: no majority, a clear error instead of a hang.
    let alone = leader;
    for id in (1..=3).filter(|id| *id != alone) {
        cluster.kill(id);
    }
    let refused = create(&cluster.addr(alone), "minority").await;
    assert!(
        matches!(
            refused,
            Err(RDKafkaErrorCode::RequestTimedOut) | Err(RDKafkaErrorCode::NotController)
        ),
        "a minority answered {refused:?}"
    );
    // One returns: a majority again.
    let returning = (1..=3).find(|id| *id != alone).expect("another node");
    cluster.restart(returning);
    create_eventually(&cluster.addr(alone), "majority-again").await;

    // Full stop and start: every topic is back on every node.
    for id in 1..=3 {
        if cluster.is_running(id) {
            cluster.stop(id);
        }
    }
    cluster.restart_all_stopped();
    let all = ["via-follower", "after-failover", "majority-again"];
    for id in 1..=3 {
        wait_for_topics(&cluster.addr(id), &all);
    }
}
