//! What `moldau serve` logs, as an operator reads it: no colour codes into a pipe,
//! JSON lines on request, and a restart with groups that logs one line for loading
//! the offsets partitions and no warning about the cluster id.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, run_with, terminate, wait_output, BROKER_START_TIMEOUT, MOLDAU};
use serde_json::Value;

/// A broker whose stderr (its log) is collected line by line.
struct LoggingBroker {
    child: Option<Child>,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl LoggingBroker {
    fn start(dir: &Path, extra: &[&str]) -> LoggingBroker {
        let mut child = Command::new(MOLDAU)
            .args(["serve", "--listen", "127.0.0.1:0", "--console", "off"])
            .arg("--data-dir")
            .arg(dir)
            .args(["--log-level", "info"])
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning moldau serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("moldau listening kafka=") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
            });
        }
        let addr = rx
            .recv_timeout(BROKER_START_TIMEOUT)
            .expect("broker reported its listener");
        LoggingBroker {
            child: Some(child),
            addr,
            log,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGTERM, a clean exit, and every log line written.
    fn stop(&mut self) -> Vec<String> {
        if let Some(child) = self.child.take() {
            terminate(&child);
            let out = wait_output(child, Duration::from_secs(30));
            assert!(out.status.success(), "broker exited with {}", out.status);
        }
        // stderr reaches its end when the process is gone; the reader is close behind.
        let log = self.log.clone();
        let mut last = 0;
        eventually(Duration::from_secs(5), "the log reader drained", || {
            let n = log.lock().map(|l| l.len()).unwrap_or(0);
            let settled = n == last;
            last = n;
            settled.then_some(())
        });
        self.lines()
    }
}

impl Drop for LoggingBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A line about loading offsets partitions (one summary, or the old one per
/// partition); unloading them at shutdown has its own single line.
fn is_offsets_load_line(line: &str) -> bool {
    line.starts_with("loaded __consumer_offsets partition")
}

#[test]
fn a_restart_logs_plain_lines_or_json_without_noise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = LoggingBroker::start(dir.path(), &[]);
    let out = run_with(&first.addr, &["produce", "events"], Some(b"a\nb\n"));
    assert!(out.success, "{}", out.stderr);
    let out = run_with(
        &first.addr,
        &[
            "consume",
            "events",
            "--group",
            "g",
            "--from-beginning",
            "-c",
            "2",
        ],
        None,
    );
    assert!(out.success, "{}", out.stderr);
    let lines = first.stop();
    assert!(lines.iter().any(|l| l.contains("listeners:")), "{lines:?}");
    // Into a pipe: no colour codes.
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "escape codes in {lines:?}"
    );

    let mut second = LoggingBroker::start(dir.path(), &["--log-format", "json"]);
    eventually(Duration::from_secs(30), "offsets partitions loaded", || {
        second
            .lines()
            .iter()
            .any(|l| l.contains("loaded __consumer_offsets partitions"))
            .then_some(())
    });
    let lines = second.stop();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for e in &events {
        assert!(e["timestamp"].is_string(), "{e}");
        assert!(e["level"].is_string() && e["target"].is_string(), "{e}");
        assert!(e["message"].is_string(), "{e}");
    }
    let loads: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"].as_str().is_some_and(is_offsets_load_line))
        .collect();
    assert_eq!(loads.len(), 1, "one summary line: {loads:?}");
    assert_eq!(loads[0]["partitions"], 50, "{}", loads[0]);
    let unloads = events
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("unloaded __consumer_offsets partition"))
        })
        .count();
    assert!(unloads <= 1, "at most one unload line: {lines:?}");
    let warnings: Vec<&Value> = events
        .iter()
        .filter(|e| e["level"] == "WARN" || e["level"] == "ERROR")
        .collect();
    assert!(warnings.is_empty(), "a normal restart warns: {warnings:?}");
}
