//! Kafka's connection settings against the real broker: `connections.max.idle.ms`,
//! `max.connections.per.ip`, `max.connections`, receive buffers that grow with the
//! bytes received, and ten thousand idle connections beside working clients.

use moldau_e2e::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// ApiVersions v0 (empty body) with correlation id `id`, framed.
fn api_versions_request(id: i32) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&18i16.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    out
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    s
}

/// Sends ApiVersions and reads the answer; Err when the broker closed the connection.
fn api_versions(stream: &mut TcpStream, id: i32) -> std::io::Result<()> {
    stream.write_all(&api_versions_request(id))?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut response)?;
    assert_eq!(response[..4], id.to_be_bytes(), "correlation id");
    Ok(())
}

/// True when the broker closed `stream` (end of file or reset) before `wait` passed.
fn closed_by_broker(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("unexpected bytes from the broker"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

/// Retries a fresh connection's ApiVersions until it is answered (the broker notices
/// closed connections asynchronously), for at most 20 s.
fn served_again(addr: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut s = connect(addr);
        if api_versions(&mut s, 7).is_ok() {
            return s;
        }
        assert!(Instant::now() < deadline, "broker never served again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[test]
fn idle_connection_is_closed_after_connections_max_idle_ms() {
    let broker = BrokerProcess::start(&["--set", "connections.max.idle.ms=1500"]);
    let mut idle = connect(&broker.addr);
    api_versions(&mut idle, 1).expect("served");
    let mut busy = connect(&broker.addr);
    // Requests more often than the idle limit keep a connection open past it.
    let started = Instant::now();
    let mut id = 0;
    while started.elapsed() < Duration::from_secs(3) {
        id += 1;
        api_versions(&mut busy, id).expect("a busy connection stays open");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        closed_by_broker(&mut idle, Duration::from_secs(20)),
        "an idle connection must be closed"
    );
    api_versions(&mut busy, id + 1).expect("the busy connection is still served");
}

#[test]
fn connections_over_max_connections_per_ip_are_closed_at_once() {
    let broker = BrokerProcess::start(&["--set", "max.connections.per.ip=2"]);
    let mut first = connect(&broker.addr);
    let mut second = connect(&broker.addr);
    api_versions(&mut first, 1).expect("first served");
    api_versions(&mut second, 1).expect("second served");
    let mut third = connect(&broker.addr);
    assert!(
        closed_by_broker(&mut third, Duration::from_secs(20)),
        "a third connection from the same address must be closed"
    );
    drop(first);
    let mut again = served_again(&broker.addr);
    api_versions(&mut second, 2).expect("second still served");
    api_versions(&mut again, 8).expect("new connection served");
}

#[test]
fn per_ip_override_replaces_the_default_limit() {
    let broker = BrokerProcess::start(&[
        "--set",
        "max.connections.per.ip=0",
        "--set",
        "max.connections.per.ip.overrides=127.0.0.1:1",
    ]);
    let mut only = connect(&broker.addr);
    api_versions(&mut only, 1).expect("the one allowed connection is served");
    let mut extra = connect(&broker.addr);
    assert!(closed_by_broker(&mut extra, Duration::from_secs(20)));
}

#[test]
fn connections_over_max_connections_wait_until_one_closes() {
    let broker = BrokerProcess::start(&["--set", "max.connections=2"]);
    let mut first = connect(&broker.addr);
    let mut second = connect(&broker.addr);
    api_versions(&mut first, 1).expect("first served");
    api_versions(&mut second, 1).expect("second served");
    // The kernel completes the handshake, but the broker does not accept it yet.
    let mut third = connect(&broker.addr);
    third.write_all(&api_versions_request(3)).expect("write");
    third
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let mut size = [0u8; 4];
    let early = third.read(&mut size);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the third connection must wait, got {early:?}"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    third
        .read_exact(&mut size)
        .expect("answered once a place is free");
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    third.read_exact(&mut response).expect("response");
    assert_eq!(response[..4], 3i32.to_be_bytes());
}

#[test]
fn a_huge_size_prefix_reserves_memory_only_as_bytes_arrive() {
    const CONNECTIONS: usize = 20;
    const CLAIMED_BYTES: i32 = 100_000_000;
    let broker = BrokerProcess::start(&[]);
    let pid = broker.pid().expect("running");
    let mut warm = connect(&broker.addr);
    api_versions(&mut warm, 1).expect("served");
    let data_before = status_kib(pid, "VmData");
    let rss_before = status_kib(pid, "VmRSS");
    let mut claims: Vec<TcpStream> = (0..CONNECTIONS).map(|_| connect(&broker.addr)).collect();
    for s in &mut claims {
        s.write_all(&CLAIMED_BYTES.to_be_bytes())
            .expect("size prefix");
    }
    // Dribble a few bytes of each body, then make sure the broker has read them all
    // (it answers a request on another connection after reading every claim's bytes).
    for round in 0..5 {
        for s in &mut claims {
            s.write_all(&[round; 100]).expect("dribble");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    api_versions(&mut warm, 2).expect("still served");
    let data_growth_mib = status_kib(pid, "VmData").saturating_sub(data_before) / 1024;
    let rss_growth_mib = status_kib(pid, "VmRSS").saturating_sub(rss_before) / 1024;
    eprintln!(
        "{CONNECTIONS} claims of {CLAIMED_BYTES} bytes: VmData +{data_growth_mib} MiB, VmRSS +{rss_growth_mib} MiB"
    );
    // Reserving each claim up front would take 20 x 95 MiB of address space.
    assert!(
        data_growth_mib < 256,
        "claimed frames reserved {data_growth_mib} MiB"
    );
    assert!(rss_growth_mib < 64, "RSS grew by {rss_growth_mib} MiB");
}

/// Produces `count` records to `topic` and reads them back with librdkafka.
fn produce_and_fetch(addr: &str, topic: &str, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for i in 0..count {
        let payload = format!("record-{i}");
        producer
            .send(BaseRecord::<(), _>::to(topic).payload(&payload))
            .expect("enqueue");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("records delivered");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "connection-limits")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < count && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    let expected: Vec<String> = (0..count).map(|i| format!("record-{i}")).collect();
    assert_eq!(got, expected);
}

#[test]
fn ten_thousand_idle_connections_and_clients_still_served() {
    const IDLE_CONNECTIONS: u64 = 10_000;
    // The idle sockets, librdkafka's, and the test harness's own descriptors.
    let fds_needed = IDLE_CONNECTIONS + 1_000;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    if hard < fds_needed {
        eprintln!(
            "SKIPPED: the hard open files limit is {hard}, below the {fds_needed} this test needs"
        );
        return;
    }
    // The broker starts with the usual soft limit and must raise its own.
    rlimit::setrlimit(rlimit::Resource::NOFILE, 1024, hard).expect("lower the soft limit");
    let broker = BrokerProcess::start(&[]);
    rlimit::increase_nofile_limit(fds_needed).expect("raise the open files limit");
    let pid = broker.pid().expect("running");
    let rss_before = status_kib(pid, "VmRSS");
    let idle: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .map(|_| TcpStream::connect(&broker.addr).expect("connect"))
        .collect();
    // Every connection has been accepted once the broker holds a descriptor for each.
    let deadline = Instant::now() + Duration::from_secs(60);
    let open = loop {
        let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("broker fds")
            .count() as u64;
        if open >= IDLE_CONNECTIONS || Instant::now() > deadline {
            break open;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        open >= IDLE_CONNECTIONS,
        "broker holds {open} descriptors, not all {IDLE_CONNECTIONS} connections"
    );
    produce_and_fetch(&broker.addr, "beside-idle-connections", 20);
    let rss_mib = status_kib(pid, "VmRSS") / 1024;
    eprintln!(
        "broker VmRSS with {IDLE_CONNECTIONS} idle connections: {rss_mib} MiB (before them {} MiB)",
        rss_before / 1024
    );
    // Far above what 10k idle connections need; catches a buffer reserved per connection.
    assert!(rss_mib < 1024, "broker RSS {rss_mib} MiB");
    drop(idle);
}
