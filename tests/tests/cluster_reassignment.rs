//! Partition reassignment (issue 12, KIP-455) on real `moldau serve` processes,
//! driven by `moldau reassign-partitions` (AlterPartitionReassignments /
//! ListPartitionReassignments; neither installed Python client has them): replicas
//! move between brokers while librdkafka producers write, every acknowledged record
//! is read back afterwards, and the brokers moved away from no longer hold the
//! partition; a move that cannot finish is listed, and cancelled back.

mod rdkafka_support;

use moldau_e2e::{moldau_bin, ClusterProcesses};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka_support::cluster_view::{partitions_now, wait_for_brokers, SETTLE_TIMEOUT};
use rdkafka_support::{assert_acked_intact, producer, spawn_acked_load, Acked};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Acknowledged records each load reaches before the move, and again after it.
const ACKED_STEP: usize = 200;

fn moldau(bootstrap: &str, args: &[&str]) -> Output {
    Command::new(moldau_bin())
        .args(["--bootstrap", bootstrap, "--timeout", "20s"])
        .args(args)
        .output()
        .expect("running moldau")
}

/// `moldau --json reassign-partitions <args>`, which must succeed, as JSON.
fn reassign_json(bootstrap: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json", "reassign-partitions"];
    all.extend_from_slice(args);
    let out = moldau(bootstrap, &all);
    assert!(
        out.status.success(),
        "moldau {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Writes a kafka-reassign-partitions.sh plan moving each (topic, replicas)'s
/// partition 0.
fn write_plan(path: &Path, moves: &[(&str, &[i32])]) {
    let partitions: Vec<Value> = moves
        .iter()
        .map(|(topic, replicas)| {
            serde_json::json!({ "topic": topic, "partition": 0, "replicas": replicas })
        })
        .collect();
    let plan = serde_json::json!({ "version": 1, "partitions": partitions });
    std::fs::write(path, plan.to_string()).expect("plan written");
}

/// Creates `name` with one partition on exactly `replicas`.
async fn create_assigned(bootstrap: &str, name: &str, replicas: &[i32]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let assignment = [replicas];
    let topic = NewTopic::new(name, 1, TopicReplication::Variable(&assignment)).set(
        "min.insync.replicas",
        if replicas.len() > 1 { "2" } else { "1" },
    );
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

/// Partition 0's replicas as Metadata reports them (once it has a leader).
fn replicas_of(bootstrap: &str, topic: &str) -> Option<Vec<i32>> {
    partitions_now(bootstrap, topic)
        .remove(&0)
        .map(|p| p.replicas)
}

/// Whether `data_dir` holds a directory of `topic`-0 (live or being deleted).
fn holds_partition(data_dir: &Path, topic: &str) -> bool {
    let prefix = format!("{topic}-0");
    std::fs::read_dir(data_dir)
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name == prefix || name.starts_with(&format!("{prefix}."))
            })
        })
        .unwrap_or(false)
}

