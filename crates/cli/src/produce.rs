//! `moldau produce`: one record per input line, from stdin or a file, with a summary
//! at the end and a progress line while a large file is read.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::Args;
use futures::stream::{FuturesUnordered, StreamExt};
use moldau_client::producer::{DeliveryFuture, ProducerConfig};
use moldau_client::{Acks, Compression, Producer, ProducerRecord};
use serde_json::json;
use tokio::sync::mpsc;

use crate::context::Context;
use crate::output::{self, human_bytes};
use crate::produce_topic;
use crate::topic::parse_key_value;

/// `after_help` of `moldau produce`.
pub const EXAMPLES: &str = "\
Examples:
  echo hello | moldau produce events
  moldau produce events --file events.txt --compression zstd
  moldau produce users --key-separator : <<'EOF'
  alice:{\"plan\":\"pro\"}
  bob:{\"plan\":\"free\"}
  EOF
  moldau produce events --header source=import --partition 0 --acks 1 < dump.txt
  moldau produce events --property linger.ms=20 --property batch.size=262144 < big.txt

Each line is one record (without its line break). A summary (records, bytes, rate)
is printed at the end; reading a large file also shows progress on stderr.";

/// Longest input line accepted, in bytes; a longer one stops the run with an error
/// instead of growing memory without bound.
const LINE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Lines the reader thread hands over at once.
const LINES_PER_CHUNK: usize = 1024;
/// Chunks queued between the reader thread and the producer.
const CHUNKS_QUEUED_MAX: usize = 16;
/// Records sent but not yet acknowledged before the tool waits for answers.
const UNACKED_RECORDS_MAX: usize = 65_536;
/// Input files at least this large get a progress line.
const PROGRESS_INPUT_BYTES_MIN: u64 = 1024 * 1024;
/// Time between two progress lines.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// `linger.ms` of the tool's producer: long enough to fill batches from a file.
const LINGER_DEFAULT: Duration = Duration::from_millis(10);
/// `batch.size` of the tool's producer, in bytes.
const BATCH_SIZE_BYTES_DEFAULT: usize = 256 * 1024;

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Topic to write to.
    topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(short, long)]
    file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value.
    #[arg(short = 'K', long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Add this header to every record; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    headers: Vec<(String, String)>,
    /// Write every record to this partition (default: by key, or spread).
    #[arg(short, long)]
    partition: Option<i32>,
    /// Acknowledgements to wait for: 0, 1 or all.
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    acks: Acks,
    /// Compression: none, gzip, snappy, lz4 or zstd.
    #[arg(short = 'z', long, default_value = "none", value_parser = parse_compression)]
    compression: Compression,
    /// Any producer property as NAME=VALUE (linger.ms, batch.size, …); repeatable.
    #[arg(short = 'X', long = "property", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    properties: Vec<(String, String)>,
}

fn parse_acks(s: &str) -> Result<Acks, String> {
    Acks::from_name(s).map_err(|e| e.to_string())
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    Compression::from_name(s)
        .map_err(|_| format!("'{s}' is not one of none, gzip, snappy, lz4, zstd"))
}

/// A batch of lines from the reader thread, or why reading stopped.
type Chunk = Result<Vec<Bytes>, String>;

/// Runs `moldau produce`.
pub fn run(ctx: &Context, args: ProduceArgs) -> anyhow::Result<()> {
    let (input, input_bytes): (Box<dyn Read + Send>, Option<u64>) = match &args.file {
        Some(path) => {
            let f = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
        None => (Box::new(std::io::stdin()), stdin_file_len()),
    };
    let progress_total = input_bytes.filter(|&n| n >= PROGRESS_INPUT_BYTES_MIN);
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let topic = ctx
            .timed(produce_topic::topic_for_produce(ctx, &args.topic))
            .await?;
        if let Some(p) = args.partition {
            if p < 0 || p as usize >= topic.partitions.len() {
                bail!(
                    "topic '{}' has no partition {p} (it has {})",
                    args.topic,
                    topic.partitions.len()
                );
            }
        }
        let producer = build_producer(ctx, &args)?;
        let read_bytes = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel(CHUNKS_QUEUED_MAX);
        let reader = {
            let read_bytes = read_bytes.clone();
            tokio::task::spawn_blocking(move || read_lines(input, tx, &read_bytes))
        };
        let progress = Progress::new(progress_total, read_bytes);
        let result = produce_all(ctx, &args, &producer, rx, progress).await;
        let _ = producer.close().await;
        reader.abort();
        let summary = result?;
        print_summary(ctx, &args.topic, &summary)
    })
}

/// The size of the file redirected to stdin; `None` for a pipe or a terminal.
#[cfg(unix)]
fn stdin_file_len() -> Option<u64> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    meta.is_file().then_some(meta.len())
}

