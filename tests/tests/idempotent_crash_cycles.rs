//! One librdkafka idempotent producer keeps sending while the broker is killed with
//! SIGKILL and restarted, again and again. Batches the broker stored but never
//! acknowledged are retried by the producer with the same sequence numbers; the broker
//! must recognise them from producer state rebuilt from its `.snapshot` files and log.
//! At the end every record is stored exactly once: no duplicate, no gap, in order.

use moldau_e2e::BrokerProcess;
use rand::Rng;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kill -9 cycles, as the issue asks.
const CYCLES: usize = 50;
const TOPIC: &str = "idem-crash";
const PARTITIONS: i32 = 3;
/// Distinct keys, in a fixed sequence: record `s` has key `k{s % KEYS}`.
const KEYS: u64 = 12;
/// Bounds of the random time the producer runs before each kill.
const LOAD_MS_MIN: u64 = 50;
const LOAD_MS_MAX: u64 = 300;
/// Records sent between two short pauses (bounds the records a run checks).
const RECORDS_PER_PAUSE: u64 = 20;
const PAUSE: Duration = Duration::from_millis(5);
const TIMEOUT: Duration = Duration::from_secs(120);

/// Delivery reports: failures are kept to be reported.
#[derive(Clone, Default)]
struct Reports {
    failed: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if let Ok(mut failed) = self.failed.lock() {
                failed.push(e.to_string());
            }
        }
    }
}

fn create_topic(addr: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for r in runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create topics")
    {
        r.expect("topic created");
    }
}

/// Sends `s0, s1, ...` until `stop`, then waits for every delivery report. Returns
/// how many records were sent.
fn run_producer(addr: String, stop: Arc<AtomicBool>, reports: Reports) -> u64 {
    let producer: BaseProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "300000")
        .set("retry.backoff.ms", "50")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create_with_context(reports)
        .expect("producer");
    let mut seq = 0u64;
    while !stop.load(Ordering::Acquire) {
        let key = format!("k{}", seq % KEYS);
        let value = format!("s{seq}");
        match producer.send(BaseRecord::to(TOPIC).key(&key).payload(&value)) {
            Ok(()) => seq += 1,
            Err((e, _)) => {
                assert!(format!("{e}").contains("Queue full"), "send failed: {e}");
                producer.poll(Duration::from_millis(20));
            }
        }
        producer.poll(Duration::ZERO);
        if seq.is_multiple_of(RECORDS_PER_PAUSE) {
            std::thread::sleep(PAUSE);
        }
    }
    producer.flush(TIMEOUT).expect("every record delivered");
    if let Some(fatal) = producer.client().fatal_error() {
        panic!("idempotent producer failed fatally: {fatal:?}");
    }
    seq
}

/// Every record's sequence number, per partition, in offset order.
fn stored_sequences(addr: &str) -> BTreeMap<i32, Vec<(String, u64)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "idem-crash-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut out = BTreeMap::new();
    for p in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(30))
            .expect("watermarks");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let mut records: Vec<(String, u64)> = Vec::new();
        let mut next = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while next < high {
            assert!(
                Instant::now() < deadline,
                "partition {p}: consuming timed out"
            );
            let Some(m) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let m = m.expect("consume");
            assert_eq!(m.offset(), next, "partition {p}: offsets not contiguous");
            next += 1;
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let value = std::str::from_utf8(m.payload().unwrap_or_default()).expect("utf-8");
            let seq = value
                .strip_prefix('s')
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("partition {p}: foreign value {value:?}"));
            records.push((key, seq));
        }
        out.insert(p, records);
    }
    out
}

#[test]
fn idempotent_producer_through_kill_9_cycles_stores_every_record_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = BrokerProcess::start_in(dir.path(), &[], None);
    create_topic(&broker.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let reports = Reports::default();
    let producer = {
        let (addr, stop, reports) = (broker.addr.clone(), stop.clone(), reports.clone());
        std::thread::spawn(move || run_producer(addr, stop, reports))
    };
    let mut rng = rand::thread_rng();
    for _ in 0..CYCLES {
        std::thread::sleep(Duration::from_millis(
            rng.gen_range(LOAD_MS_MIN..=LOAD_MS_MAX),
        ));
        broker.kill();
        broker.restart();
    }
    std::thread::sleep(Duration::from_millis(LOAD_MS_MAX));
    stop.store(true, Ordering::Release);
    let sent = producer.join().expect("producer thread");
    let failed = reports.failed.lock().expect("reports").clone();
    assert!(failed.is_empty(), "undelivered records: {failed:?}");

    let stored = stored_sequences(&broker.addr);
    let mut all: Vec<u64> = Vec::new();
    for (p, records) in &stored {
        for pair in records.windows(2) {
            assert!(
                pair[0].1 < pair[1].1,
                "partition {p}: s{} stored before s{} (duplicate or reordering)",
                pair[0].1,
                pair[1].1
            );
        }
        for (key, seq) in records {
            assert_eq!(
                key,
                &format!("k{}", seq % KEYS),
                "partition {p}: key of s{seq}"
            );
        }
        all.extend(records.iter().map(|(_, s)| *s));
    }
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!(all.len(), total, "a record is stored twice");
    assert_eq!(
        all,
        (0..sent).collect::<Vec<_>>(),
        "records missing (gap) or foreign"
    );
    println!("{CYCLES} kill -9 cycles, {sent} records, each stored once");
}
