//! `moldau group` against a real broker: a group with known lag, reset-offsets as a
//! plan and for real, refusing to move an active group, deleting offsets and groups.

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use common::{eventually, interrupt, wait_output, Broker};
use serde_json::Value;

/// The whitespace-separated cells of the row of `topic` partition `p`.
fn partition_row<'a>(text: &'a str, topic: &str, p: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c.len() > 2 && c[0] == topic && c[1] == p)
        .unwrap_or_else(|| panic!("no row for {topic}-{p} in:\n{text}"))
}

fn committed(doc: &Value, partition: i64) -> Value {
    doc["partitions"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["partition"] == partition))
        .map(|p| p["committed_offset"].clone())
        .unwrap_or(Value::Null)
}

/// Topic `orders` with 10 records in partition 0 and 6 in partition 1; group
/// `billing` has consumed 4 of partition 0 and all of partition 1.
fn group_with_lag(broker: &Broker) {
    broker.create_topic("orders", 2);
    let ten: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    let six: Vec<String> = (0..6).map(|i| format!("b{i}")).collect();
    broker.produce_lines("orders", &ten, &["--partition", "0"]);
    broker.produce_lines("orders", &six, &["--partition", "1"]);
    let printed = broker.ok(&[
        "consume",
        "orders",
        "--group",
        "billing",
        "-p",
        "0",
        "--from-beginning",
        "-c",
        "4",
    ]);
    assert_eq!(printed, "a0\na1\na2\na3\n");
    let printed = broker.ok(&[
        "consume",
        "orders",
        "--group",
        "billing",
        "-p",
        "1",
        "--from-beginning",
        "-e",
    ]);
    assert_eq!(printed.lines().count(), 6);
}

#[test]
fn describe_reset_and_delete_a_group_with_known_lag() {
    let broker = Broker::start();
    group_with_lag(&broker);
    let port = broker.addr.rsplit(':').next().unwrap_or_default();

    let text = broker.ok(&["group", "describe", "billing"]);
    assert_eq!(
        text.lines().next(),
        Some(
            format!(
                "Group: billing  State: Empty  Coordinator: 1 (127.0.0.1:{port})  Assignor: -  Members: 0"
            )
            .as_str()
        ),
        "{text}"
    );
    let p0 = partition_row(&text, "orders", "0");
    assert_eq!(p0[..5], ["orders", "0", "4", "10", "6"], "{text}");
    assert_ne!(p0[5], "-", "time lag of a lagging partition: {text}");
    assert_eq!(
        partition_row(&text, "orders", "1"),
        ["orders", "1", "6", "6", "0", "0ms", "-"]
    );

    let doc = broker.json(&["group", "describe", "billing"]);
    assert_eq!(doc["total_lag"], 6);
    assert_eq!(doc["state"], "Empty");
    let p0 = &doc["partitions"][0];
    assert_eq!(
        (p0["committed_offset"].clone(), p0["lag"].clone()),
        (4.into(), 6.into())
    );
    let age = p0["time_lag_ms"].as_i64().expect("time lag known");
    assert!((0..60_000).contains(&age), "{age}");

    let list = broker.json(&["group", "list"]);
    assert!(
        list.as_array().is_some_and(|gs| gs
            .iter()
            .any(|g| g["group_id"] == "billing" && g["state"] == "Empty")),
        "{list}"
    );
    let only_stable = broker.ok(&["group", "list", "--state", "stable"]);
    assert_eq!(only_stable, "GROUP  STATE  TYPE\n");

    // Dry run (the default) prints the plan and changes nothing.
    let plan = broker.ok(&[
        "group",
        "reset-offsets",
        "billing",
        "--topic",
        "orders",
        "--to-earliest",
    ]);
    assert_eq!(
        plan,
        "TOPIC   PARTITION  CURRENT-OFFSET  NEW-OFFSET\n\
         orders  0          4               0\n\
         orders  1          6               0\n\
         \n\
         Dry run: nothing changed. Add --execute to commit these offsets.\n"
    );
    let doc = broker.json(&["group", "describe", "billing"]);
    assert_eq!(committed(&doc, 0), 4);

    // Execute moves them.
    let out = broker.ok(&[
        "group",
        "reset-offsets",
        "billing",
        "--topic",
        "orders:0",
        "--shift-by",
        "-3",
        "--execute",
    ]);
    assert_eq!(
        out,
        "TOPIC   PARTITION  CURRENT-OFFSET  NEW-OFFSET\norders  0          4               1\n"
    );
    let doc = broker.json(&["group", "describe", "billing"]);
    assert_eq!(
        (committed(&doc, 0), committed(&doc, 1)),
        (1.into(), 6.into())
    );
    assert_eq!(doc["total_lag"], 9);

    let reset = |args: &[&str]| {
        let mut all = vec!["group", "reset-offsets", "billing"];
        all.extend_from_slice(args);
        all.push("--execute");
        broker.ok(&all);
        let doc = broker.json(&["group", "describe", "billing"]);
        (committed(&doc, 0), committed(&doc, 1))
    };
    assert_eq!(
        reset(&["--all-topics", "--to-latest"]),
        (10.into(), 6.into())
    );
    assert_eq!(
        reset(&["--topic", "orders:1", "--to-offset", "3"]),
        (10.into(), 3.into())
    );
    assert_eq!(
        reset(&["--all-topics", "--to-offset", "99"]),
        (10.into(), 6.into())
    );
    assert_eq!(
        reset(&["--all-topics", "--to-datetime", "1970-01-01T00:00:00Z"]),
        (0.into(), 0.into())
    );
    assert_eq!(
        reset(&["--all-topics", "--to-datetime", "2999-01-01T00:00:00Z"]),
        (10.into(), 6.into())
    );
    assert_eq!(
        reset(&["--all-topics", "--by-duration", "P1D"]),
        (0.into(), 0.into())
    );

    let out = broker.ok(&["group", "delete-offsets", "billing", "--topic", "orders:1"]);
    assert_eq!(
        out,
        "TOPIC   PARTITION  STATUS\norders  1          deleted\n"
    );
    let doc = broker.json(&["group", "describe", "billing"]);
    assert_eq!(doc["partitions"].as_array().map(Vec::len), Some(1), "{doc}");

    assert_eq!(
        broker.ok(&["group", "delete", "billing"]),
        "deleted group 'billing'\n"
    );
    let gone = broker.run(&["group", "describe", "billing"]);
    assert!(!gone.success);
    assert_eq!(gone.stderr, "moldau: group 'billing' does not exist\n");
    let gone = broker.run(&["group", "delete", "billing"]);
    assert_eq!(gone.stderr, "moldau: group 'billing' does not exist\n");
}

