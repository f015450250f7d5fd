//! Several named listeners: each advertises its own address, so a client that came in
//! on one listener is told that listener's address (in Metadata, FindCoordinator and
//! DescribeCluster) and stays on it; the controller listener serves no client APIs;
//! listener and quorum settings Moldau cannot honour stop start-up by name.

use moldau_e2e::{moldau_bin, BrokerProcess, RawConnection};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

const FIND_COORDINATOR: i16 = 10;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (host, port) of the only broker in Metadata, as librdkafka sees it via `bootstrap`.
fn broker_seen_via(bootstrap: &str) -> (String, i32) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = p
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert_eq!(md.brokers().len(), 1);
    (md.brokers()[0].host().to_string(), md.brokers()[0].port())
}

/// FindCoordinator v0 for `group`, retried while the coordinator is loading.
fn coordinator_seen_via(bootstrap: &str, group: &str) -> (String, i32) {
    let mut conn = RawConnection::connect(bootstrap);
    let mut body = (group.len() as i16).to_be_bytes().to_vec();
    body.extend_from_slice(group.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = conn.call(FIND_COORDINATOR, 0, false, &body);
        let error = i16::from_be_bytes([r[0], r[1]]);
        if error == 0 {
            let host_len = i16::from_be_bytes([r[6], r[7]]) as usize;
            let host = String::from_utf8(r[8..8 + host_len].to_vec()).unwrap();
            let port = i32::from_be_bytes(r[8 + host_len..12 + host_len].try_into().unwrap());
            return (host, port);
        }
        assert!(
            Instant::now() < deadline,
            "FindCoordinator kept failing with {error}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Brokers in `moldau cluster describe --json` (DescribeCluster) via `bootstrap`.
fn cluster_brokers_via(bootstrap: &str) -> Vec<(String, i64)> {
    let out = Command::new(moldau_bin())
        .args(["-b", bootstrap, "--json", "cluster", "describe"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["brokers"]
        .as_array()
        .expect("brokers")
        .iter()
        .map(|b| {
            (
                b["host"].as_str().unwrap().to_string(),
                b["port"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Produces `n` records to `topic` and reads them back in group `group`, both clients
/// bootstrapping via `bootstrap` only.
fn produce_and_consume_via(bootstrap: &str, topic: &str, group: &str, n: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for i in 0..n {
        let value = format!("{topic}-{i}");
        producer
            .send(BaseRecord::<(), _>::to(topic).payload(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    let expected: Vec<String> = (0..n).map(|i| format!("{topic}-{i}")).collect();
    assert_eq!(seen, expected, "records via {bootstrap}");
}

#[test]
fn each_listener_answers_with_its_own_advertised_address() {
    let temp = tempfile::tempdir().unwrap();
    let (outer, inner) = (free_port(), free_port());
    let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{outer},INTERNAL://127.0.0.1:{inner}");
    // Different host names and ports: "localhost" for the outer listener.
    let advertised =
        format!("advertised.listeners=PLAINTEXT://localhost:{outer},INTERNAL://127.0.0.1:{inner}");
    let broker = BrokerProcess::start_in(
        temp.path(),
        &[
            "--set",
            &listeners,
            "--set",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            "--set",
            "inter.broker.listener.name=INTERNAL",
            "--set",
            &advertised,
        ],
        Some(outer),
    );
    assert_eq!(broker.port(), outer);
    let via_outer = format!("127.0.0.1:{outer}");
    let via_inner = format!("127.0.0.1:{inner}");
    assert_eq!(
        broker_seen_via(&via_outer),
        ("localhost".into(), i32::from(outer))
    );
    assert_eq!(
        broker_seen_via(&via_inner),
        ("127.0.0.1".into(), i32::from(inner))
    );
    assert_eq!(
        cluster_brokers_via(&via_outer),
        [("localhost".into(), i64::from(outer))]
    );
    assert_eq!(
        cluster_brokers_via(&via_inner),
        [("127.0.0.1".into(), i64::from(inner))]
    );
    assert_eq!(
        coordinator_seen_via(&via_outer, "g-outer"),
        ("localhost".into(), i32::from(outer))
    );
    assert_eq!(
        coordinator_seen_via(&via_inner, "g-inner"),
        ("127.0.0.1".into(), i32::from(inner))
    );
    produce_and_consume_via(&via_outer, "via-outer", "g-outer", 50);
    produce_and_consume_via(&via_inner, "via-inner", "g-inner", 50);
}

#[test]
fn the_controller_listener_serves_no_client_requests() {
    let temp = tempfile::tempdir().unwrap();
    let controller = free_port();
    let controller_addr = format!("127.0.0.1:{controller}");
    let voters = format!("1@127.0.0.1:{controller}");
    let broker = BrokerProcess::start_in(
        temp.path(),
        &[
            "--node-id",
            "1",
            "--controller",
            &controller_addr,
            "--voters",
            &voters,
            "--rack",
            "rack-a",
        ],
        None,
    );
    // Clients are never sent to the controller listener.
    let (_, port) = broker_seen_via(&broker.addr);
    assert_eq!(port, i32::from(broker.port()));
    // broker.rack is registered and reported (DescribeCluster).
    let out = Command::new(moldau_bin())
        .args(["-b", &broker.addr, "--json", "cluster", "describe"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["brokers"][0]["rack"], "rack-a", "{doc}");
    // A Kafka request on it gets no answer: the connection is closed.
    let mut stream = std::net::TcpStream::connect(&controller_addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // ApiVersions v0: api key 18, version 0, correlation id 1, client id "t".
    let frame = [0, 18, 0, 0, 0, 0, 0, 1, 0, 1, b't'];
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    let _ = stream.write_all(&out);
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("the controller listener answered {n} bytes"),
    }
}

fn serve_refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(moldau_bin())
        .args([
            "serve",
            "--console",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "start-up must fail for {args:?}");
    assert!(
        !dir.path().join("meta.properties").exists(),
        "nothing is written before the configuration is accepted"
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn listener_and_quorum_settings_that_cannot_be_honoured_stop_start_up() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "--controller",
                "127.0.0.1:0",
                "--voters",
                "2@127.0.0.1:9093",
            ],
            &["controller.quorum.voters", "node.id (1)"],
        ),
        (
            &["--voters", "1@127.0.0.1:9093"],
            &["controller.listener.names"],
        ),
        (&["--process-roles", "broker"], &["process.roles"]),
        (
            &["--set", "listeners=SSL://127.0.0.1:0"],
            &["ssl.keystore.location", "SSL"],
        ),
        (
            &[
                "--set",
                "listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                "--set",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:TLS13",
            ],
            &["listener.security.protocol.map", "TLS13"],
        ),
        (
            &[
                "--controller",
                "127.0.0.1:0",
                "--set",
                "advertised.listeners=CONTROLLER://h:1",
            ],
            &["advertised.listeners", "controller listener"],
        ),
        (
            &[
                "--set",
                "controller.quorum.bootstrap.servers=127.0.0.1:9093",
            ],
            &["controller.quorum.bootstrap.servers"],
        ),
        (
            &["--set", "broker.session.timeout.ms=1000"],
            &["broker.session.timeout.ms"],
        ),
    ];
    for (args, wanted) in cases {
        let err = serve_refused(args);
        for w in *wanted {
            assert!(err.contains(w), "{args:?}: expected '{w}' in {err}");
        }
    }
}

/// ApiVersions v0 answered on `conn` (error code 0).
fn api_versions_answered(conn: &mut RawConnection) {
    let r = conn.call(18, 0, false, &[]);
    assert_eq!(r[..2], [0, 0], "ApiVersions error code");
}

#[test]
fn max_connections_counts_every_listener_together() {
    let temp = tempfile::tempdir().unwrap();
    let (outer, inner) = (free_port(), free_port());
    let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{outer},INTERNAL://127.0.0.1:{inner}");
    let _broker = BrokerProcess::start_in(
        temp.path(),
        &[
            "--set",
            &listeners,
            "--set",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            "--set",
            "max.connections=2",
        ],
        Some(outer),
    );
    // Two connections on one listener fit in max.connections=2 (the other listener
    // must not hold a place back).
    let mut first = RawConnection::connect(&format!("127.0.0.1:{outer}"));
    api_versions_answered(&mut first);
    let mut second = RawConnection::connect(&format!("127.0.0.1:{outer}"));
    api_versions_answered(&mut second);
    // A third, on the other listener, waits for a place, and is served once one frees.
    let mut third = std::net::TcpStream::connect(("127.0.0.1", inner)).unwrap();
    let frame = [0, 18, 0, 0, 0, 0, 0, 3, 0, 1, b't'];
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    third.write_all(&out).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut size = [0u8; 4];
    let early = third.read(&mut size);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the third connection must wait, got {early:?}"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    third
        .read_exact(&mut size)
        .expect("answered once a place is free");
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    third.read_exact(&mut response).unwrap();
    assert_eq!(response[..4], 3i32.to_be_bytes());
}
