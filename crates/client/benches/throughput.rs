//! Producer and consumer throughput of this client beside librdkafka's, in the same
//! run, against one broker, with 1 KiB records.
//!
//! ```text
//! cargo build --release -p moldau-cli
//! CARGO_TARGET_DIR=... cargo bench -p moldau-client --bench throughput -- [records] [partitions]
//! ```
//! The broker is `$MOLDAU_BENCH_BROKER` if set, else a `moldau serve` started from
//! `$MOLDAU_BIN` or `<target>/release/moldau`. Both clients use the same batching
//! settings (batch 1 MiB, linger 5 ms, no compression; acks=all with idempotence
//! unless `MOLDAU_BENCH_ACKS=1`). Each side runs
//! several times, alternating which goes first; best and median are reported.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moldau_client::consumer::ConsumerBuilder;
use moldau_client::producer::{Acks, ProducerBuilder};
use moldau_client::{OffsetReset, ProducerRecord, TopicPartition};
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::{ClientContext, TopicPartitionList};

const RECORD_BYTES: usize = 1024;
const BATCH_BYTES: usize = 1024 * 1024;
const LINGER_MS: u64 = 5;
const RUNS: usize = 5;

struct Broker {
    child: Option<Child>,
    addr: String,
    _dir: Option<std::path::PathBuf>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn broker(partitions: usize) -> Broker {
    if let Ok(addr) = std::env::var("MOLDAU_BENCH_BROKER") {
        return Broker {
            child: None,
            addr,
            _dir: None,
        };
    }
    let bin = std::env::var("MOLDAU_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            let exe = std::env::current_exe().expect("exe");
            exe.parent()
                .and_then(|d| d.parent())
                .expect("target dir")
                .join("moldau")
        });
    let dir = std::env::temp_dir().join(format!("moldau-bench-{}", std::process::id()));
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console",
            "off",
            "--log-level",
            "warn",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--set")
        .arg(format!("num.partitions={partitions}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut addr = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(rest) = line.split("kafka=").nth(1) {
            addr = rest.split_whitespace().next().unwrap_or("").to_string();
            break;
        }
    }
    assert!(!addr.is_empty(), "broker did not start");
    Broker {
        child: Some(child),
        addr,
        _dir: Some(dir),
    }
}

/// Extra librdkafka properties from `MOLDAU_BENCH_RD_SET=k=v,k=v` (consumer side).
fn rd_extra(cfg: &mut RdConfig) {
    if let Ok(extra) = std::env::var("MOLDAU_BENCH_RD_SET") {
        for kv in extra.split(',').filter(|s| !s.is_empty()) {
            if let Some((k, v)) = kv.split_once('=') {
                cfg.set(k, v);
            }
        }
    }
}

fn report(what: &str, n: usize, took: Duration) -> f64 {
    let secs = took.as_secs_f64();
    let rate = n as f64 / secs;
    println!(
        "{what:<28} {n} records in {secs:7.3} s = {rate:10.0} rec/s, {:7.1} MiB/s",
        rate * RECORD_BYTES as f64 / (1024.0 * 1024.0)
    );
    rate
}

/// `MOLDAU_BENCH_ACKS`: `all` (default; both clients idempotent, as the Java
/// client's defaults) or `1` (neither idempotent).
fn acks_all() -> bool {
    std::env::var("MOLDAU_BENCH_ACKS").map_or(true, |v| v != "1")
}

async fn ours_produce(addr: &str, topic: &str, n: usize) -> Duration {
    let producer = ProducerBuilder::new(addr)
        .acks(if acks_all() { Acks::All } else { Acks::Leader })
        .batch_size_bytes(BATCH_BYTES)
        .linger(Duration::from_millis(LINGER_MS))
        .buffer_memory_bytes(256 * 1024 * 1024)
        .build()
        .expect("producer");
    let payload = bytes::Bytes::from(vec![b'x'; RECORD_BYTES]);
    // Warm up metadata and the connection.
    producer
        .send(ProducerRecord::new(topic, payload.clone()))
        .await
        .expect("send")
        .await
        .expect("ack");
    let start = Instant::now();
    let mut deliveries = Vec::with_capacity(n);
    for _ in 0..n {
        deliveries.push(
            producer
                .send(ProducerRecord::new(topic, payload.clone()))
                .await
                .expect("send"),
        );
    }
    for d in deliveries {
        d.await.expect("ack");
    }
    let took = start.elapsed();
    producer.close().await.expect("close");
    took
}

