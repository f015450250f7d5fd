//! Processes a topic chunk by chunk, committing after each chunk. Every processed
//! record is appended to an output file as `partition offset value` before the
//! chunk's offsets are committed, so a crash test can check that nothing was lost
//! or skipped.
//!
//! `cargo run -p moldau-client --example chunk_processor -- 127.0.0.1:9092 group topic out.txt [delay_ms]`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::io::Write;
use std::time::Duration;

use moldau_client::consumer::{ConsumerBuilder, OffsetReset};

#[tokio::main]
async fn main() -> moldau_client::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: chunk_processor BOOTSTRAP GROUP TOPIC OUTPUT [DELAY_MS_PER_RECORD]");
        std::process::exit(2);
    }
    let (bootstrap, group, topic, output) = (&args[1], &args[2], &args[3], &args[4]);
    let delay = Duration::from_millis(args.get(5).and_then(|d| d.parse().ok()).unwrap_or(0));

    let consumer = ConsumerBuilder::new(bootstrap)
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_poll_records(100)
        .build()?;
    consumer.subscribe(&[topic.as_str()]).await?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(output)
        .map_err(|e| moldau_client::Error::Processing(e.to_string()))?;
    consumer
        .process_chunks(|chunk| {
            let result = (|| -> std::io::Result<()> {
                for r in &chunk {
                    let value = r
                        .value
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    writeln!(out, "{} {} {}", r.partition, r.offset, value)?;
                    out.flush()?;
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                }
                out.sync_data()
            })();
            async move { result }
        })
        .await
}