#[cfg(not(unix))]
fn stdin_file_len() -> Option<u64> {
    None
}

fn build_producer(ctx: &Context, args: &ProduceArgs) -> anyhow::Result<Producer> {
    let mut config = ProducerConfig {
        client: ctx.client_config(),
        acks: args.acks,
        compression: args.compression,
        linger: LINGER_DEFAULT,
        batch_size_bytes: BATCH_SIZE_BYTES_DEFAULT,
        ..ProducerConfig::default()
    };
    for (k, v) in &args.properties {
        config
            .set(k, v)
            .map_err(|e| anyhow::anyhow!("--property {k}={v}: {e}"))?;
    }
    Producer::new(config).map_err(|e| ctx.explain(e))
}

/// Reads lines (without their `\n` or `\r\n`) and hands them over in chunks.
fn read_lines(input: Box<dyn Read + Send>, tx: mpsc::Sender<Chunk>, read_bytes: &AtomicU64) {
    let mut reader = std::io::BufReader::with_capacity(1024 * 1024, input);
    let mut chunk = Vec::with_capacity(LINES_PER_CHUNK);
    let mut line_no: u64 = 0;
    loop {
        let mut line = Vec::new();
        let limit = LINE_BYTES_MAX as u64 + 1;
        let n = match (&mut reader).take(limit).read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("reading input: {e}")));
                return;
            }
        };
        if n == 0 {
            break;
        }
        line_no += 1;
        read_bytes.fetch_add(n as u64, Ordering::Relaxed);
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        } else if line.len() > LINE_BYTES_MAX {
            let _ = tx.blocking_send(Err(format!(
                "line {line_no} is longer than {}",
                human_bytes(LINE_BYTES_MAX as u64)
            )));
            return;
        }
        chunk.push(Bytes::from(line));
        // An empty buffer means the next read may block (someone typing): hand over
        // what there is, so each typed line is sent at once.
        if chunk.len() == LINES_PER_CHUNK || reader.buffer().is_empty() {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(LINES_PER_CHUNK));
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