/// Waits until `acked` holds at least `count` records.
async fn wait_acked(acked: &Arc<Mutex<Vec<Acked>>>, count: usize, what: &str) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while acked.lock().expect("acked").len() < count {
        assert!(
            Instant::now() < deadline,
            "{what}: fewer than {count} records acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_move_to_other_brokers_while_producers_write_without_loss() {
    // Four nodes: an RF=1 partition moves from broker 1 to broker 2, and an RF=3 one
    // from brokers 1,2,3 to 1,2,4, in one plan, both under an acks=all load.
    let cluster = ClusterProcesses::start(4, &[]);
    let bootstrap = cluster.bootstrap();
    wait_for_brokers(&bootstrap, 4);
    create_assigned(&bootstrap, "moved", &[1]).await;
    create_assigned(&bootstrap, "widened", &[1, 2, 3]).await;

    let idempotent = [("enable.idempotence", "true"), ("linger.ms", "5")];
    let pause = Some(Duration::from_millis(10));
    let acked_moved = Arc::new(Mutex::new(Vec::new()));
    let acked_widened = Arc::new(Mutex::new(Vec::new()));
    let load_moved = spawn_acked_load(
        producer(&bootstrap, &idempotent),
        "moved",
        pause,
        |i| (Some(format!("k{i}")), format!("moved-{i}")),
        Arc::clone(&acked_moved),
    );
    let load_widened = spawn_acked_load(
        producer(&bootstrap, &idempotent),
        "widened",
        pause,
        |i| (Some(format!("k{i}")), format!("widened-{i}")),
        Arc::clone(&acked_widened),
    );
    wait_acked(&acked_moved, ACKED_STEP, "moved, before").await;
    wait_acked(&acked_widened, ACKED_STEP, "widened, before").await;

    let plan_dir = tempfile::tempdir().expect("tempdir");
    let plan = plan_dir.path().join("plan.json");
    write_plan(&plan, &[("moved", &[2]), ("widened", &[1, 2, 4])]);
    let plan_arg = plan.to_str().expect("utf-8 path");
    let started = reassign_json(
        &bootstrap,
        &["--execute", "--reassignment-json-file", plan_arg],
    );
    assert_eq!(started["failed"], serde_json::json!([]), "{started}");
    assert_eq!(
        started["started"].as_array().map(Vec::len),
        Some(2),
        "{started}"
    );

    // --verify reports each move completed once the new replicas caught up.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let verified = reassign_json(
            &bootstrap,
            &["--verify", "--reassignment-json-file", plan_arg],
        );
        let states: Vec<&str> = verified["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| p["state"].as_str().expect("state"))
            .collect();
        if states.iter().all(|s| *s == "completed") {
            break;
        }
        // "other" too can be passing: the broker answering Metadata may not have
        // applied the completion the controller already listed.
        assert!(
            Instant::now() < deadline,
            "moves never completed: {verified}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let listed = reassign_json(&bootstrap, &["--list"]);
    assert_eq!(listed["reassignments"], serde_json::json!([]), "{listed}");
    assert_eq!(replicas_of(&bootstrap, "moved"), Some(vec![2]));
    assert_eq!(replicas_of(&bootstrap, "widened"), Some(vec![1, 2, 4]));

    // The producers keep going on the new replicas.
    let moved_before = acked_moved.lock().expect("acked").len();
    let widened_before = acked_widened.lock().expect("acked").len();
    wait_acked(&acked_moved, moved_before + ACKED_STEP, "moved, after").await;
    wait_acked(
        &acked_widened,
        widened_before + ACKED_STEP,
        "widened, after",
    )
    .await;
    load_moved.abort();
    load_widened.abort();
    let acked_moved = acked_moved.lock().expect("acked").clone();
    let acked_widened = acked_widened.lock().expect("acked").clone();
    assert_acked_intact(&bootstrap, "moved", 1, &acked_moved);
    assert_acked_intact(&bootstrap, "widened", 1, &acked_widened);

    // The brokers moved away from deleted their copy; the new ones hold it.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let data_dir = |id: i32| cluster.data_dir(id);
    while holds_partition(&data_dir(1), "moved") || holds_partition(&data_dir(3), "widened") {
        assert!(
            Instant::now() < deadline,
            "an old replica was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(holds_partition(&data_dir(2), "moved"));
    assert!(holds_partition(&data_dir(4), "widened"));
    assert!(
        holds_partition(&data_dir(1), "widened"),
        "1 keeps its replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_that_cannot_finish_is_listed_and_cancelled_back() {
    let mut cluster = ClusterProcesses::start(3, &[]);
    let bootstrap = cluster.bootstrap();
    wait_for_brokers(&bootstrap, 3);
    create_assigned(&bootstrap, "pending", &[1, 2]).await;
    // Broker 3 is down (still registered): a replica moved to it cannot catch up.
    cluster.kill(3);
    let bootstrap = cluster.bootstrap();

    let plan_dir = tempfile::tempdir().expect("tempdir");
    let bad = plan_dir.path().join("bad.json");
    write_plan(&bad, &[("pending", &[1, 9])]);
    let out = moldau(
        &bootstrap,
        &[
            "reassign-partitions",
            "--execute",
            "--reassignment-json-file",
            bad.to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success());
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("INVALID_REPLICA_ASSIGNMENT"), "{said}");

    let plan = plan_dir.path().join("plan.json");
    write_plan(&plan, &[("pending", &[1, 3])]);
    let plan_arg = plan.to_str().expect("utf-8 path");
    let started = reassign_json(
        &bootstrap,
        &["--execute", "--reassignment-json-file", plan_arg],
    );
    assert_eq!(
        started["started"],
        serde_json::json!(["pending-0"]),
        "{started}"
    );

    let listed = reassign_json(&bootstrap, &["--list"]);
    assert_eq!(
        listed["reassignments"],
        serde_json::json!([{
            "topic": "pending",
            "partition": 0,
            "replicas": [1, 3, 2],
            "addingReplicas": [3],
            "removingReplicas": [2],
        }]),
        "{listed}"
    );
    let verified = reassign_json(
        &bootstrap,
        &["--verify", "--reassignment-json-file", plan_arg],
    );
    assert_eq!(
        verified["partitions"][0]["state"], "in_progress",
        "{verified}"
    );
    // Another --execute while a move is in progress needs --additional.
    let again = moldau(
        &bootstrap,
        &[
            "reassign-partitions",
            "--execute",
            "--reassignment-json-file",
            plan_arg,
        ],
    );
    assert!(!again.status.success());

    let cancelled = reassign_json(
        &bootstrap,
        &["--cancel", "--reassignment-json-file", plan_arg],
    );
    assert_eq!(
        cancelled["cancelled"],
        serde_json::json!(["pending-0"]),
        "{cancelled}"
    );
    let listed = reassign_json(&bootstrap, &["--list"]);
    assert_eq!(listed["reassignments"], serde_json::json!([]), "{listed}");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while replicas_of(&bootstrap, "pending") != Some(vec![1, 2]) {
        assert!(
            Instant::now() < deadline,
            "the cancel never showed in Metadata"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Nothing left to cancel: NO_REASSIGNMENT_IN_PROGRESS.
    let out = moldau(
        &bootstrap,
        &[
            "reassign-partitions",
            "--cancel",
            "--reassignment-json-file",
            plan_arg,
        ],
    );
    assert!(!out.status.success());
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("NO_REASSIGNMENT_IN_PROGRESS"), "{said}");
}
