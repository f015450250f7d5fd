//! Runs the real `moldau` binary: a broker (`moldau serve` on a free port with its own
//! data directory) and the tools against it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a broker may take to print its listening line.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one tool invocation may run before the test gives up on it.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test.
pub const MOLDAU: &str = env!("CARGO_BIN_EXE_moldau");

/// A broker process, killed when dropped.
pub struct Broker {
    child: Child,
    /// `host:port` of its Kafka listener.
    pub addr: String,
    /// `host:port` of its web console, when started with one.
    pub console_addr: Option<String>,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    /// Starts a one-node broker with fast group joins.
    pub fn start() -> Broker {
        Broker::start_with(&["--console", "off"])
    }

    /// Starts a one-node broker with fast group joins and `extra` serve arguments
    /// (which must say `--console off` or `--console 127.0.0.1:0`).
    pub fn start_with(extra: &[&str]) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(MOLDAU)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--set", "group.initial.rebalance.delay.ms=0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning moldau serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keeps draining so the broker never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("moldau listening kafka=") {
                    let _ = tx.send((true, addr.to_string()));
                } else if let Some(addr) = line.strip_prefix("moldau listening console=") {
                    let _ = tx.send((false, addr.to_string()));
                }
            }
        });
        // The console's line comes before the Kafka listener's.
        let mut console_addr = None;
        let addr = loop {
            match rx.recv_timeout(BROKER_START_TIMEOUT) {
                Ok((true, addr)) => break addr,
                Ok((false, addr)) => console_addr = Some(addr),
                Err(_) => panic!("broker did not report its listener in time"),
            }
        };
        Broker {
            child,
            addr,
            console_addr,
            _dir: dir,
        }
    }

    /// Runs `moldau -b <this broker> args…` and waits for it.
    pub fn run(&self, args: &[&str]) -> Output {
        run_with(&self.addr, args, None)
    }

    /// Like [`Broker::run`], with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with(&self.addr, args, Some(input))
    }

    /// Runs a tool that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.success, "moldau {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// Runs a tool with `--json` that must succeed and parses its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Starts a tool in the background (stdout piped, for reading as it runs).
    pub fn spawn(&self, args: &[&str]) -> Child {
        Command::new(MOLDAU)
            .arg("-b")
            .arg(&self.addr)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning moldau")
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        self.ok(&[
            "topic",
            "create",
            name,
            "--partitions",
            &partitions.to_string(),
        ]);
    }

    /// Writes `lines` to `topic` through `moldau produce`.
    pub fn produce_lines(&self, topic: &str, lines: &[String], extra: &[&str]) {
        let mut input = lines.join("\n").into_bytes();
        input.push(b'\n');
        let mut args = vec!["produce", topic];
        args.extend_from_slice(extra);
        let out = self.run_stdin(&args, &input);
        assert!(out.success, "produce failed: {}", out.stderr);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a tool run left behind.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `moldau -b addr args…`, feeding `input` to stdin when given.
pub fn run_with(addr: &str, args: &[&str], input: Option<&[u8]>) -> Output {
    let started = Instant::now();
    let mut child = Command::new(MOLDAU)
        .arg("-b")
        .arg(addr)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning moldau");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let data = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let out = wait_output(child, TOOL_TIMEOUT);
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Waits for a child's output, killing it after `limit`.
pub fn wait_output(child: Child, limit: Duration) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("collecting output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("moldau (pid {id}) did not finish within {limit:?}");
        }
    }
}

/// Sends SIGINT (Ctrl-C) to a process.
pub fn interrupt(child: &Child) {
    signal(child, "INT");
}

/// Sends SIGTERM (systemd, Kubernetes, `timeout`) to a process.
pub fn terminate(child: &Child) {
    signal(child, "TERM");
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("running kill");
    assert!(status.success());
}

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `n` numbered lines (`line-0` …) to a file.
pub fn write_numbered_lines(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create file"));
    for i in 0..n {
        writeln!(f, "line-{i}").expect("write");
    }
    f.flush().expect("flush");
}