#[test]
fn an_active_group_is_not_reset_or_deleted() {
    let broker = Broker::start();
    broker.create_topic("live", 1);
    broker.produce_lines("live", &["x".to_string(), "y".to_string()], &[]);
    let mut member = broker.spawn(&["consume", "live", "--group", "active", "--from-beginning"]);
    let stdout = member.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("x"));
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("y"));

    let doc = eventually(Duration::from_secs(20), "a stable member", || {
        let doc = broker.json(&["group", "describe", "active"]);
        (doc["state"] == "Stable" && doc["members"].as_array()?.len() == 1).then_some(doc)
    });
    assert_eq!(doc["members"][0]["client_id"], "moldau-cli");
    assert_eq!(doc["members"][0]["assignment"][0]["topic"], "live");
    assert_eq!(doc["assignor"], "range");
    let text = broker.ok(&["group", "describe", "active"]);
    assert!(text.contains("Assignor: range  Members: 1"), "{text}");
    let member_id = doc["members"][0]["member_id"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("{member_id}  moldau-cli")), "{text}");

    let refused = broker.run(&[
        "group",
        "reset-offsets",
        "active",
        "--topic",
        "live",
        "--to-earliest",
        "--execute",
    ]);
    assert!(!refused.success);
    assert_eq!(
        refused.stderr,
        "moldau: group 'active' has 1 active member(s) (state Stable); offsets can only be \
         reset while no consumer is running in it. Stop its consumers and try again\n"
    );
    let plan = broker.run(&[
        "group",
        "reset-offsets",
        "active",
        "--topic",
        "live",
        "--to-earliest",
    ]);
    assert!(plan.success, "{}", plan.stderr);
    assert!(plan.stdout.starts_with("TOPIC"), "{}", plan.stdout);
    assert!(
        plan.stderr.contains("--execute will be refused"),
        "{}",
        plan.stderr
    );
    let refused = broker.run(&["group", "delete", "active"]);
    assert_eq!(
        refused.stderr,
        "moldau: group 'active' still has active members; stop its consumers first\n"
    );
    let refused = broker.run(&["group", "delete-offsets", "active", "--topic", "live"]);
    assert!(
        refused
            .stderr
            .starts_with("moldau: group 'active' is still subscribed to the topic"),
        "{}",
        refused.stderr
    );

    // Ctrl-C: the member commits what it printed and leaves.
    interrupt(&member);
    let out = wait_output(member, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = broker.json(&["group", "describe", "active"]);
    assert_eq!(doc["state"], "Empty");
    assert_eq!(committed(&doc, 0), 2);
    broker.ok(&[
        "group",
        "reset-offsets",
        "active",
        "--topic",
        "live",
        "--to-earliest",
        "--execute",
    ]);
    let doc = broker.json(&["group", "describe", "active"]);
    assert_eq!(committed(&doc, 0), 0);
}
