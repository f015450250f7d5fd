//! `moldau topic` and `moldau cluster` against a real broker, plus the failure paths
//! every tool shares (unknown topics, unreachable or silent brokers, help).

mod common;

use std::time::Duration;

use common::{eventually, run_with, Broker};

/// The whitespace-separated cells of the line in `text` whose first cell is `first`.
fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row starting with {first} in:\n{text}"))
}

#[test]
fn topic_lifecycle_prints_known_state() {
    let broker = Broker::start();
    let out = broker.ok(&[
        "topic",
        "create",
        "payments",
        "--partitions",
        "3",
        "--config",
        "retention.ms=3600000",
    ]);
    assert_eq!(out, "created topic 'payments' with 3 partitions\n");
    broker.create_topic("audit", 1);

    let again = broker.run(&["topic", "create", "payments", "--partitions", "3"]);
    assert!(!again.success);
    assert_eq!(again.stderr, "moldau: topic 'payments' already exists\n");
    broker.ok(&["topic", "create", "payments", "--if-not-exists"]);

    assert_eq!(
        broker.ok(&["topic", "list"]),
        "TOPIC     PARTITIONS  REPLICATION\n\
         audit     1           1\n\
         payments  3           1\n"
    );

    let lines: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
    broker.produce_lines("payments", &lines, &["--partition", "1"]);
    let text = broker.ok(&["topic", "describe", "payments"]);
    let mut head = text.lines();
    let title = head.next().unwrap_or_default();
    assert!(
        title.starts_with("Topic: payments  Partitions: 3  Replication: 1  Id: "),
        "{text}"
    );
    assert_eq!(head.next(), Some("Configs: retention.ms=3600000"), "{text}");
    assert_eq!(
        row(&text, "PARTITION"),
        [
            "PARTITION",
            "LEADER",
            "REPLICAS",
            "ISR",
            "START-OFFSET",
            "END-OFFSET"
        ]
    );
    assert_eq!(row(&text, "0"), ["0", "1", "1", "1", "0", "0"]);
    assert_eq!(row(&text, "1"), ["1", "1", "1", "1", "0", "5"]);

    let doc = broker.json(&["topic", "describe", "payments"]);
    assert_eq!(doc[0]["partition_count"], 3);
    assert_eq!(doc[0]["partitions"][1]["end_offset"], 5);
    assert_eq!(doc[0]["configs"]["retention.ms"], "3600000");

    // A healthy single node has nothing under-replicated or unavailable.
    assert_eq!(broker.ok(&["topic", "describe", "--under-replicated"]), "");
    assert_eq!(
        broker.ok(&["topic", "list", "--unavailable"]),
        "TOPIC  PARTITIONS  REPLICATION\n"
    );

    let out = broker.ok(&[
        "topic",
        "alter",
        "payments",
        "--partitions",
        "4",
        "--config",
        "retention.ms=1000",
    ]);
    assert_eq!(
        out,
        "altered topic 'payments': partitions 3 -> 4, set retention.ms=1000\n"
    );
    let doc = broker.json(&["topic", "describe", "payments"]);
    assert_eq!(doc[0]["partition_count"], 4);
    assert_eq!(doc[0]["configs"]["retention.ms"], "1000");
    broker.ok(&[
        "topic",
        "alter",
        "payments",
        "--delete-config",
        "retention.ms",
    ]);
    let doc = broker.json(&["topic", "describe", "payments"]);
    assert_eq!(doc[0]["configs"], serde_json::json!({}));
    let shrink = broker.run(&["topic", "alter", "payments", "--partitions", "2"]);
    assert!(!shrink.success);
    assert!(
        shrink
            .stderr
            .starts_with("moldau: cannot change topic 'payments' from 4 to 2 partitions"),
        "{}",
        shrink.stderr
    );

    assert_eq!(
        broker.ok(&["topic", "delete", "payments"]),
        "deleted topic 'payments'\n"
    );
    eventually(Duration::from_secs(10), "topic gone from the list", || {
        let list = broker.json(&["topic", "list"]);
        let names: Vec<&str> = list
            .as_array()?
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        (names == ["audit"]).then_some(())
    });
}

