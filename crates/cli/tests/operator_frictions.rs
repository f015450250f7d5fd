//! The frictions a new operator hit with the tools (issue 16), each against the real
//! binary: producing to a missing topic, SIGTERM in a group, a wrong port, and the
//! small messages around them.

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use common::{run_with, terminate, wait_output, Broker};
use serde_json::Value;

#[test]
fn produce_creates_a_missing_topic_when_the_broker_allows_it() {
    let broker = Broker::start();
    let out = broker.run_stdin(&["produce", "fresh"], b"a\nb\n");
    assert!(out.success, "{}", out.stderr);
    let doc = broker.json(&["topic", "describe", "fresh"]);
    let text = doc.to_string();
    assert!(text.contains("\"fresh\""), "{text}");
    let printed = broker.ok(&["consume", "fresh", "--from-beginning", "--until-end"]);
    let mut lines: Vec<&str> = printed.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["a", "b"]);

    let out = broker.run_stdin(&["produce", "bad name!"], b"x\n");
    assert!(!out.success);
    assert!(
        out.stderr
            .starts_with("moldau: invalid topic name: 'bad name!' ("),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn produce_to_a_missing_topic_fails_when_the_broker_does_not_create() {
    let broker = Broker::start_with(&[
        "--console",
        "off",
        "--set",
        "auto.create.topics.enable=false",
    ]);
    let out = broker.run_stdin(&["produce", "nope"], b"x\n");
    assert!(!out.success);
    assert_eq!(
        out.stderr,
        "moldau: topic 'nope' does not exist, and the broker does not create topics on use \
         (auto.create.topics.enable=false); create it with: moldau topic create nope\n"
    );
    let list = broker.ok(&["topic", "list"]);
    assert!(!list.contains("nope"), "{list}");
}

#[test]
fn sigterm_commits_what_was_printed_and_leaves_the_group() {
    let broker = Broker::start();
    broker.create_topic("jobs", 1);
    let lines: Vec<String> = (0..25).map(|i| format!("job-{i}")).collect();
    broker.produce_lines("jobs", &lines, &[]);
    let mut cli = broker.spawn(&["consume", "jobs", "--group", "workers", "--from-beginning"]);
    let stdout = cli.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = 0;
    while printed < lines.len() {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the member prints every record");
        printed += 1;
    }
    terminate(&cli);
    let out = wait_output(cli, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = reader.join();
    // Left at once (no session timeout to wait out) with the printed records committed.
    let doc = broker.json(&["group", "describe", "workers"]);
    assert_eq!(doc["state"], "Empty", "{doc}");
    let committed: Vec<&Value> = doc["partitions"]
        .as_array()
        .map(|ps| ps.iter().map(|p| &p["committed_offset"]).collect())
        .unwrap_or_default();
    assert_eq!(committed, [&Value::from(printed as i64)], "{doc}");
}

#[test]
fn a_console_port_is_named_as_http() {
    let broker = Broker::start_with(&["--console", "127.0.0.1:0"]);
    let console = broker.console_addr.clone().expect("console address");
    for args in [&["topic", "list"][..], &["consume", "t"]] {
        let out = run_with(&console, args, None);
        assert!(!out.success, "{args:?}");
        assert_eq!(
            out.stderr,
            format!(
                "moldau: the server at {console} answered with HTTP, not the Kafka protocol \
                 — is this the console port?\n"
            ),
            "{args:?}"
        );
    }
    let out = run_with(&console, &["produce", "t"], Some(b"x\n"));
    assert!(out.stderr.contains("answered with HTTP"), "{}", out.stderr);
}

#[test]
fn small_messages_say_what_happened() {
    let broker = Broker::start();
    broker.create_topic("few", 1);
    let out = broker.run_stdin(&["produce", "few"], b"only\n");
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("produced 1 record ("),
        "{}",
        out.stdout
    );
    let out = broker.run_stdin(&["produce", "few"], b"a\nb\n");
    assert!(
        out.stdout.starts_with("produced 2 records ("),
        "{}",
        out.stdout
    );

    // Three records: offset 3 is the next one (waits), offset 4 does not exist yet.
    let out = broker.run(&["consume", "few", "-p", "0", "--offset", "4", "-e"]);
    assert!(!out.success);
    assert_eq!(
        out.stderr,
        "moldau: --offset 4 is past the end of 'few' partition 0 (its next offset is 3)\n"
    );
    let out = broker.run(&["consume", "few", "-p", "0", "--offset", "2", "-e"]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.stdout, "b\n");

    let out = broker.run(&["group", "list", "--state", "Bogus"]);
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "not a group state; the states are Empty, Stable, PreparingRebalance, \
             CompletingRebalance, Assigning, Reconciling, Dead"
        ),
        "{}",
        out.stderr
    );
    let listed = broker.json(&["group", "list", "--state", "empty"]);
    assert!(listed.is_array(), "{listed}");
}

#[test]
fn keyless_records_spread_evenly_over_partitions() {
    let broker = Broker::start();
    broker.create_topic("spread", 3);
    // 10 000 records of 1 KiB: about forty batch.size (256 KiB) turns.
    let line = "x".repeat(1000);
    let lines: Vec<String> = (0..10_000).map(|_| line.clone()).collect();
    broker.produce_lines("spread", &lines, &[]);
    let doc = broker.json(&["topic", "describe", "spread"]);
    let text = doc.to_string();
    let printed = broker.ok(&[
        "consume",
        "spread",
        "--from-beginning",
        "--until-end",
        "--format",
        "%p\\n",
    ]);
    let mut per_partition = [0u32; 3];
    for p in printed.lines() {
        let p: usize = p
            .parse()
            .unwrap_or_else(|_| panic!("partition {p}: {text}"));
        per_partition[p] += 1;
    }
    assert_eq!(per_partition.iter().sum::<u32>(), 10_000);
    for n in per_partition {
        assert!(
            (3_000..=3_700).contains(&n),
            "uneven spread {per_partition:?}"
        );
    }
}

