//! `moldau-loadgen`: throughput and latency of any Kafka-compatible broker, measured
//! with librdkafka so the same run can compare Moldau with another broker.
//!
//!     cargo run --release -p moldau-bench -- --bootstrap 127.0.0.1:9092 all

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Kafka load generator (librdkafka)")]
struct Args {
    /// Bootstrap address of the broker under test.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Records per throughput run.
    #[arg(long, default_value_t = 500_000)]
    records: u64,
    /// Record value size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Replicas of each benchmark topic's partitions (3 on three brokers measures
    /// replication; min.insync.replicas is then 2).
    #[arg(long, default_value_t = 1)]
    replication_factor: i32,
    /// Target rate of the latency run, in MB/s.
    #[arg(long, default_value_t = 50.0)]
    latency_rate_mb: f64,
    /// linger.ms of the latency run's producer (included in the measured latency).
    #[arg(long, default_value_t = 1)]
    latency_linger_ms: u32,
    /// File to write every latency sample to (`sent_us latency_us` per line).
    #[arg(long)]
    latency_trace: Option<String>,
    /// Length of the latency run.
    #[arg(long, default_value_t = 10)]
    latency_seconds: u64,
    /// Existing topic for the consume run (holding `--records` records); without it the
    /// run produces its own topic first.
    #[arg(long)]
    topic: Option<String>,
    /// Records per transaction of the transactional produce run.
    #[arg(long, default_value_t = 100)]
    records_per_transaction: u64,
    /// Rounds of the `eos` mode (each runs plain, idempotent and transactional once).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Extra librdkafka producer property `name=value` (repeatable), applied last.
    #[arg(long = "producer-property", value_name = "NAME=VALUE")]
    producer_properties: Vec<String>,
    #[arg(value_enum, default_value_t = Mode::All)]
    mode: Mode,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Mode {
    ProduceAcks1,
    ProduceAcksAll,
    Consume,
    Latency,
    All,
    /// acks=all with idempotence on.
    ProduceIdempotent,
    /// acks=all in transactions of `--records-per-transaction` records.
    ProduceTransactional,
    /// Exactly-once costs: acks=all without idempotence, with it, and transactional,
    /// alternating for `--rounds` rounds; medians at the end.
    Eos,
}

/// How the produce run's producer delivers.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Delivery {
    /// librdkafka's default: no idempotence.
    Plain,
    /// `enable.idempotence=true`.
    Idempotent,
    /// `transactional.id` set; a commit every `per_transaction` records.
    Transactional { per_transaction: u64 },
}

impl Delivery {
    fn label(self) -> &'static str {
        match self {
            Delivery::Plain => "acks=all",
            Delivery::Idempotent => "acks=all idempotent",
            Delivery::Transactional { .. } => "acks=all transactional",
        }
    }
}

/// Delivery callbacks: count them, and record latency for the latency run.
struct Stats {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// (sent at, latency) in µs, for the latency run.
    latencies_us: Mutex<Vec<(u64, u64)>>,
}

struct Ctx(Arc<Stats>);

static CLOCK_ZERO: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Microseconds since the first call, at least 1 (0 marks an unstamped record).
fn micros_since_zero() -> u64 {
    CLOCK_ZERO.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    /// When the record was handed to librdkafka, in µs since `CLOCK_ZERO`, or 0: only the
    /// latency run stamps records, so throughput runs spend no client time on clocks and
    /// allocations per record.
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, sent_us: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
                if sent_us != 0 {
                    let us = micros_since_zero().saturating_sub(sent_us as u64);
                    if let Ok(mut l) = self.0.latencies_us.lock() {
                        l.push((sent_us as u64, us));
                    }
                }
            }
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn create_topic(args: &Args, name: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .create()?;
    let replication = args.replication_factor;
    let min_insync = replication.min(2).to_string();
    let topic = NewTopic::new(name, args.partitions, TopicReplication::Fixed(replication))
        .set("min.insync.replicas", &min_insync);
    let topics = [topic];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let fut = admin.create_topics(&topics, &options);
    let results = futures::executor::block_on(fut)?;
    for r in results {
        if let Err((topic, code)) = r {
            bail!("creating {topic}: {code}");
        }
    }
    Ok(())
}

fn producer(
    args: &Args,
    acks: &str,
    linger_ms: &str,
    extra: &[(&str, String)],
    stats: Arc<Stats>,
) -> anyhow::Result<ThreadedProducer<Ctx>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", acks)
        .set("linger.ms", linger_ms)
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "none");
    for (name, value) in extra {
        config.set(*name, value);
    }
    for property in &args.producer_properties {
        let Some((name, value)) = property.split_once('=') else {
            bail!("--producer-property {property:?} is not NAME=VALUE");
        };
        config.set(name, value);
    }
    Ok(config.create_with_context(Ctx(stats))?)
}

