//! Log benchmark (issue 3): 1 KiB records in 16 KiB batches, appended buffered and
//! with group-committed fsync, each beside the raw disk rate measured the same way in
//! the same run; sequential read from the page cache; offset lookups in a 1 GiB
//! partition.
//!
//! Run: `cargo bench -p moldau-log --bench log_bench` (set `MOLDAU_BENCH_DIR` to
//! choose the disk; default: the system temp dir). `MOLDAU_BENCH_GIB` scales the
//! buffered and read phases (default 1).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moldau_log::{LogConfig, LogManager, PartitionLog, TopicPartition};
use moldau_protocol::batch::Codec;
use moldau_protocol::batch_encode::{encode_timed_batch, TimedKeyValue};
use rand::{Rng, SeedableRng};

/// Records per batch and bytes per record value: 16 x 1 KiB.
const RECORDS_PER_BATCH: usize = 16;
const RECORD_VALUE_BYTES: usize = 1024;
/// How long each durable phase runs.
const SYNC_PHASE: Duration = Duration::from_secs(2);
/// Bytes per buffered phase.
const BUFFERED_PHASE_BYTES: u64 = 256 << 20;
/// Raw/log alternations per comparison.
const SYNC_ROUNDS: usize = 3;
/// Offset lookups sampled.
const LOOKUPS: usize = 200_000;

fn template_batch() -> Vec<u8> {
    let records: Vec<TimedKeyValue> = (0..RECORDS_PER_BATCH)
        .map(|i| {
            (
                Some(Bytes::from(format!("key-{i}"))),
                Some(Bytes::from(vec![b'x'; RECORD_VALUE_BYTES])),
                1_000 + i as i64,
            )
        })
        .collect();
    encode_timed_batch(&records, Codec::None)
        .expect("encode")
        .to_vec()
}

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

fn config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// Plain `pwrite` loop of `chunk`-sized writes, no sync.
fn raw_buffered(dir: &Path, chunk: &[u8], total: u64) -> f64 {
    let path = dir.join("raw-buffered");
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .expect("open");
    let start = Instant::now();
    let mut pos = 0;
    while pos < total {
        f.write_all_at(chunk, pos).expect("write");
        pos += chunk.len() as u64;
    }
    let r = mb_per_s(pos, start.elapsed());
    f.sync_all().expect("sync");
    drop(f);
    let _ = std::fs::remove_file(path);
    r
}

fn log_buffered(dir: &Path, batch: &[u8], total: u64) -> (f64, PartitionLog) {
    let mut log =
        PartitionLog::open(dir, TopicPartition::new("bench", 0), config(), 0, None).expect("open");
    let start = Instant::now();
    let mut written = 0;
    let mut b = batch.to_vec();
    while written < total {
        b.copy_from_slice(batch);
        log.append(&mut b, 0, 0).expect("append");
        written += b.len() as u64;
    }
    (mb_per_s(written, start.elapsed()), log)
}

/// Alternates raw and log buffered phases of `BUFFERED_PHASE_BYTES`, syncing (untimed)
/// between them so each starts with no dirty pages, and prints medians.
fn buffered_comparison(dir: &Path, batch: &[u8]) {
    let mut raw = Vec::new();
    let mut log = Vec::new();
    for round in 0..SYNC_ROUNDS {
        raw.push(raw_buffered(dir, batch, BUFFERED_PHASE_BYTES));
        let sub = dir.join(format!("buffered-{round}"));
        let (rate, mut l) = log_buffered(&sub, batch, BUFFERED_PHASE_BYTES);
        l.flush().expect("flush");
        drop(l);
        let _ = std::fs::remove_dir_all(sub);
        log.push(rate);
    }
    raw.sort_by(f64::total_cmp);
    log.sort_by(f64::total_cmp);
    let (raw, log) = (raw[raw.len() / 2], log[log.len() / 2]);
    println!(
        "buffered append: log {log:.0} MB/s, raw pwrite {raw:.0} MB/s, ratio {:.2} (medians of {SYNC_ROUNDS} x {} MiB)",
        log / raw,
        BUFFERED_PHASE_BYTES >> 20
    );
}