struct CountingContext {
    acked: Arc<AtomicUsize>,
}
impl ClientContext for CountingContext {}
impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.acked.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn rd_produce(addr: &str, topic: &str, n: usize) -> Duration {
    let acked = Arc::new(AtomicUsize::new(0));
    let producer: BaseProducer<CountingContext> = RdConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", if acks_all() { "all" } else { "1" })
        .set("enable.idempotence", acks_all().to_string())
        .set("linger.ms", LINGER_MS.to_string())
        .set("batch.size", BATCH_BYTES.to_string())
        .set("queue.buffering.max.kbytes", (256 * 1024).to_string())
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(CountingContext {
            acked: acked.clone(),
        })
        .expect("rdkafka producer");
    let payload = vec![b'x'; RECORD_BYTES];
    let _ = producer.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload[..]));
    producer.flush(Duration::from_secs(30)).expect("flush");
    let base = acked.load(Ordering::Relaxed);
    let start = Instant::now();
    for _ in 0..n {
        let mut rec = BaseRecord::<(), [u8]>::to(topic).payload(&payload[..]);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let took = start.elapsed();
    assert_eq!(acked.load(Ordering::Relaxed) - base, n);
    took
}

async fn ours_consume(addr: &str, topic: &str, partitions: usize, n: usize) -> Duration {
    let consumer = ConsumerBuilder::new(addr)
        .auto_offset_reset(OffsetReset::Earliest)
        .max_poll_records(10_000)
        .build()
        .expect("consumer");
    let tps: Vec<TopicPartition> = (0..partitions as i32)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(&tps).await.expect("assign");
    let start = Instant::now();
    let mut got = 0;
    let mut bytes = 0usize;
    while got < n {
        let recs = consumer.poll(Duration::from_secs(10)).await.expect("poll");
        assert!(!recs.is_empty(), "consumer stalled at {got}");
        got += recs.len();
        bytes += recs
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
    }
    let took = start.elapsed();
    assert!(bytes >= n * RECORD_BYTES);
    consumer.close().await.expect("close");
    took
}

fn rd_consume(addr: &str, topic: &str, partitions: usize, n: usize) -> Duration {
    let mut cfg = RdConfig::new();
    cfg.set("bootstrap.servers", addr)
        .set("group.id", "bench-unused")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    rd_extra(&mut cfg);
    let consumer: BaseConsumer = cfg.create().expect("rdkafka consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&list).expect("assign");
    let start = Instant::now();
    let mut got = 0;
    let mut bytes = 0usize;
    while got < n {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                use rdkafka::Message;
                bytes += m.payload().map_or(0, |p| p.len());
                got += 1;
            }
            Some(Err(e)) => panic!("rdkafka consume: {e}"),
            None => panic!("rdkafka consumer stalled at {got}"),
        }
    }
    let took = start.elapsed();
    assert!(bytes >= n * RECORD_BYTES);
    took
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let partitions: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let broker = broker(partitions);
    println!(
        "broker {} | {n} records of {RECORD_BYTES} B | {partitions} partitions",
        broker.addr
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `MOLDAU_BENCH_ONLY=produce` (or `consume`) runs one half only.
    let only = std::env::var("MOLDAU_BENCH_ONLY").unwrap_or_default();
    let (mut ours_p, mut rd_p, mut ours_c, mut rd_c) = (vec![1.0], vec![1.0], vec![1.0], vec![1.0]);
    if only != "consume" {
        ours_p.clear();
        rd_p.clear();
    }
    if only != "produce" {
        ours_c.clear();
        rd_c.clear();
    }
    for run in 0..RUNS {
        let topic_run = if only == "consume" { 0 } else { run };
        let t_ours = format!("bench-ours-{}-{topic_run}", std::process::id());
        let t_rd = format!("bench-rd-{}-{topic_run}", std::process::id());
        // Alternate who goes first, so neither always meets a fresher broker.
        let ours_first = run % 2 == 0;
        let mut produce_ours = || {
            let took = rt.block_on(ours_produce(&broker.addr, &t_ours, n));
            ours_p.push(report("produce  moldau-client", n, took));
        };
        let mut produce_rd = || {
            let took = rd_produce(&broker.addr, &t_rd, n);
            rd_p.push(report("produce  librdkafka", n, took));
        };
        if only == "consume" && run > 0 {
            // The topics of run 0 are read again.
        } else if ours_first {
            produce_ours();
            produce_rd();
        } else {
            produce_rd();
            produce_ours();
        }
        // Each consumer reads the topic the other client wrote (plus its warm-up
        // record), so both read the same volume.
        let mut consume_ours = || {
            let took = rt.block_on(ours_consume(&broker.addr, &t_rd, partitions, n));
            ours_c.push(report("consume  moldau-client", n, took));
        };
        let mut consume_rd = || {
            let took = rd_consume(&broker.addr, &t_ours, partitions, n);
            rd_c.push(report("consume  librdkafka", n, took));
        };
        if only == "produce" {
            continue;
        }
        if ours_first {
            consume_ours();
            consume_rd();
        } else {
            consume_rd();
            consume_ours();
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "best of {RUNS}:   produce ratio {:.2}, consume ratio {:.2} (moldau-client / librdkafka)",
        best(&ours_p) / best(&rd_p),
        best(&ours_c) / best(&rd_c)
    );
    println!(
        "median of {RUNS}: produce ratio {:.2}, consume ratio {:.2}",
        median(&ours_p) / median(&rd_p),
        median(&ours_c) / median(&rd_c)
    );
}
