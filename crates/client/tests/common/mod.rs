//! Starts a real `moldau serve` for end-to-end tests.
//!
//! The binary is found at `$MOLDAU_BIN`, else in the target directory this test was
//! built into (`CARGO_TARGET_DIR` or the workspace `target/`); build it first with
//! `cargo build -p moldau-cli`. Tests skip (with a message) when it is missing.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running broker, killed on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT` of the Kafka listener.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `moldau` binary, if built.
pub fn moldau_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MOLDAU_BIN") {
        return Some(PathBuf::from(p));
    }
    // This test binary lives in <target>/debug/deps/.
    let exe = std::env::current_exe().ok()?;
    let debug = exe.parent()?.parent()?;
    let candidate = debug.join("moldau");
    candidate.exists().then_some(candidate)
}

/// Starts a broker for group tests: `partitions` per auto-created topic, no initial
/// rebalance delay, a one-partition offsets topic. `None` when the binary is not built.
pub fn start_group_broker(partitions: i32) -> Option<Broker> {
    let partitions = format!("num.partitions={partitions}");
    start_broker(&[
        &partitions,
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=1",
    ])
}

/// Starts a broker with extra `--set name=value` properties; `None` when the
/// binary is not built.
pub fn start_broker(props: &[&str]) -> Option<Broker> {
    let Some(bin) = moldau_bin() else {
        eprintln!("moldau binary not built; skipping (cargo build -p moldau-cli)");
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--console")
        .arg("off")
        .arg("--log-level")
        .arg("warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for p in props {
        cmd.arg("--set").arg(p);
    }
    let mut child = cmd.spawn().expect("spawn moldau");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("kafka=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("broker did not print its listener");
    Some(Broker {
        child,
        addr,
        _dir: dir,
    })
}

/// Creates a topic through the admin-less path: a metadata request with
/// auto-creation (the broker's `num.partitions` decides the count).
pub fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends the client's logs to stderr when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