/// `writers` threads over `files` files (writer i uses file i % files): reserve a
/// position, write a chunk there, fdatasync, repeat.
fn raw_synced(dir: &Path, chunk: &[u8], writers: usize, files: usize) -> f64 {
    let chunk = Arc::new(chunk.to_vec());
    let handles: Vec<_> = (0..files)
        .map(|f| {
            let path = dir.join(format!("raw-sync-{f}"));
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&path)
                .expect("open");
            (
                path,
                Arc::new(file),
                Arc::new(std::sync::atomic::AtomicU64::new(0)),
            )
        })
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let (_, file, next) = handles[t % files].clone();
            let chunk = Arc::clone(&chunk);
            std::thread::spawn(move || {
                let mut bytes = 0u64;
                while start.elapsed() < SYNC_PHASE {
                    let pos =
                        next.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    file.write_all_at(&chunk, pos).expect("write");
                    file.sync_data().expect("fdatasync");
                    bytes += chunk.len() as u64;
                }
                bytes
            })
        })
        .collect();
    let bytes: u64 = threads.into_iter().map(|t| t.join().expect("join")).sum();
    let rate = mb_per_s(bytes, start.elapsed());
    for (path, _, _) in handles {
        let _ = std::fs::remove_file(path);
    }
    rate
}

/// `writers` threads over `partitions` partitions: append, request a group-commit
/// flush, wait for it, repeat. Returns MB/s and fsyncs per acknowledged append.
fn log_synced(dir: &Path, batch: &[u8], writers: usize, partitions: usize) -> (f64, f64) {
    let data = tempfile::tempdir_in(dir).expect("tempdir");
    let mgr =
        Arc::new(LogManager::open(data.path(), 0, "bench", config(), 3_600_000).expect("manager"));
    for p in 0..partitions {
        mgr.create(&TopicPartition::new("sync", p as i32), config(), [1; 16])
            .expect("create");
    }
    let batch = Arc::new(batch.to_vec());
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let mgr = Arc::clone(&mgr);
            let batch = Arc::clone(&batch);
            std::thread::spawn(move || {
                let tp = TopicPartition::new("sync", (t % partitions) as i32);
                let log = mgr.get(&tp).expect("partition");
                let mut b = batch.to_vec();
                let (mut bytes, mut acks) = (0u64, 0u64);
                while start.elapsed() < SYNC_PHASE {
                    b.copy_from_slice(&batch);
                    let end = log
                        .write()
                        .append(&mut b, 0, 0)
                        .expect("append")
                        .last_offset
                        + 1;
                    let (tx, rx) = mpsc::channel();
                    mgr.request_flush(
                        &tp,
                        end,
                        Box::new(move |r| {
                            let _ = tx.send(r);
                        }),
                    );
                    rx.recv().expect("callback").expect("flush");
                    bytes += b.len() as u64;
                    acks += 1;
                }
                (bytes, acks)
            })
        })
        .collect();
    let (bytes, acks) = threads
        .into_iter()
        .map(|t| t.join().expect("join"))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let elapsed = start.elapsed();
    let fsyncs = mgr.group_commit().fsync_count();
    (mb_per_s(bytes, elapsed), fsyncs as f64 / acks as f64)
}

