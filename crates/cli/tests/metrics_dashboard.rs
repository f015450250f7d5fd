//! `/metrics` as Prometheus and Grafana read it: group states never vanish, the
//! `process_*` metrics every Prometheus client exposes are there, and every metric the
//! Grafana dashboard in docs/ queries exists.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Broker;
use serde_json::Value;

/// The body of `GET /metrics` from the console at `addr`.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the console");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read response");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "expected a plain body"
    );
    body.to_string()
}

/// The value of the unlabelled sample `name`.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{metrics}"))
}

/// Metric names in a PromQL expression (ours and the process ones).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("moldau_") || w.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn metrics_cover_every_state_the_process_and_the_dashboard() {
    let broker = Broker::start_with(&["--console", "127.0.0.1:0"]);
    let console = broker.console_addr.clone().expect("console address");
    broker.create_topic("orders", 2);
    broker.produce_lines("orders", &["a".into(), "b".into()], &[]);
    broker.ok(&[
        "consume",
        "orders",
        "--group",
        "billing",
        "--from-beginning",
        "-c",
        "2",
    ]);
    let metrics = scrape(&console);

    // One Empty group; every other state is there as 0.
    for (state, n) in [
        ("Empty", 1),
        ("Stable", 0),
        ("PreparingRebalance", 0),
        ("CompletingRebalance", 0),
        ("Dead", 0),
    ] {
        let line = format!("moldau_consumer_groups{{state=\"{state}\"}} {n}");
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    assert!(metrics.contains("# TYPE process_cpu_seconds_total counter\n"));
    assert!(sample(&metrics, "process_cpu_seconds_total") >= 0.0);
    assert!(sample(&metrics, "process_resident_memory_bytes") > 1024.0 * 1024.0);
    let open = sample(&metrics, "process_open_fds");
    assert!(open >= 3.0, "{open}");
    assert!(sample(&metrics, "process_max_fds") >= open);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let started = sample(&metrics, "process_start_time_seconds");
    assert!(
        started <= now + 5.0 && started > now - 24.0 * 3600.0,
        "start {started}, now {now}"
    );

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/moldau-dashboard.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard is in docs/grafana");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a query");
            queried.extend(metric_names(expr));
        }
    }
    assert!(queried.len() >= 20, "{queried:?}");
    let declared: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let missing: Vec<&String> = queried
        .iter()
        .filter(|name| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            !declared.contains(base)
        })
        .collect();
    assert!(missing.is_empty(), "not in /metrics: {missing:?}");
}
