//! Child process for the crash test (`tests/crash.rs`): opens a data directory with
//! `LogManager` (running recovery), then appends from several threads, each waiting
//! for its group-committed flush, and prints one line per acknowledged batch:
//!
//! ```text
//! ACK <partition> <base offset> <last offset> <fnv64 of the stored batch bytes>
//! ```
//!
//! The test SIGKILLs it at random moments and checks every acknowledged batch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::io::Write;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use bytes::Bytes;
use moldau_log::{LogConfig, LogManager, TopicPartition};
use moldau_protocol::batch::Codec;
use moldau_protocol::batch_encode::{self, KeyValue};

/// Partitions written concurrently.
const PARTITIONS: i32 = 2;
/// Writer threads (two per partition).
const WRITERS: i32 = 4;
/// Records per batch.
const BATCH_RECORDS: usize = 4;
/// Value size of each record.
const VALUE_BYTES: usize = 200;

/// FNV-1a, 64 bit: a stable fingerprint of a batch's bytes.
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn encode_batch(writer: i32, seq: u64, run: u64) -> Vec<u8> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records: Vec<KeyValue> = (0..BATCH_RECORDS)
        .map(|i| {
            let fill = (seq as usize * 31 + i * 7 + writer as usize) as u8;
            (
                Some(Bytes::from(format!("w{writer}-r{run}-s{seq}-{i}"))),
                Some(Bytes::from(vec![fill; VALUE_BYTES])),
            )
        })
        .collect();
    batch_encode::encode_batch(&records, now_ms, Codec::None)
        .expect("encoding a batch of small records cannot fail")
        .to_vec()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: moldau-log-crash-writer <data-dir> <run>")?,
    );
    let run: u64 = args.next().ok_or("missing run number")?.parse()?;
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 1024,
        segment_index_bytes: 4096,
        // Nothing may be deleted: the test checks every acknowledged batch.
        retention_ms: -1,
        ..LogConfig::default()
    };
    // A short background interval: checkpoints are written (and interrupted) often.
    let mgr = Arc::new(LogManager::open(&dir, 0, "crash-test", config.clone(), 50)?);
    for p in 0..PARTITIONS {
        mgr.create(&TopicPartition::new("crash", p), config.clone(), [7; 16])?;
    }
    println!("READY");
    std::io::stdout().flush()?;
    let stdout = Arc::new(parking_lot::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mgr = Arc::clone(&mgr);
            let stdout = Arc::clone(&stdout);
            std::thread::spawn(move || -> Result<(), String> {
                let tp = TopicPartition::new("crash", w % PARTITIONS);
                let log = mgr.get(&tp).ok_or("partition missing")?;
                for seq in 0.. {
                    let mut batch = encode_batch(w, seq, run);
                    let info = log
                        .write()
                        .append(&mut batch, 0, 0)
                        .map_err(|e| e.to_string())?;
                    let line = format!(
                        "ACK {} {} {} {:016x}\n",
                        tp.partition,
                        info.first_offset,
                        info.last_offset,
                        fnv64(&batch)
                    );
                    let (tx, rx) = mpsc::channel();
                    mgr.request_flush(
                        &tp,
                        info.last_offset + 1,
                        Box::new(move |r| {
                            let _ = tx.send(r);
                        }),
                    );
                    match rx.recv() {
                        Ok(Ok(_)) => {
                            let mut out = stdout.lock();
                            out.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
                            out.flush().map_err(|e| e.to_string())?;
                        }
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("flusher gone".into()),
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "writer panicked")??;
    }
    Ok(())
}