/// Alternates raw and log phases `SYNC_ROUNDS` times (the disk's speed drifts on a
/// shared machine) and prints medians.
fn durable_comparison(dir: &Path, batch: &[u8], writers: usize, partitions: usize) {
    let mut raw = Vec::new();
    let mut log = Vec::new();
    let mut fsyncs = Vec::new();
    for _ in 0..SYNC_ROUNDS {
        raw.push(raw_synced(dir, batch, writers, partitions));
        let (rate, per_ack) = log_synced(dir, batch, writers, partitions);
        log.push(rate);
        fsyncs.push(per_ack);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (raw, log, fsyncs) = (median(&mut raw), median(&mut log), median(&mut fsyncs));
    println!(
        "durable append, {writers} writers on {partitions} partition(s): log group commit {log:.1} MB/s ({fsyncs:.2} fsyncs per ack), raw pwrite+fdatasync {raw:.1} MB/s, ratio {:.2} (medians of {SYNC_ROUNDS})",
        log / raw
    );
}

/// CPU time this thread has used: on a shared, oversubscribed machine wall-clock
/// rates understate the code; bytes per CPU-second do not.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Returns (GB/s wall clock, GB per CPU-second).
fn sequential_read(log: &PartitionLog) -> (f64, f64) {
    let cpu_start = thread_cpu_time();
    let start = Instant::now();
    let mut offset = log.log_start_offset();
    let mut bytes = 0u64;
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).expect("read");
        bytes += r.bytes.len() as u64;
        // The last batch in the chunk tells where to continue.
        let mut at = 0usize;
        let mut last = offset;
        while at + 61 <= r.bytes.len() {
            let base = i64::from_be_bytes(r.bytes[at..at + 8].try_into().expect("8 bytes"));
            let len =
                i32::from_be_bytes(r.bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
            let delta = i32::from_be_bytes(r.bytes[at + 23..at + 27].try_into().expect("4 bytes"));
            last = base + delta as i64;
            at += 12 + len;
        }
        offset = last + 1;
    }
    let cpu = thread_cpu_time() - cpu_start;
    (
        bytes as f64 / start.elapsed().as_secs_f64() / 1e9,
        bytes as f64 / cpu.as_secs_f64() / 1e9,
    )
}

fn lookups(log: &PartitionLog) -> (Duration, Duration, Duration) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let end = log.log_end_offset();
    let mut samples = Vec::with_capacity(LOOKUPS);
    for _ in 0..LOOKUPS {
        let offset = rng.gen_range(0..end);
        let t = Instant::now();
        let r = log.read(offset, 1, i64::MAX, true).expect("read");
        samples.push(t.elapsed());
        assert!(!r.bytes.is_empty());
    }
    samples.sort();
    (
        samples[LOOKUPS / 2],
        samples[LOOKUPS * 99 / 100],
        samples[LOOKUPS - 1],
    )
}

fn main() {
    let base = std::env::var_os("MOLDAU_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let gib: u64 = std::env::var("MOLDAU_BENCH_GIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let dir = tempfile::tempdir_in(&base).expect("tempdir");
    let batch = template_batch();
    let total = gib << 30;
    println!(
        "log benchmark in {} ({} records x {} B per batch = {} B batches, {} GiB)",
        base.display(),
        RECORDS_PER_BATCH,
        RECORD_VALUE_BYTES,
        batch.len(),
        gib
    );

    buffered_comparison(dir.path(), &batch);
    let (rate, log) = log_buffered(&dir.path().join("bench-0"), &batch, total);
    println!("built the {gib} GiB partition for reads at {rate:.0} MB/s");
    durable_comparison(dir.path(), &batch, 4, 4);
    durable_comparison(dir.path(), &batch, 16, 1);

    // Warm the page cache once, then measure.
    sequential_read(&log);
    let (gbs, per_cpu) = sequential_read(&log);
    println!("sequential read from page cache (1 MiB reads): {gbs:.2} GB/s wall clock, {per_cpu:.2} GB per CPU-second");

    // Clean shutdown, then time a reopen (the next start must skip recovery).
    let dir_of_log = log.dir().to_path_buf();
    let mut log = log;
    log.close_for_shutdown().expect("close");
    let end = log.log_end_offset();
    drop(log);
    let t = Instant::now();
    let log = PartitionLog::open_with_options(
        &dir_of_log,
        TopicPartition::new("bench", 0),
        config(),
        end,
        None,
        true,
    )
    .expect("reopen");
    println!(
        "reopen of the {} GiB partition after clean shutdown: {:.1} ms",
        gib,
        t.elapsed().as_secs_f64() * 1e3
    );

    let (p50, p99, max) = lookups(&log);
    println!(
        "offset lookup + read of one batch in a {} GiB partition ({} segments): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        gib,
        log.segment_count(),
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        max.as_secs_f64() * 1e6
    );
}
