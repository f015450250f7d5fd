//! `moldau-scale`: how one Moldau node holds a large partition count and many
//! connections. Starts `moldau serve` itself on a data directory of its own, creates
//! `--partitions` partitions, and prints one line per figure:
//!
//!     cargo build -p moldau-cli -p moldau-bench
//!     target/debug/moldau-scale --partitions 100000
//!
//! Figures: creation time; RSS, open descriptors and memory maps idle and under load;
//! Metadata latency for all topics; produce throughput spread over `--spread`
//! partitions against the same load on 6; clean restart time (process start until
//! every partition has a leader in Metadata); time to serve again after kill -9 under
//! load; `--idle-connections` idle plus `--active-connections` producing connections
//! (memory, and whether the producers keep their throughput). A benchmark, not a
//! test: it asserts nothing about speed.

use anyhow::{bail, Context};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Scale of one Moldau node: many partitions, many connections")]
struct Args {
    /// The moldau binary to run.
    #[arg(long, default_value = "target/release/moldau")]
    moldau: PathBuf,
    /// Data directory (emptied first unless --reuse).
    #[arg(long, default_value = "/tmp/moldau-scale-data")]
    data_dir: PathBuf,
    /// Keep an existing data directory and its topics (skips creation).
    #[arg(long)]
    reuse: bool,
    /// Partitions to create in all.
    #[arg(long, default_value_t = 100_000)]
    partitions: u32,
    /// Partitions per topic.
    #[arg(long, default_value_t = 100)]
    per_topic: u32,
    /// Topics per CreateTopics request.
    #[arg(long, default_value_t = 20)]
    topics_per_request: usize,
    /// Partitions the spread produce run writes to.
    #[arg(long, default_value_t = 10_000)]
    spread: u32,
    /// Bytes produced by each throughput run.
    #[arg(long, default_value_t = 200 << 20)]
    produce_bytes: u64,
    /// Record value size.
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Idle connections opened for the connection run (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Producing connections of the connection run.
    #[arg(long, default_value_t = 100)]
    active_connections: usize,
    /// Skip the kill -9 run.
    #[arg(long)]
    no_crash: bool,
    /// Extra `--set name=value` for the broker (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
}

const TOPIC_PREFIX: &str = "scale";
const SIX_TOPIC: &str = "scale-six";
const SERVING_TIMEOUT: Duration = Duration::from_secs(1800);
const METADATA_TIMEOUT: Duration = Duration::from_secs(120);

struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    /// Starts the broker; returns it once it printed its listener.
    fn start(args: &Args) -> anyhow::Result<Broker> {
        let mut cmd = Command::new(&args.moldau);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&args.data_dir)
            .arg("--console")
            .arg("off")
            .arg("--log-level")
            .arg("warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for s in &args.sets {
            cmd.arg("--set").arg(s);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", args.moldau.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("moldau listening kafka=") {
                        break addr.to_string();
                    }
                }
                _ => bail!("broker exited before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Ok(Broker { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("broker exited with {status}");
        }
        Ok(started.elapsed())
    }

    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// RSS (MiB), open descriptors, memory maps of a process.
fn resources(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|m| m.lines().count())
        .unwrap_or(0);
    format!(
        "rss_mib={:.1} fds={fds} maps={maps}",
        rss_kib as f64 / 1024.0
    )
}

fn topic_name(i: u32) -> String {
    format!("{TOPIC_PREFIX}-{i:05}")
}

fn topic_count(args: &Args) -> u32 {
    args.partitions.div_ceil(args.per_topic)
}

fn admin(addr: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("socket.timeout.ms", "300000")
        .create()?)
}

fn create_topics(addr: &str, names: &[String], partitions: i32) -> anyhow::Result<()> {
    let admin = admin(addr)?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(300)))
        .request_timeout(Some(Duration::from_secs(300)));
    let results = futures::executor::block_on(admin.create_topics(&topics, &options))?;
    for r in results {
        if let Err((topic, code)) = r {
            match code {
                rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists => {}
                // Committed, but hosting its partitions outlasted the broker's
                // metadata write timeout (as Kafka answers): they are waited for
                // by `wait_serving`, like every other partition.
                rdkafka::types::RDKafkaErrorCode::RequestTimedOut => {
                    eprintln!("creating {topic}: request timed out; waiting for it to be served");
                }
                _ => bail!("creating {topic}: {code}"),
            }
        }
    }
    Ok(())
}

fn metadata_client(addr: &str) -> anyhow::Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("socket.timeout.ms", "120000")
        .set("receive.message.max.bytes", "1000000000")
        .create()?)
}

