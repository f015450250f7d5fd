//! `moldau produce` and `moldau consume` against a real broker: a 100 000-line file
//! in and out with a format string, keys and headers, JSON lines, and a CLI group
//! member sharing a topic with a librdkafka consumer.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, interrupt, wait_output, write_numbered_lines, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;

const LINES: usize = 100_000;

#[test]
fn a_large_file_goes_in_and_comes_out_formatted() {
    let broker = Broker::start();
    broker.create_topic("bulk", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lines.txt");
    write_numbered_lines(&file, LINES);
    let path = file.to_str().expect("utf-8 path");

    let out = broker.run(&[
        "produce", "bulk", "--file", path, "--header", "src=file", "-z", "lz4",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with(&format!("produced {LINES} records (")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(" records/s, "), "{}", out.stdout);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("moldau: {LINES} records, ")) && last.contains("(100%)"),
        "progress line: {}",
        out.stderr
    );

    let out = broker.run(&[
        "consume",
        "bulk",
        "--from-beginning",
        "--until-end",
        "--format",
        "%p %o %s %h",
    ]);
    assert!(out.success, "{}", out.stderr);
    let mut values = BTreeSet::new();
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for line in out.stdout.lines() {
        let cells: Vec<&str> = line.split(' ').collect();
        assert_eq!(cells.len(), 4, "{line}");
        assert_eq!(cells[3], "src=file");
        let p: i32 = cells[0].parse().expect("partition");
        offsets
            .entry(p)
            .or_default()
            .push(cells[1].parse().expect("offset"));
        values.insert(cells[2].to_string());
    }
    assert_eq!(values.len(), LINES, "every line once");
    assert!(values.contains("line-0") && values.contains("line-99999"));
    for (p, offs) in &offsets {
        let expected: Vec<i64> = (0..offs.len() as i64).collect();
        assert_eq!(offs, &expected, "partition {p} in order from 0");
    }
    let ends = broker.json(&["topic", "describe", "bulk"]);
    let total: i64 = (0..3)
        .map(|p| ends[0]["partitions"][p]["end_offset"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(total, LINES as i64);

    let ten = broker.ok(&["consume", "bulk", "--from-beginning", "-c", "10"]);
    assert_eq!(ten.lines().count(), 10);

    // The sticky partitioner may leave a partition empty: read the fullest one.
    let (fullest, end) = (0..3)
        .map(|p| {
            (
                p,
                ends[0]["partitions"][p]["end_offset"].as_i64().unwrap_or(0),
            )
        })
        .max_by_key(|&(_, end)| end)
        .expect("three partitions");
    let p = fullest.to_string();
    let tail = broker.ok(&[
        "consume", "bulk", "-p", &p, "--offset", "-3", "-e", "--json",
    ]);
    let got: Vec<i64> = tail
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            assert_eq!(v["headers"][0], serde_json::json!(["src", "file"]));
            v["offset"].as_i64().unwrap_or(-1)
        })
        .collect();
    assert_eq!(got, vec![end - 3, end - 2, end - 1]);
}

#[test]
fn keys_headers_and_partitions_round_trip() {
    let broker = Broker::start();
    broker.create_topic("users", 2);
    let input = b"alice:{\"plan\":\"pro\"}\nbob:{\"plan\":\"free\"}\r\n";
    let out = broker.run_stdin(
        &[
            "produce", "users", "-K", ":", "-H", "a=1", "-H", "b=2", "-p", "1", "--acks", "1",
        ],
        input,
    );
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "no progress for a pipe: {}",
        out.stderr
    );
    let text = broker.ok(&[
        "consume",
        "users",
        "--from-beginning",
        "-e",
        "-f",
        "%k|%s|%p|%o|%h\\n",
    ]);
    assert_eq!(
        text,
        "alice|{\"plan\":\"pro\"}|1|0|a=1,b=2\nbob|{\"plan\":\"free\"}|1|1|a=1,b=2\n"
    );
    let out = broker.run_stdin(&["produce", "users", "-K", ":"], b"no-separator\n");
    assert!(!out.success);
    assert_eq!(out.stderr, "moldau: line 1 has no key separator ':'\n");
    let out = broker.run_stdin(&["produce", "users", "-p", "7"], b"x\n");
    assert_eq!(
        out.stderr,
        "moldau: topic 'users' has no partition 7 (it has 2)\n"
    );
    let json = broker.json(&["produce", "users", "--file", "/dev/null"]);
    assert_eq!(json["records"], 0);
}