#[test]
fn dump_log_names_a_missing_file_once() {
    let out = run_with(
        "127.0.0.1:1",
        &[
            "dump-log",
            "--files",
            "/nonexistent/t-0/00000000000000000000.log",
        ],
        None,
    );
    assert!(!out.success);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "moldau: /nonexistent/t-0/00000000000000000000.log: no such file\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("00000000000000000000.log");
    std::fs::write(&file, b"").expect("write");
    let path = file.to_str().expect("utf-8 path");
    let out = run_with("127.0.0.1:1", &["dump-log", "--files", path], None);
    assert!(out.success, "{}", out.stderr);
}

/// `--json` prints one object per batch and, with `--print-data-log`, per record.
#[test]
fn dump_log_json_prints_a_line_per_batch_and_record() {
    let broker = Broker::start();
    let out = broker.run_stdin(&["produce", "dumped", "-K", ":"], b"k1:v1\nk2:\"quoted\"\n");
    assert!(out.success, "{}", out.stderr);
    let segment = broker.data_dir().join("dumped-0/00000000000000000000.log");
    let path = segment.to_str().expect("utf-8 path");
    let out = run_with(
        "127.0.0.1:1",
        &["dump-log", "--files", path, "--json", "--print-data-log"],
        None,
    );
    assert!(out.success, "{}", out.stderr);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let batches: Vec<&Value> = lines.iter().filter(|l| l["type"] == "batch").collect();
    let records: Vec<&Value> = lines.iter().filter(|l| l["type"] == "record").collect();
    assert!(!batches.is_empty(), "{}", out.stdout);
    assert_eq!(
        batches
            .iter()
            .map(|b| b["count"].as_i64().unwrap_or(0))
            .sum::<i64>(),
        2
    );
    assert!(batches
        .iter()
        .all(|b| b["is_valid"] == true && b["file"] == path));
    let kv: Vec<(i64, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["offset"].as_i64().unwrap_or(-1),
                r["key"].as_str().unwrap_or(""),
                r["payload"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kv, [(0, "k1", "v1"), (1, "k2", "\"quoted\"")]);
    // Without --print-data-log: batches only.
    let out = run_with(
        "127.0.0.1:1",
        &["--json", "dump-log", "--files", path],
        None,
    );
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout.lines().all(|l| l.contains("\"type\":\"batch\"")),
        "{}",
        out.stdout
    );
    // Index files have no JSON form: refused, nothing printed.
    let index = broker
        .data_dir()
        .join("dumped-0/00000000000000000000.index");
    let out = run_with(
        "127.0.0.1:1",
        &[
            "dump-log",
            "--json",
            "--files",
            index.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert!(!out.success);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains(".log segments only"), "{}", out.stderr);
}

/// Global options are listed once, by `moldau --help`, and still work after any
/// subcommand.
#[test]
fn global_options_are_listed_once() {
    let top = run_with("127.0.0.1:1", &["--help"], None);
    assert!(top.success, "{}", top.stderr);
    for flag in [
        "--bootstrap",
        "--log-format",
        "--log-level",
        "--timeout",
        "--json",
    ] {
        assert_eq!(
            top.stdout.matches(flag).count(),
            1,
            "{flag}:\n{}",
            top.stdout
        );
    }
    for cmd in [
        &["topic"][..],
        &["topic", "create"],
        &["produce"],
        &["serve"],
        &["group", "reset-offsets"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run_with("127.0.0.1:1", &args, None);
        assert!(out.success, "{cmd:?}: {}", out.stderr);
        // Option lines start with a dash; the closing note names the globals once.
        let options: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .collect();
        for flag in ["--log-format", "--log-level", "--bootstrap", "--timeout"] {
            assert!(
                !options.iter().any(|l| l.contains(flag)),
                "{cmd:?} lists {flag}:\n{}",
                out.stdout
            );
        }
        assert!(
            out.stdout.contains("see `moldau --help`"),
            "{cmd:?}:\n{}",
            out.stdout
        );
    }
    // Still accepted after the subcommand, and in effect: JSON output, and a bad log
    // format refused.
    let broker = Broker::start();
    let out = broker.run(&[
        "topic",
        "list",
        "--json",
        "--log-level",
        "warn",
        "--timeout",
        "5s",
    ]);
    assert!(out.success, "{}", out.stderr);
    serde_json::from_str::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let out = broker.run(&["topic", "list", "--log-format", "xml"]);
    assert!(!out.success);
    assert!(out.stderr.contains("--log-format"), "{}", out.stderr);
}

#[test]
fn help_examples_are_one_per_line() {
    for (cmd, example) in [
        (
            "serve",
            "  moldau serve --data-dir /var/lib/moldau --set num.partitions=3\n",
        ),
        ("storage", "  moldau storage info --data-dir d1\n"),
        (
            "dump-log",
            "  moldau dump-log --files demo-0/00000000000000000000.index --verify-index-only\n",
        ),
    ] {
        let out = run_with("127.0.0.1:1", &[cmd, "--help"], None);
        assert!(out.success, "{}", out.stderr);
        assert!(out.stdout.contains(example), "{cmd}:\n{}", out.stdout);
    }
    let out = run_with("127.0.0.1:1", &["serve", "--help"], None);
    for default in [
        "[default: ./moldau-data",
        "[default: 127.0.0.1:9092",
        "[default: 1]",
    ] {
        assert!(out.stdout.contains(default), "{default}:\n{}", out.stdout);
    }
}
