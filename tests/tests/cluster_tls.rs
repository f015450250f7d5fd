//! Inter-broker traffic over TLS (issue 15) on three real `moldau serve` processes:
//! with `inter.broker.listener.name=SSL` (client certificates required), followers
//! fetch from the leader over TLS, so acks=all records are on every replica; after
//! kill -9 of the leader, a follower takes over with every acknowledged record. The
//! certificates are made here with the openssl command.

mod rdkafka_support;

use moldau_e2e::ClusterProcesses;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureRecord;
use rdkafka_support::cluster_view::{wait_for_brokers, wait_for_partition_0};
use rdkafka_support::{consume_all, delivered, enqueue, producer};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const NODES: i32 = 3;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and one certificate for every node (server and client use, for 127.0.0.1),
/// as a PEM keystore (certificate then key) and a PEM truststore.
fn make_pki(dir: &Path) -> (String, String) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=moldau-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=moldau-broker",
        ],
    );
    std::fs::write(
        dir.join("node.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "node.pem",
            "-extfile",
            "node.ext",
        ],
    );
    let mut keystore = std::fs::read(dir.join("node.pem")).expect("node.pem");
    keystore.extend(std::fs::read(dir.join("node.key")).expect("node.key"));
    std::fs::write(dir.join("keystore.pem"), keystore).expect("write keystore");
    (
        dir.join("keystore.pem").display().to_string(),
        dir.join("ca.pem").display().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_and_failover_over_tls_between_brokers() {
    let pki = tempfile::tempdir().expect("tempdir");
    let (keystore, truststore) = make_pki(pki.path());
    let settings = [
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(),
        "inter.broker.listener.name=SSL".to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={keystore}"),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={truststore}"),
        "listener.name.ssl.ssl.client.auth=required".to_string(),
        "broker.heartbeat.interval.ms=500".to_string(),
        "broker.session.timeout.ms=3000".to_string(),
        "replica.lag.time.max.ms=3000".to_string(),
    ];
    let mut cluster = ClusterProcesses::start_with(NODES as usize, |_| {
        settings
            .iter()
            .flat_map(|s| ["--set".to_string(), s.clone()])
            .collect()
    });
    let topic = "tls-replicated";
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .expect("admin client");
    // Three replicas need three registered brokers.
    wait_for_brokers(&cluster.bootstrap(), NODES as usize);
    let new_topic =
        NewTopic::new(topic, 1, TopicReplication::Fixed(NODES)).set("min.insync.replicas", "2");
    for r in admin
        .create_topics(
            &[new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics")
    {
        r.expect("topic created");
    }

    let acks_all = producer(
        &cluster.bootstrap(),
        &[("acks", "all"), ("enable.idempotence", "true")],
    );
    let records = 100;
    let mut pending = Vec::new();
    for i in 0..records {
        let value = format!("tls-{i}");
        let record = FutureRecord::<(), _>::to(topic)
            .partition(0)
            .payload(&value);
        pending.push(enqueue(&acks_all, record).await);
    }
    for f in pending {
        delivered(f)
            .await
            .expect("acks=all delivery over TLS replication");
    }
    drop(acks_all);
    // Every follower fetches over TLS and stays in sync.
    let leader = wait_for_partition_0(&cluster.bootstrap(), topic, NODES as usize, |p| {
        p.isr == [1, 2, 3]
    })
    .leader;

    cluster.kill(leader);
    let survivor = (1..=NODES).find(|n| *n != leader).expect("a follower");
    let new_leader =
        wait_for_partition_0(&cluster.addr(survivor), topic, 1, |p| p.leader != leader).leader;
    let seen = consume_all(&cluster.addr(new_leader), topic, 1, records as usize);
    let values: Vec<Vec<u8>> = seen[&0].iter().map(|r| r.1.clone()).collect();
    let sent: Vec<Vec<u8>> = (0..records)
        .map(|i| format!("tls-{i}").into_bytes())
        .collect();
    assert_eq!(
        values, sent,
        "every acknowledged record survives the leader"
    );
    // The two brokers left still replicate over TLS: acks=all with min.insync=2.
    let p2 = producer(&cluster.addr(new_leader), &[("acks", "all")]);
    let record = FutureRecord::<(), _>::to(topic)
        .partition(0)
        .payload("after");
    let offset = delivered(enqueue(&p2, record).await)
        .await
        .expect("acks=all on the new leader")
        .offset;
    assert_eq!(offset, records as i64);
}