/// A librdkafka group member that records what it receives, on its own thread.
struct RdkafkaMember {
    seen: Arc<Mutex<Vec<(i32, i64, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RdkafkaMember {
    fn start(addr: &str, group: &str, topic: &str) -> RdkafkaMember {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", addr)
            .set("group.id", group)
            .set("client.id", "librdkafka-member")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "100")
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", "10000")
            .create()
            .expect("librdkafka consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                        let value = String::from_utf8_lossy(m.payload().unwrap_or_default());
                        let has_header = m.headers().is_some_and(|h| h.count() > 0);
                        assert!(!has_header);
                        if let Ok(mut s) = seen.lock() {
                            s.push((m.partition(), m.offset(), value.into_owned()));
                        }
                    }
                }
                consumer.unsubscribe();
            })
        };
        RdkafkaMember {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<(i32, i64, String)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for RdkafkaMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Partitions each member of `group` owns, by client id.
fn assignments(broker: &Broker, group: &str) -> Option<BTreeMap<String, BTreeSet<i64>>> {
    // Before the first member joins the group does not exist yet.
    let out = broker.run(&["group", "describe", group, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    if doc["state"] != "Stable" {
        return None;
    }
    let mut out = BTreeMap::new();
    for m in doc["members"].as_array()? {
        let parts = m["assignment"]
            .as_array()?
            .iter()
            .filter_map(|tp| tp["partition"].as_i64())
            .collect();
        out.insert(m["client_id"].as_str()?.to_string(), parts);
    }
    Some(out)
}

#[test]
fn a_cli_member_shares_a_topic_with_librdkafka() {
    let broker = Broker::start();
    broker.create_topic("shared", 4);
    let rd = RdkafkaMember::start(&broker.addr, "mixed", "shared");
    eventually(Duration::from_secs(30), "librdkafka joined", || {
        let a = assignments(&broker, "mixed")?;
        (a.get("librdkafka-member")?.len() == 4).then_some(())
    });

    let mut cli = broker.spawn(&[
        "consume",
        "shared",
        "--group",
        "mixed",
        "--from-beginning",
        "-f",
        "%p %o %s",
    ]);
    let cli_seen = Arc::new(Mutex::new(Vec::<(i32, i64, String)>::new()));
    let reader = {
        let stdout = cli.stdout.take().expect("piped stdout");
        let seen = cli_seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut cells = line.splitn(3, ' ');
                let p = cells.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
                let o = cells.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
                let v = cells.next().unwrap_or_default().to_string();
                if let Ok(mut s) = seen.lock() {
                    s.push((p, o, v));
                }
            }
        })
    };
    let split = eventually(Duration::from_secs(30), "both members assigned", || {
        let a = assignments(&broker, "mixed")?;
        let cli = a.get("moldau-cli")?.clone();
        let rd = a.get("librdkafka-member")?.clone();
        (cli.len() == 2 && rd.len() == 2).then_some((cli, rd))
    });

    let records: Vec<String> = (0..2000).map(|i| format!("k{i}:v{i}")).collect();
    broker.produce_lines("shared", &records, &["-K", ":"]);
    eventually(Duration::from_secs(30), "all records consumed", || {
        let n = cli_seen.lock().ok()?.len() + rd.seen().len();
        (n >= records.len()).then_some(())
    });
    let by_cli = cli_seen.lock().map(|s| s.clone()).unwrap_or_default();
    let by_rd = rd.seen();
    assert!(!by_cli.is_empty() && !by_rd.is_empty());
    assert!(by_cli
        .iter()
        .all(|(p, _, _)| split.0.contains(&i64::from(*p))));
    assert!(by_rd
        .iter()
        .all(|(p, _, _)| split.1.contains(&i64::from(*p))));
    let all: BTreeSet<&str> = by_cli
        .iter()
        .chain(&by_rd)
        .map(|(_, _, v)| v.as_str())
        .collect();
    assert_eq!(
        all.len(),
        records.len(),
        "each record exactly once between them"
    );

    // Ctrl-C: the CLI commits and leaves; librdkafka takes over its partitions at
    // the committed offsets, so it sees none of the CLI's records again.
    interrupt(&cli);
    let out = wait_output(cli, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = reader.join();
    eventually(
        Duration::from_secs(30),
        "librdkafka owns everything",
        || {
            let a = assignments(&broker, "mixed")?;
            (a.len() == 1 && a.get("librdkafka-member")?.len() == 4).then_some(())
        },
    );
    eventually(Duration::from_secs(20), "no lag left", || {
        let doc = broker.json(&["group", "describe", "mixed"]);
        (doc["total_lag"] == 0 && doc["partitions"].as_array()?.len() == 4).then_some(())
    });
    let again = rd
        .seen()
        .iter()
        .filter(|(p, _, _)| split.0.contains(&i64::from(*p)))
        .count();
    assert_eq!(
        again, 0,
        "the CLI's committed records were not delivered again"
    );
}
