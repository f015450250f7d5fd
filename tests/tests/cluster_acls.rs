//! ACLs on a three-node cluster (issue 15): an ACL created through one broker is in
//! the metadata log, so every broker enforces it; removed through another broker, it
//! stops applying everywhere. Each partition of the topic is led by a different node,
//! so a principal's produce to each one is authorized by that node's own image.
//! Operators use the PLAINTEXT listener (ANONYMOUS is a super user, as brokers talk
//! over it); the test's principal comes in over SASL_PLAINTEXT (PLAIN).

mod rdkafka_support;

use moldau_e2e::ClusterProcesses;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureRecord;
use rdkafka_support::cluster_view::{wait_for_brokers, SETTLE_TIMEOUT};
use rdkafka_support::{delivered, enqueue, producer};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: i32 = 3;
const TOPIC: &str = "acl-everywhere";
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `moldau acl <args>` through the broker at `addr`.
fn acl(addr: &str, args: &[&str]) -> String {
    let out = Command::new(moldau_e2e::moldau_bin())
        .args(["-b", addr, "acl"])
        .args(args)
        .output()
        .expect("moldau acl");
    assert!(
        out.status.success(),
        "moldau acl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether alice's record to `partition` is accepted (a fresh producer each time, so
/// no topic error is remembered from an earlier try).
async fn alice_may_write(sasl_bootstrap: &str, partition: i32) -> bool {
    let alice = producer(
        sasl_bootstrap,
        &[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
            ("message.timeout.ms", "5000"),
        ],
    );
    let record = FutureRecord::<(), _>::to(TOPIC)
        .partition(partition)
        .payload("from alice");
    delivered(enqueue(&alice, record).await).await.is_ok()
}

/// Waits until alice's writes to every partition are `allowed` (or not).
async fn every_node_says(sasl_bootstrap: &str, allowed: bool) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    for partition in 0..NODES {
        while alice_may_write(sasl_bootstrap, partition).await != allowed {
            assert!(
                Instant::now() < deadline,
                "the leader of partition {partition} never saw the change (allowed: {allowed})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_made_through_one_broker_applies_on_every_broker() {
    let sasl_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                user_alice=\"alice-secret\";";
    let cluster = ClusterProcesses::start_with(NODES as usize, |id| {
        let port = sasl_ports[(id - 1) as usize];
        [
            format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{port}"),
            "sasl.enabled.mechanisms=PLAIN".to_string(),
            format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}"),
            format!("authorizer.class.name={STANDARD_AUTHORIZER}"),
            "super.users=User:ANONYMOUS".to_string(),
        ]
        .into_iter()
        .flat_map(|s| ["--set".to_string(), s])
        .collect()
    });
    let sasl_bootstrap = sasl_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    wait_for_brokers(&cluster.bootstrap(), NODES as usize);
    // Partition p is led by node p + 1.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.addr(1))
        .create()
        .expect("admin client");
    let placement: [&[i32]; 3] = [&[1], &[2], &[3]];
    let topic = NewTopic::new(TOPIC, NODES, TopicReplication::Variable(&placement));
    for r in admin
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics")
    {
        r.expect("topic created");
    }
    assert!(
        !alice_may_write(&sasl_bootstrap, 0).await,
        "no ACL yet: alice may not write"
    );

    acl(
        &cluster.addr(1),
        &[
            "add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--topic",
            TOPIC,
        ],
    );
    every_node_says(&sasl_bootstrap, true).await;

    let removed = acl(
        &cluster.addr(3),
        &[
            "remove",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--topic",
            TOPIC,
        ],
    );
    assert!(removed.contains("1 ACL removed"), "{removed}");
    every_node_says(&sasl_bootstrap, false).await;
}