/// Sends every line and waits for every acknowledgement; the first failure stops
/// the run.
async fn produce_all(
    ctx: &Context,
    args: &ProduceArgs,
    producer: &Producer,
    mut rx: mpsc::Receiver<Chunk>,
    mut progress: Progress,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let mut unacked: FuturesUnordered<Ack> = FuturesUnordered::new();
    let mut records: u64 = 0;
    let mut bytes: u64 = 0;
    let mut acked: u64 = 0;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.map_err(|e| anyhow::anyhow!(e))?;
        for line in chunk {
            records += 1;
            let record = to_record(&args.topic, line, separator, args, records)?;
            bytes += (record.key.as_ref().map_or(0, Bytes::len)
                + record.value.as_ref().map_or(0, Bytes::len)) as u64;
            let delivery = producer
                .send(record)
                .await
                .map_err(|e| ctx.explain(e))
                .with_context(|| format!("cannot send line {records}"))?;
            unacked.push(Ack {
                line: records,
                delivery,
            });
            while unacked.len() >= UNACKED_RECORDS_MAX {
                acked += next_ack(ctx, &mut unacked).await?;
            }
        }
        progress.tick(records, false);
    }
    producer.flush().await.map_err(|e| ctx.explain(e))?;
    while !unacked.is_empty() {
        acked += next_ack(ctx, &mut unacked).await?;
    }
    progress.tick(records, true);
    debug_assert_eq!(acked, records);
    Ok(Summary {
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// A record on its way, with its input line for error messages.
struct Ack {
    line: u64,
    delivery: DeliveryFuture,
}

impl std::future::Future for Ack {
    type Output = (u64, moldau_client::Result<moldau_client::RecordMetadata>);
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let line = self.line;
        std::pin::Pin::new(&mut self.delivery)
            .poll(cx)
            .map(|r| (line, r))
    }
}

/// Waits for one acknowledgement; a refused record is the run's error.
async fn next_ack(ctx: &Context, unacked: &mut FuturesUnordered<Ack>) -> anyhow::Result<u64> {
    match unacked.next().await {
        Some((_, Ok(_))) => Ok(1),
        Some((line, Err(e))) => {
            Err(ctx.explain(e)).with_context(|| format!("line {line} was not written"))
        }
        None => Ok(0),
    }
}

/// The record of one input line.
fn to_record(
    topic: &str,
    line: Bytes,
    separator: Option<&[u8]>,
    args: &ProduceArgs,
    line_no: u64,
) -> anyhow::Result<ProducerRecord> {
    let mut record = match separator {
        None => ProducerRecord::new(topic, line),
        Some(sep) => {
            let Some(at) = find(&line, sep) else {
                bail!(
                    "line {line_no} has no key separator '{}'",
                    String::from_utf8_lossy(sep)
                );
            };
            ProducerRecord::new(topic, line.slice(at + sep.len()..)).with_key(line.slice(..at))
        }
    };
    for (k, v) in &args.headers {
        record = record.with_header(k.clone(), Bytes::from(v.clone()));
    }
    if let Some(p) = args.partition {
        record = record.with_partition(p);
    }
    Ok(record)
}

/// Position of the first `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The progress line on stderr while a large file is read.
struct Progress {
    total_bytes: Option<u64>,
    read_bytes: Arc<AtomicU64>,
    started: Instant,
    last: Instant,
    terminal: bool,
}

impl Progress {
    fn new(total_bytes: Option<u64>, read_bytes: Arc<AtomicU64>) -> Progress {
        let now = Instant::now();
        Progress {
            total_bytes,
            read_bytes,
            started: now,
            last: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Prints a line when one is due (or at the end).
    fn tick(&mut self, records: u64, done: bool) {
        let Some(total) = self.total_bytes else {
            return;
        };
        if !done && self.last.elapsed() < PROGRESS_INTERVAL {
            return;
        }
        self.last = Instant::now();
        let read = self.read_bytes.load(Ordering::Relaxed);
        let percent = (read * 100).checked_div(total).unwrap_or(100);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let line = format!(
            "moldau: {}, {} of {} ({percent}%), {:.0} records/s",
            output::count_of(records, "record", "records"),
            human_bytes(read),
            human_bytes(total),
            records as f64 / secs
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            let end = if done { "\n" } else { "" };
            write!(err, "\r{line}\x1b[K{end}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}

fn print_summary(ctx: &Context, topic: &str, s: &Summary) -> anyhow::Result<()> {
    let secs = s.elapsed.as_secs_f64().max(1e-6);
    let rate = s.records as f64 / secs;
    let byte_rate = s.bytes as f64 / secs;
    if ctx.json {
        return output::print_json(&json!({
            "topic": topic,
            "records": s.records,
            "bytes": s.bytes,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "records_per_second": rate.round(),
            "bytes_per_second": byte_rate.round(),
        }));
    }
    output::print(&format!(
        "produced {} ({}) to '{topic}' in {secs:.2}s: {rate:.0} records/s, {}/s\n",
        output::count_of(s.records, "record", "records"),
        human_bytes(s.bytes),
        human_bytes(byte_rate as u64)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: ProduceArgs,
    }

    fn args(extra: &[&str]) -> ProduceArgs {
        let mut argv = vec!["produce", "t"];
        argv.extend_from_slice(extra);
        Wrap::try_parse_from(argv).expect("valid arguments").args
    }

    #[test]
    fn lines_split_into_key_and_value_at_the_first_separator() {
        let a = args(&["-K", "::", "-H", "src=test"]);
        let r = to_record("t", Bytes::from_static(b"k1::v::1"), Some(b"::"), &a, 1)
            .expect("has separator");
        assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v::1"[..]));
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.headers[0].key, "src");
        let err = to_record("t", Bytes::from_static(b"nokey"), Some(b"::"), &a, 7).unwrap_err();
        assert_eq!(err.to_string(), "line 7 has no key separator '::'");
    }

    #[test]
    fn options_parse_acks_compression_and_partition() {
        let a = args(&["--acks", "1", "-z", "zstd", "-p", "2"]);
        assert_eq!(a.acks, Acks::Leader);
        assert_eq!(a.compression, Compression::Zstd);
        let r = to_record("t", Bytes::from_static(b"v"), None, &a, 1).expect("record");
        assert_eq!(r.partition, Some(2));
        assert!(r.key.is_none());
        assert!(Wrap::try_parse_from(["produce", "t", "--acks", "2"]).is_err());
        assert!(Wrap::try_parse_from(["produce", "t", "-z", "brotli"]).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_strips_line_breaks_and_counts_bytes() {
        let input: Box<dyn Read + Send> =
            Box::new(std::io::Cursor::new(b"a\r\nbb\n\nccc".to_vec()));
        let (tx, mut rx) = mpsc::channel(4);
        let counted = Arc::new(AtomicU64::new(0));
        let c = counted.clone();
        tokio::task::spawn_blocking(move || read_lines(input, tx, &c))
            .await
            .expect("reader thread");
        let lines = rx.recv().await.expect("one chunk").expect("no error");
        let lines: Vec<&[u8]> = lines.iter().map(|b| &b[..]).collect();
        assert_eq!(lines, vec![&b"a"[..], b"bb", b"", b"ccc"]);
        assert_eq!(counted.load(Ordering::Relaxed), 10);
    }
}