#[test]
fn unknown_topics_fail_with_their_name() {
    let broker = Broker::start();
    for args in [
        &["topic", "describe", "nope"][..],
        &["topic", "delete", "nope"],
        &["topic", "alter", "nope", "--partitions", "2"],
        &["consume", "nope", "--until-end"],
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "nope",
            "--to-earliest",
        ],
    ] {
        let out = broker.run(args);
        assert!(!out.success, "{args:?} succeeded");
        assert_eq!(
            out.stderr, "moldau: topic 'nope' does not exist\n",
            "{args:?}"
        );
    }
    let out = broker.run(&["topic", "describe", "nope", "nada"]);
    assert_eq!(out.stderr, "moldau: topics 'nope', 'nada' do not exist\n");
    broker.ok(&["topic", "delete", "nope", "--if-exists"]);
}

#[test]
fn unreachable_broker_is_named_and_fails_fast() {
    // Nothing listens on port 1: the connection is refused.
    for args in [
        &["topic", "list"][..],
        &["group", "list"],
        &["cluster", "describe"],
        &["consume", "t"],
    ] {
        let out = run_with("127.0.0.1:1", args, None);
        assert!(!out.success, "{args:?}");
        assert!(
            out.stderr
                .starts_with("moldau: cannot reach a broker at 127.0.0.1:1: "),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    }
    let out = run_with("127.0.0.1:1", &["produce", "t"], Some(b"x\n"));
    assert!(
        out.stderr.starts_with("moldau: cannot reach a broker"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_silent_broker_times_out_with_a_reason() {
    // Accepts connections (the kernel's backlog) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let out = run_with(&addr, &["--timeout", "1s", "topic", "list"], None);
    assert!(!out.success);
    assert_eq!(
        out.stderr,
        format!(
            "moldau: no answer from the cluster at {addr} within 1s (is a broker running there?)\n"
        )
    );
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn cluster_describe_shows_brokers_and_api_versions() {
    let broker = Broker::start();
    let text = broker.ok(&["cluster", "describe"]);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("Cluster: "), "{text}");
    assert!(first.ends_with("Brokers: 1"), "{text}");
    let port = broker.addr.rsplit(':').next().unwrap_or_default();
    let b = row(&text, "ID");
    assert_eq!(b, ["ID", "HOST", "PORT", "RACK", "FENCED", "ROLE"]);
    assert!(text.contains(&format!("127.0.0.1  {port}")), "{text}");
    // The one node leads the metadata quorum and is its only voter.
    assert!(text.contains("Quorum: leader 1  epoch "), "{text}");
    assert_eq!(row(&text, "1")[4], "no", "not fenced: {text}");
    assert_eq!(row(&text, "18")[1], "ApiVersions");

    let doc = broker.json(&["cluster", "describe"]);
    assert_eq!(doc["brokers"].as_array().map(Vec::len), Some(1));
    assert!(doc["cluster_id"].is_string());
    let fetch = doc["api_versions"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["name"] == "Fetch"))
        .expect("Fetch is listed");
    assert_eq!(fetch["key"], 1);
    assert!(fetch["max_version"].as_i64() >= Some(4), "{fetch}");
    assert!(fetch["client_version"].is_i64(), "{fetch}");
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for path in [
        &["topic"][..],
        &["topic", "create"],
        &["topic", "list"],
        &["topic", "describe"],
        &["topic", "alter"],
        &["topic", "delete"],
        &["group"],
        &["group", "list"],
        &["group", "describe"],
        &["group", "reset-offsets"],
        &["group", "delete"],
        &["group", "delete-offsets"],
        &["produce"],
        &["consume"],
        &["cluster"],
        &["cluster", "describe"],
    ] {
        let mut args = path.to_vec();
        args.push("--help");
        let out = run_with("127.0.0.1:1", &args, None);
        assert!(out.success, "{args:?}: {}", out.stderr);
        let examples = out.stdout.split("Examples:\n").nth(1).unwrap_or_default();
        assert!(examples.starts_with("  "), "{args:?}:\n{}", out.stdout);
        assert!(examples.contains("moldau "), "{args:?}:\n{}", out.stdout);
        // Global options (-b and the rest) are named once, not listed again.
        assert!(
            out.stdout.contains("see `moldau --help`"),
            "{args:?}:\n{}",
            out.stdout
        );
    }
}