/// Partitions with a leader in a Metadata response for all topics, and its latency.
fn metadata_all(client: &BaseConsumer) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let md = client.fetch_metadata(None, METADATA_TIMEOUT)?;
    let took = started.elapsed();
    let led = md
        .topics()
        .iter()
        .filter(|t| t.name().starts_with(TOPIC_PREFIX))
        .flat_map(|t| t.partitions())
        .filter(|p| p.leader() >= 0 && p.error().is_none())
        .count();
    Ok((led, took))
}

/// Waits until every expected partition has a leader; returns when that was seen.
fn wait_serving(addr: &str, expected: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + SERVING_TIMEOUT;
    let client = metadata_client(addr)?;
    loop {
        if let Ok((led, _)) = metadata_all(&client) {
            if led >= expected {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("partitions not served within {SERVING_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn producer(addr: &str) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "300000")
        .create()?)
}

/// Produces `bytes` round-robin over `partitions` (topic, partition) pairs; MB/s from
/// the first send to the last acknowledgement. `sample` runs once mid-way.
fn produce_spread(
    addr: &str,
    targets: &[(String, i32)],
    bytes: u64,
    record_bytes: usize,
    mut sample: impl FnMut(),
) -> anyhow::Result<f64> {
    let producer = producer(addr)?;
    let value = vec![b'x'; record_bytes];
    let records = bytes / record_bytes as u64;
    let started = Instant::now();
    for i in 0..records {
        let (topic, partition) = &targets[(i % targets.len() as u64) as usize];
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .payload(&value[..])
            .partition(*partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        if i == records / 2 {
            sample();
        }
    }
    producer.flush(Duration::from_secs(600))?;
    let secs = started.elapsed().as_secs_f64();
    Ok((records * record_bytes as u64) as f64 / secs / 1e6)
}

fn spread_targets(args: &Args, partitions: u32) -> Vec<(String, i32)> {
    (0..partitions)
        .map(|i| (topic_name(i / args.per_topic), (i % args.per_topic) as i32))
        .collect()
}

/// An ApiVersions v0 request: the connection is a real Kafka client's, then idles.
fn idle_connection(addr: &str, correlation: i32) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    let mut req = Vec::with_capacity(14);
    req.extend_from_slice(&10i32.to_be_bytes());
    req.extend_from_slice(&18i16.to_be_bytes());
    req.extend_from_slice(&0i16.to_be_bytes());
    req.extend_from_slice(&correlation.to_be_bytes());
    req.extend_from_slice(&(-1i16).to_be_bytes());
    s.write_all(&req)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len).clamp(0, 1 << 20) as usize];
    s.read_exact(&mut body)?;
    Ok(s)
}

fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn run_connections(args: &Args, broker: &Broker) -> anyhow::Result<()> {
    let targets = spread_targets(args, args.active_connections as u32 * 6);
    let active_bytes = args.produce_bytes / 4;
    let per_producer = |count: usize| -> anyhow::Result<f64> {
        // `count` producers, each its own connection, share the load.
        let share = active_bytes / count as u64;
        let threads: Vec<_> = (0..count)
            .map(|i| {
                let addr = broker.addr.clone();
                let mine: Vec<(String, i32)> =
                    targets.iter().skip(i).step_by(count).cloned().collect();
                let record_bytes = args.record_bytes;
                std::thread::spawn(move || produce_spread(&addr, &mine, share, record_bytes, || {}))
            })
            .collect();
        let mut total = 0.0;
        for t in threads {
            total += t
                .join()
                .map_err(|_| anyhow::anyhow!("producer panicked"))??;
        }
        Ok(total)
    };
    let before = per_producer(args.active_connections)?;
    println!(
        "connections: {} active alone: {before:.1} MB/s (sum of producers)",
        args.active_connections
    );
    let started = Instant::now();
    let mut idle = Vec::with_capacity(args.idle_connections);
    for i in 0..args.idle_connections {
        idle.push(
            idle_connection(&broker.addr, i as i32)
                .with_context(|| format!("idle connection {i}"))?,
        );
    }
    println!(
        "connections: {} idle opened in {:.1} s; broker {}",
        idle.len(),
        started.elapsed().as_secs_f64(),
        resources(broker.pid())
    );
    let with_idle = per_producer(args.active_connections)?;
    println!(
        "connections: {} active beside {} idle: {with_idle:.1} MB/s; broker {}",
        args.active_connections,
        idle.len(),
        resources(broker.pid())
    );
    // The idle ones are still served.
    let mut alive = 0;
    for (i, s) in idle.iter_mut().enumerate().step_by(100) {
        let mut req = Vec::new();
        req.extend_from_slice(&10i32.to_be_bytes());
        req.extend_from_slice(&18i16.to_be_bytes());
        req.extend_from_slice(&0i16.to_be_bytes());
        req.extend_from_slice(&(i as i32).to_be_bytes());
        req.extend_from_slice(&(-1i16).to_be_bytes());
        let mut len = [0u8; 4];
        if s.write_all(&req).is_ok() && s.read_exact(&mut len).is_ok() {
            alive += 1;
        }
    }
    println!(
        "connections: {alive} of {} sampled idle connections still answered",
        idle.len().div_ceil(100)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    raise_open_files_limit();
    let topics = topic_count(&args);
    let expected = (topics * args.per_topic) as usize;
    if !args.reuse {
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    println!(
        "moldau-scale: {} partitions ({topics} topics x {}), binary {}",
        expected,
        args.per_topic,
        args.moldau.display()
    );

    // Creation.
    let broker = Broker::start(&args)?;
    println!("fresh start: {}", resources(broker.pid()));
    if !args.reuse {
        let started = Instant::now();
        let names: Vec<String> = (0..topics).map(topic_name).collect();
        for chunk in names.chunks(args.topics_per_request) {
            create_topics(&broker.addr, chunk, args.per_topic as i32)?;
        }
        create_topics(&broker.addr, &[SIX_TOPIC.to_string()], 6)?;
        wait_serving(&broker.addr, expected)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "create: {expected} partitions in {secs:.1} s ({:.0}/s)",
            expected as f64 / secs
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    println!("idle: {}", resources(broker.pid()));

    // Metadata for all topics.
    let client = metadata_client(&broker.addr)?;
    let mut took = Vec::new();
    for _ in 0..5 {
        let (led, t) = metadata_all(&client)?;
        if led < expected {
            bail!("metadata shows {led} of {expected} partitions led");
        }
        took.push(t);
    }
    took.sort();
    println!(
        "metadata all topics: median {:.1} ms, max {:.1} ms (5 requests)",
        took[2].as_secs_f64() * 1e3,
        took[4].as_secs_f64() * 1e3
    );

    // Produce: spread vs 6 partitions.
    let pid = broker.pid();
    let spread = spread_targets(&args, args.spread.min(expected as u32));
    let mut under_load = String::new();
    let mbs = produce_spread(
        &broker.addr,
        &spread,
        args.produce_bytes,
        args.record_bytes,
        || under_load = resources(pid),
    )?;
    println!(
        "produce over {} partitions: {mbs:.1} MB/s; under load {under_load}",
        spread.len()
    );
    let six: Vec<(String, i32)> = (0..6).map(|p| (SIX_TOPIC.to_string(), p)).collect();
    let mbs = produce_spread(
        &broker.addr,
        &six,
        args.produce_bytes,
        args.record_bytes,
        || under_load = resources(pid),
    )?;
    println!("produce over 6 partitions: {mbs:.1} MB/s; under load {under_load}");

    // Clean restart.
    let stop = broker.stop()?;
    println!("clean stop: {:.1} s", stop.as_secs_f64());
    let started = Instant::now();
    let broker = Broker::start(&args)?;
    let listening = started.elapsed();
    wait_serving(&broker.addr, expected)?;
    println!(
        "clean restart: listening after {:.2} s, all {expected} partitions led after {:.2} s; {}",
        listening.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        resources(broker.pid())
    );

    let broker = if args.no_crash {
        broker
    } else {
        // kill -9 while a producer writes over the spread partitions.
        let addr = broker.addr.clone();
        let targets = spread.clone();
        let record_bytes = args.record_bytes;
        let load = std::thread::spawn(move || {
            let producer = producer(&addr)?;
            let value = vec![b'y'; record_bytes];
            let until = Instant::now() + Duration::from_secs(8);
            let mut i = 0usize;
            while Instant::now() < until {
                let (t, p) = &targets[i % targets.len()];
                let _ = producer.send(
                    BaseRecord::<(), [u8]>::to(t)
                        .payload(&value[..])
                        .partition(*p),
                );
                i += 1;
            }
            anyhow::Ok(i)
        });
        std::thread::sleep(Duration::from_secs(5));
        broker.kill()?;
        let sent = load
            .join()
            .map_err(|_| anyhow::anyhow!("load panicked"))??;
        let started = Instant::now();
        let broker = Broker::start(&args)?;
        let listening = started.elapsed();
        wait_serving(&broker.addr, expected)?;
        println!(
            "recovery after kill -9 under load ({sent} records sent): listening after {:.2} s, all partitions led after {:.2} s",
            listening.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        broker
    };

    if args.idle_connections > 0 {
        run_connections(&args, &broker)?;
    }
    broker.stop()?;
    if !data_dir_is_kept(&args.data_dir) {
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    Ok(())
}

/// The data directory stays for `--reuse` runs unless MOLDAU_SCALE_CLEANUP is set.
fn data_dir_is_kept(_dir: &Path) -> bool {
    std::env::var_os("MOLDAU_SCALE_CLEANUP").is_none()
}