fn new_stats() -> Arc<Stats> {
    Arc::new(Stats {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        latencies_us: Mutex::new(Vec::new()),
    })
}

/// Waits until the client knows a leader for every partition of the (just created)
/// topic, so a run measures the broker in steady state rather than librdkafka's
/// metadata retry back-off for a topic it has not seen yet.
fn wait_for_leaders<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = client
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .context("topic metadata")?;
        let led = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions())
            .filter(|p| p.leader() >= 0 && p.error().is_none())
            .count();
        if led >= partitions as usize {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{topic}: {led} of {partitions} partitions have a leader after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `records` values as fast as librdkafka takes them; returns MB/s.
fn produce(args: &Args, topic: &str, acks: &str) -> anyhow::Result<f64> {
    produce_with(args, topic, acks, Delivery::Plain)
}

/// [`produce`] with idempotence or in transactions; a transactional run commits
/// every `per_transaction` records (the commit waits for their acknowledgements).
fn produce_with(args: &Args, topic: &str, acks: &str, delivery: Delivery) -> anyhow::Result<f64> {
    const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
    let stats = new_stats();
    let extra: Vec<(&str, String)> = match delivery {
        Delivery::Plain => vec![("enable.idempotence", "false".into())],
        Delivery::Idempotent => vec![("enable.idempotence", "true".into())],
        Delivery::Transactional { .. } => {
            vec![("transactional.id", format!("loadgen-{topic}"))]
        }
    };
    let p = producer(args, acks, "5", &extra, stats.clone())?;
    wait_for_leaders(p.client(), topic, args.partitions)?;
    let per_transaction = match delivery {
        Delivery::Transactional { per_transaction } => {
            p.init_transactions(TRANSACTION_TIMEOUT)
                .context("init_transactions")?;
            Some(per_transaction.max(1))
        }
        _ => None,
    };
    let value = vec![b'm'; args.size];
    let keys: Vec<String> = (0..1024).map(|k: u32| k.to_string()).collect();
    let start = Instant::now();
    for i in 0..args.records {
        if let Some(n) = per_transaction {
            if i % n == 0 {
                if i > 0 {
                    p.commit_transaction(TRANSACTION_TIMEOUT)
                        .context("commit_transaction")?;
                }
                p.begin_transaction().context("begin_transaction")?;
            }
        }
        let key = &keys[(i % 1024) as usize];
        let mut record = BaseRecord::with_opaque_to(topic, 0)
            .key(key)
            .payload(&value);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
    if per_transaction.is_some() {
        p.commit_transaction(TRANSACTION_TIMEOUT)
            .context("commit_transaction")?;
    }
    p.flush(Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    let failed = stats.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} records failed");
    }
    Ok(args.records as f64 * args.size as f64 / secs / 1e6)
}

/// Reads the whole topic from the beginning; returns MB/s.
fn consume(args: &Args, topic: &str, expected: u64) -> anyhow::Result<f64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", "moldau-loadgen")
        .set("enable.auto.commit", "false")
        // librdkafka receives each response into a buffer of its size: at 16 MiB
        // glibc mostly reuses those buffers, at 50 MiB every response is a fresh
        // mmap (about 2.5 times the page faults, paid in the fetch thread).
        .set("fetch.max.bytes", "16777216")
        .set("max.partition.fetch.bytes", "4194304")
        .set("queued.max.messages.kbytes", "1048576")
        .create()?;
    // Learn the leaders first: partitions assigned before librdkafka knows them wait
    // for its 500 ms offset-query retry, which would dominate a short run.
    wait_for_leaders(c.client(), topic, args.partitions)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..args.partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let start = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < expected {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.context("consume")?;
            bytes += m.payload_len() as u64;
            n += 1;
            // Reading the clock per record shows in the profile; now and then is
            // enough to notice a stall.
            if n % 4096 != 0 {
                continue;
            }
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("consume stalled at {n} of {expected}");
        }
    }
    Ok(bytes as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// Produces at a fixed rate with acks=all; returns (p50, p99, max) latency in ms.
fn latency(args: &Args, topic: &str) -> anyhow::Result<(f64, f64, f64)> {
    let stats = new_stats();
    // The measured time includes the linger, so it stays short: with none at all,
    // librdkafka sends a request for every few records (about 12 000 a second at
    // 50 MB/s), each waiting for its own fsync, and client and broker spend the two
    // cores on per-request work; 1 ms lowered both p50 and p99 here.
    let linger = args.latency_linger_ms.to_string();
    let p = producer(args, "all", &linger, &[], stats.clone())?;
    wait_for_leaders(p.client(), topic, args.partitions)?;
    let value = vec![b'l'; args.size];
    let per_sec = (args.latency_rate_mb * 1e6 / args.size as f64) as u64;
    let total = per_sec * args.latency_seconds;
    let start = Instant::now();
    for i in 0..total {
        // Pace: record i is due at i / per_sec seconds.
        let due = Duration::from_secs_f64(i as f64 / per_sec as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            if wait > Duration::from_micros(100) {
                std::thread::sleep(wait);
            }
        }
        let record = BaseRecord::<(), _, _>::with_opaque_to(topic, micros_since_zero() as usize)
            .payload(&value);
        if p.send(record).is_err() {
            bail!("local queue full at {} MB/s", args.latency_rate_mb);
        }
    }
    p.flush(Duration::from_secs(60))?;
    let samples = stats
        .latencies_us
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    if let Some(path) = &args.latency_trace {
        let mut out = String::with_capacity(samples.len() * 16);
        for (sent, us) in &samples {
            out.push_str(&format!("{sent} {us}\n"));
        }
        std::fs::write(path, out).with_context(|| format!("writing {path}"))?;
    }
    let mut l: Vec<u64> = samples.iter().map(|(_, us)| *us).collect();
    l.sort_unstable();
    if l.is_empty() {
        bail!("no deliveries");
    }
    let pct = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)] as f64 / 1000.0;
    Ok((pct(0.50), pct(0.99), pct(1.0)))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = std::process::id();
    let mb = args.records as f64 * args.size as f64 / 1e6;
    println!(
        "broker {} · {} records × {} B ({mb:.0} MB) · {} partitions",
        args.bootstrap, args.records, args.size, args.partitions
    );
    let mut produced_topic = None;
    if matches!(args.mode, Mode::ProduceAcks1 | Mode::All) {
        let t = format!("loadgen-acks1-{run}");
        create_topic(&args, &t)?;
        println!("produce acks=1    {:8.1} MB/s", produce(&args, &t, "1")?);
        produced_topic = Some(t);
    }
    if matches!(args.mode, Mode::ProduceAcksAll | Mode::All) {
        let t = format!("loadgen-acksall-{run}");
        create_topic(&args, &t)?;
        println!("produce acks=all  {:8.1} MB/s", produce(&args, &t, "all")?);
        produced_topic = Some(t);
    }
    let transactional = Delivery::Transactional {
        per_transaction: args.records_per_transaction,
    };
    for (mode, delivery, name) in [
        (Mode::ProduceIdempotent, Delivery::Idempotent, "idem"),
        (Mode::ProduceTransactional, transactional, "txn"),
    ] {
        if args.mode == mode {
            let t = format!("loadgen-{name}-{run}");
            create_topic(&args, &t)?;
            let mbs = produce_with(&args, &t, "all", delivery)?;
            println!("produce {:<24}{mbs:8.1} MB/s", delivery.label());
        }
    }
    if args.mode == Mode::Eos {
        eos(&args, run, transactional)?;
    }
    if matches!(args.mode, Mode::Consume | Mode::All) {
        let t = match produced_topic.or(args.topic.clone()) {
            Some(t) => t,
            None => {
                let t = format!("loadgen-consume-{run}");
                create_topic(&args, &t)?;
                produce(&args, &t, "1")?;
                t
            }
        };
        println!(
            "consume           {:8.1} MB/s",
            consume(&args, &t, args.records)?
        );
    }
    if matches!(args.mode, Mode::Latency | Mode::All) {
        let t = format!("loadgen-latency-{run}");
        create_topic(&args, &t)?;
        let (p50, p99, max) = latency(&args, &t)?;
        println!(
            "produce latency at {} MB/s, acks=all, linger {} ms: p50 {p50:.2} ms  p99 {p99:.2} ms  max {max:.2} ms",
            args.latency_rate_mb, args.latency_linger_ms
        );
    }
    Ok(())
}

/// Plain, idempotent and transactional acks=all produce runs, alternating round by
/// round so that a quiet or busy period of the machine hits all three alike.
fn eos(args: &Args, run: u32, transactional: Delivery) -> anyhow::Result<()> {
    let kinds = [Delivery::Plain, Delivery::Idempotent, transactional];
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..args.rounds {
        for (k, delivery) in kinds.iter().enumerate() {
            let t = format!("loadgen-eos-{run}-{round}-{k}");
            create_topic(args, &t)?;
            let mbs = produce_with(args, &t, "all", *delivery)?;
            println!(
                "round {round} produce {:<24}{mbs:8.1} MB/s",
                delivery.label()
            );
            figures[k].push(mbs);
        }
    }
    for (delivery, mut f) in kinds.into_iter().zip(figures) {
        f.sort_by(|a, b| a.total_cmp(b));
        let median = f.get(f.len() / 2).copied().unwrap_or(0.0);
        println!("median  produce {:<24}{median:8.1} MB/s", delivery.label());
    }
    if let Delivery::Transactional { per_transaction } = transactional {
        println!("(transactional: {per_transaction} records per transaction)");
    }
    Ok(())
}
