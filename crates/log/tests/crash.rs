//! Crash test: a child process appends under load and is SIGKILLed at random
//! moments, over and over. After every kill the data directory is reopened (running
//! recovery) and every batch the child saw acknowledged as durable must be present
//! and byte-identical, and every batch a read returns must be valid.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moldau_log::{LogConfig, LogManager, TopicPartition};
use moldau_protocol::batch::{BatchIter, BatchView};
use rand::{Rng, SeedableRng};

/// Wall-clock budget for the kill loop (the test must stay well under a minute on
/// two shared cores).
const KILL_LOOP_BUDGET: Duration = Duration::from_secs(35);
/// Upper bound on kill/restart cycles.
const KILLS_MAX: usize = 400;
/// Longest the child may run before it is killed.
const CHILD_LIFETIME_MAX_MS: u64 = 120;

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// (partition, base offset) -> (last offset, fingerprint) of every acknowledged batch.
type Acked = HashMap<(i32, i64), (i64, u64)>;

fn parse_ack(line: &str) -> Option<((i32, i64), (i64, u64))> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let p = parts.next()?.parse().ok()?;
    let base = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
    Some(((p, base), (last, hash)))
}

/// Reopens the directory (recovery) and checks every acknowledged batch and every
/// batch in the log.
fn verify(dir: &Path, acked: &Acked) -> usize {
    let config = LogConfig::default();
    let mgr =
        LogManager::open(dir, 0, "crash-test", config, 3_600_000).expect("reopen after crash");
    let mut batches = 0;
    for p in 0..2 {
        let Some(log) = mgr.get(&TopicPartition::new("crash", p)) else {
            assert!(
                acked.keys().all(|(ap, _)| *ap != p),
                "partition {p} lost with acknowledged data"
            );
            continue;
        };
        let log = log.read();
        // Everything readable is whole and valid, and offsets only grow.
        let mut offset = log.log_start_offset();
        let mut seen = HashMap::new();
        while offset < log.log_end_offset() {
            let r = log.read(offset, 1 << 20, i64::MAX, true).expect("read");
            assert!(
                !r.bytes.is_empty(),
                "hole at offset {offset} below log end {}",
                log.log_end_offset()
            );
            for item in BatchIter::new(&r.bytes) {
                let (_, v) = item.expect("read returned a partial batch");
                v.validate().expect("read returned a corrupt batch");
                assert_eq!(v.base_offset(), offset, "offsets are contiguous");
                seen.insert(v.base_offset(), (v.last_offset(), fnv64(v.bytes())));
                offset = v.last_offset() + 1;
                batches += 1;
            }
        }
        for ((ap, base), (last, hash)) in acked {
            if *ap != p {
                continue;
            }
            let found = seen.get(base);
            assert_eq!(
                found,
                Some(&(*last, *hash)),
                "acknowledged batch p{p}@{base} missing or changed"
            );
            let direct = log.read(*base, 1, i64::MAX, true).unwrap();
            assert_eq!(
                fnv64(BatchView::parse(&direct.bytes).unwrap().bytes()),
                *hash
            );
        }
    }
    batches
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let exe = env!("CARGO_BIN_EXE_moldau-log-crash-writer");
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (set CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked: Acked = HashMap::new();
    let started = Instant::now();
    let mut kills = 0;
    let mut total_batches = 0;
    while kills < KILLS_MAX && started.elapsed() < KILL_LOOP_BUDGET {
        let mut child = Command::new(exe)
            .arg(dir.path())
            .arg(kills.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            // A line cut by the kill has no newline and is not counted.
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') {
                    lines.push(line.trim_end().to_string());
                }
                line.clear();
            }
            lines
        });
        // Sometimes during start-up recovery, mostly while writing.
        std::thread::sleep(Duration::from_millis(
            rng.gen_range(0..CHILD_LIFETIME_MAX_MS),
        ));
        child.kill().expect("SIGKILL child");
        let status = child.wait().unwrap();
        assert!(!status.success(), "child exited by itself: {status}");
        let lines = reader.join().unwrap();
        if std::env::var_os("CRASH_VERBOSE").is_some() {
            eprintln!(
                "child printed {} lines, first {:?}",
                lines.len(),
                lines.first()
            );
        }
        for line in lines {
            if let Some((k, v)) = parse_ack(&line) {
                acked.insert(k, v);
            }
        }
        kills += 1;
        total_batches = verify(dir.path(), &acked);
        if std::env::var_os("CRASH_VERBOSE").is_some() {
            eprintln!(
                "kill {kills}: {} acknowledged so far, {total_batches} batches in the log",
                acked.len()
            );
        }
    }
    eprintln!(
        "{kills} kills, {} acknowledged batches checked, {total_batches} batches in the log",
        acked.len()
    );
    assert!(
        kills >= 50,
        "too few kill cycles ({kills}) to mean anything"
    );
    assert!(
        acked.len() > 100,
        "the child acknowledged too little ({})",
        acked.len()
    );
}
