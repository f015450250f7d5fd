//! Test harness: runs the real `moldau` binary as a child process on a free port with
//! its own data directory, and kills or stops it the way an operator would.

mod cluster;
mod console_scrape;
mod produce_dropping_proxy;
mod serve_process;
pub use cluster::{ClusterProcesses, TEST_CLUSTER_ID};
pub use console_scrape::{sample, scrape_metrics};
pub use produce_dropping_proxy::ProduceDroppingProxy;
pub use serve_process::ServeProcess;

use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How long a broker may take to print its listening line.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a clean shutdown may take by default.
pub const BROKER_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// A broker process's log lines kept for [`BrokerProcess::log_lines`]; later ones are
/// only passed on to the test's stderr.
pub const LOG_LINES_KEPT_MAX: usize = 100_000;

/// The workspace this test binary was built in: `<root>/target/debug/deps/<test>`.
/// Taken from the running executable, not `CARGO_MANIFEST_DIR`, because a target dir
/// copied from another checkout can keep that checkout's path baked in.
fn workspace_root() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let root = exe.ancestors().nth(4)?.to_path_buf();
        root.join("Cargo.toml").is_file().then_some(root)
    });
    from_exe.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ lives in the workspace")
            .to_path_buf()
    })
}

/// `relative` (e.g. `scripts/cluster`) in the workspace this test was built in.
pub fn workspace_path(relative: &str) -> PathBuf {
    workspace_root().join(relative)
}

/// Path of the `moldau` binary: `MOLDAU_BIN`, else the workspace's debug build (built
/// once per test process if missing or stale).
pub fn moldau_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MOLDAU_BIN") {
        return PathBuf::from(p);
    }
    static BUILD: Once = Once::new();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    BUILD.call_once(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-q", "-p", "moldau-cli"])
            .current_dir(workspace_root())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building moldau failed");
    });
    target.join("debug").join("moldau")
}

/// True when this machine's kernel reports writeback errors to `syncfs` (Linux 5.8
/// and later), so the broker makes many partitions durable with one `syncfs`.
pub fn kernel_syncfs_reports_errors() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    matches!(
        (parts.next(), parts.next()),
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= (5, 8)
    )
}

/// A running broker process.
pub struct BrokerProcess {
    child: Option<Child>,
    /// The web console's address, when started with `--console`.
    pub console_addr: Option<String>,
    pub addr: String,
    pub data_dir: PathBuf,
    extra: Vec<String>,
    /// RLIMIT_NOFILE (soft and hard) the broker runs under, if lowered.
    open_files_limit: Option<u64>,
    /// The current process's log (stderr) lines, also passed on to the test's stderr.
    log: Arc<Mutex<Vec<String>>>,
    _temp: Option<tempfile::TempDir>,
}

impl BrokerProcess {
    /// Starts a broker on 127.0.0.1:0 with a fresh data directory.
    pub fn start(extra: &[&str]) -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut b = Self::start_in(&dir, extra, None);
        b._temp = Some(temp);
        b
    }

    /// Starts a broker with a fresh data directory whose open files limit (soft and
    /// hard, as `ulimit -n` sets them) is `limit`, also across restarts.
    pub fn start_with_open_files_limit(extra: &[&str], limit: u64) -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut b = Self::start_limited(&dir, extra, None, Some(limit));
        b._temp = Some(temp);
        b
    }

    /// Starts a broker on `data_dir`, on `port` if given (to restart on the same address).
    pub fn start_in(data_dir: &Path, extra: &[&str], port: Option<u16>) -> Self {
        Self::start_limited(data_dir, extra, port, None)
    }

    fn start_limited(
        data_dir: &Path,
        extra: &[&str],
        port: Option<u16>,
        open_files_limit: Option<u64>,
    ) -> Self {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let mut cmd = match open_files_limit {
            // The shell lowers the limit, then becomes the broker (same process id).
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(moldau_bin());
                sh
            }
            None => Command::new(moldau_bin()),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra);
        // No console unless the test asks for one (`--console 127.0.0.1:0`).
        if !extra.contains(&"--console") {
            cmd.args(["--console", "off"]);
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("MOLDAU_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning moldau");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                // Read to the end whatever the bytes: a reader that stopped would
                // block the broker on a full pipe.
                for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                    let line = String::from_utf8_lossy(&line).into_owned();
                    // Straight to the test process's stderr, as before it was kept.
                    let _ = writeln!(std::io::stderr(), "{line}");
                    if let Ok(mut kept) = log.lock() {
                        if kept.len() < LOG_LINES_KEPT_MAX {
                            kept.push(line);
                        }
                    }
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(Result::ok) {
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
        BrokerProcess {
            child: Some(child),
            addr,
            console_addr,
            data_dir: data_dir.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            open_files_limit,
            log,
            _temp: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("listener address has a port")
    }

    /// The log lines (stderr) of the current process so far (since its last restart).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM and wait: the clean shutdown path.
    pub fn stop(&mut self) {
        self.stop_within(BROKER_STOP_TIMEOUT);
    }

    /// SIGTERM and wait up to `timeout` (a broker with thousands of partitions syncs
    /// each of them on the way out).
    pub fn stop_within(&mut self, timeout: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + timeout;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "broker exited with {status} on SIGTERM");
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("broker did not stop within {timeout:?} of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: the crash path.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same data directory and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the broker first");
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let mut next = Self::start_limited(
            &self.data_dir,
            &extra,
            Some(self.port()),
            self.open_files_limit,
        );
        self.child = next.child.take();
        self.log = Arc::clone(&next.log);
        self.addr = std::mem::take(&mut next.addr);
        self.console_addr = next.console_addr.take();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bare Kafka connection for tests that need exact requests: frames a request with a
/// v1/v2 header and returns the response body after the response header.
pub struct RawConnection {
    stream: std::net::TcpStream,
    correlation_id: i32,
}

impl RawConnection {
    pub fn connect(addr: &str) -> Self {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        RawConnection {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends `body` (already encoded at `version`) for `api_key` and returns the
    /// response body. `flexible_header` selects request header v2 (tagged fields).
    pub fn call(&mut self, api_key: i16, version: i16, flexible: bool, body: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        self.correlation_id += 1;
        let mut frame = Vec::new();
        frame.extend_from_slice(&api_key.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&self.correlation_id.to_be_bytes());
        frame.extend_from_slice(&4i16.to_be_bytes());
        frame.extend_from_slice(b"test");
        if flexible {
            frame.push(0);
        }
        frame.extend_from_slice(body);
        let mut out = (frame.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&frame);
        self.stream.write_all(&out).expect("write");
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("response size");
        let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut response).expect("response");
        assert_eq!(
            i32::from_be_bytes(response[..4].try_into().expect("4 bytes")),
            self.correlation_id
        );
        // Response header v1 (flexible) has one more byte: an empty tagged-field list.
        let skip = if flexible { 5 } else { 4 };
        response[skip..].to_vec()
    }
}
