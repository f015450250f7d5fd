//! A broker started with its own environment and, if asked, its web console: for tests
//! that watch the process itself (its exit status, its log, its /metrics).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `moldau serve` whose stderr (the log) is collected.
pub struct ServeProcess {
    child: Child,
    pub addr: String,
    pub console: Option<String>,
    log: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Starts `moldau serve` on `data_dir` on a free port with `args` and `envs`; the
    /// console on a free port when `console` is true.
    pub fn start(data_dir: &Path, args: &[&str], envs: &[(&str, &str)], console: bool) -> Self {
        let mut cmd = Command::new(crate::moldau_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--console"])
            .arg(if console { "127.0.0.1:0" } else { "off" })
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning moldau");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("moldau listening ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let mut console_addr = None;
        let addr = loop {
            let line = rx
                .recv_timeout(crate::BROKER_START_TIMEOUT)
                .expect("broker did not report its listener in time");
            if let Some(a) = line.strip_prefix("console=") {
                console_addr = Some(a.to_string());
            } else if let Some(a) = line.strip_prefix("kafka=") {
                break a.to_string();
            }
        };
        ServeProcess {
            child,
            addr,
            console: console_addr,
            log,
        }
    }

    /// What the broker has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM (the clean shutdown path) and waits up to `limit` for the exit.
    pub fn stop(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(limit)
    }

    /// One sample of a counter from the console's /metrics.
    pub fn metric(&self, name: &str) -> f64 {
        let console = self.console.as_deref().expect("started with the console");
        crate::sample(&crate::scrape_metrics(console), name)
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
