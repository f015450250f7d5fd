//! Incremental fetch sessions (KIP-227) and long polling, with exact requests.

use moldau_e2e::{BrokerProcess, RawConnection};
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use moldau_protocol::kafka::messages::{FetchRequest, FetchResponse, TopicName};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::time::{Duration, Instant};

const VERSION: i16 = 12;

fn produce(addr: &str, topic: &str, partition: i32, n: usize) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    for i in 0..n {
        let v = format!("v{i}");
        p.send(
            BaseRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&v),
        )
        .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

fn fetch(
    conn: &mut RawConnection,
    session_id: i32,
    epoch: i32,
    partitions: &[(i32, i64)],
    forgotten: &[i32],
    max_wait_ms: i32,
) -> FetchResponse {
    let name = TopicName(StrBytes::from_string("sessions".into()));
    let mut req = FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(session_id)
        .with_session_epoch(epoch);
    if !partitions.is_empty() {
        req.topics = vec![FetchTopic::default()
            .with_topic(name.clone())
            .with_partitions(
                partitions
                    .iter()
                    .map(|(p, o)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*o)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )];
    }
    if !forgotten.is_empty() {
        req.forgotten_topics_data = vec![ForgottenTopic::default()
            .with_topic(name)
            .with_partitions(forgotten.to_vec())];
    }
    let mut body = bytes::BytesMut::new();
    req.encode(&mut body, VERSION).unwrap();
    let answer = conn.call(1, VERSION, true, &body);
    FetchResponse::decode(&mut bytes::Bytes::from(answer), VERSION).unwrap()
}

fn partitions_in(r: &FetchResponse) -> Vec<(i32, usize, i64)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                p.records.as_ref().map_or(0, |b| b.len()),
                p.high_watermark,
            )
        })
        .collect()
}

#[test]
fn incremental_sessions_send_only_news_and_check_epochs() {
    let broker = BrokerProcess::start(&["--set", "num.partitions=3"]);
    produce(&broker.addr, "sessions", 0, 5);
    produce(&broker.addr, "sessions", 1, 5);
    let mut conn = RawConnection::connect(&broker.addr);

    // Epoch 0 opens a session; the full response names every partition.
    let full = fetch(&mut conn, 0, 0, &[(0, 0), (1, 0), (2, 0)], &[], 0);
    assert_eq!(full.error_code, 0);
    let session = full.session_id;
    assert!(session > 0, "a session was created");
    let got = partitions_in(&full);
    assert_eq!(got.len(), 3);
    assert!(got[0].1 > 0 && got[1].1 > 0 && got[2].1 == 0);

    // Epoch 1, moving partitions 0 and 1 to their ends: nothing new, so after the wait
    // the response names no partition at all.
    let start = Instant::now();
    let quiet = fetch(&mut conn, session, 1, &[(0, 5), (1, 5)], &[], 300);
    assert_eq!(quiet.error_code, 0);
    assert_eq!(quiet.session_id, session);
    assert!(
        partitions_in(&quiet).is_empty(),
        "{:?}",
        partitions_in(&quiet)
    );
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "long poll waited"
    );

    // New data on partition 2 only: only partition 2 comes back, with its records.
    produce(&broker.addr, "sessions", 2, 3);
    let news = fetch(&mut conn, session, 2, &[], &[], 5000);
    let got = partitions_in(&news);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 2);
    assert!(got[0].1 > 0);
    assert_eq!(got[0].2, 3);

    // Forgetting partition 2 removes it; new data there is no longer news.
    let _ = fetch(&mut conn, session, 3, &[(2, 3)], &[], 0);
    let _ = fetch(&mut conn, session, 4, &[], &[2], 0);
    produce(&broker.addr, "sessions", 2, 1);
    let after_forget = fetch(&mut conn, session, 5, &[], &[], 200);
    assert!(partitions_in(&after_forget).iter().all(|p| p.0 != 2));

    // Wrong epoch and unknown session are refused with Kafka's codes.
    assert_eq!(fetch(&mut conn, session, 42, &[], &[], 0).error_code, 71);
    assert_eq!(fetch(&mut conn, 123_456, 1, &[], &[], 0).error_code, 70);

    // Epoch -1 without a session: a plain full fetch, no session id.
    let plain = fetch(&mut conn, 0, -1, &[(0, 0)], &[], 0);
    assert_eq!(plain.session_id, 0);
    assert_eq!(partitions_in(&plain).len(), 1);
}

#[test]
fn long_poll_returns_as_soon_as_data_arrives() {
    let broker = BrokerProcess::start(&[]);
    produce(&broker.addr, "sessions", 0, 1);
    let addr = broker.addr.clone();
    let waiter = std::thread::spawn(move || {
        let mut conn = RawConnection::connect(&addr);
        let start = Instant::now();
        let r = fetch(&mut conn, 0, -1, &[(0, 1)], &[], 20_000);
        (start.elapsed(), partitions_in(&r))
    });
    std::thread::sleep(Duration::from_millis(500));
    produce(&broker.addr, "sessions", 0, 1);
    let (waited, got) = waiter.join().unwrap();
    assert!(got[0].1 > 0, "the new record came back");
    assert!(
        waited < Duration::from_secs(15),
        "answered on arrival, not at max_wait"
    );
}

#[test]
fn the_broker_fetch_max_bytes_caps_a_response_beyond_its_first_batch() {
    let broker =
        BrokerProcess::start(&["--set", "num.partitions=2", "--set", "fetch.max.bytes=1024"]);
    produce(&broker.addr, "sessions", 0, 300);
    produce(&broker.addr, "sessions", 1, 300);
    let mut conn = RawConnection::connect(&broker.addr);
    // The client asks for 1 MiB; the broker allows 1024 bytes, but the first batch
    // always comes back whole so the consumer can make progress.
    let got = partitions_in(&fetch(&mut conn, 0, -1, &[(0, 0), (1, 0)], &[], 0));
    assert_eq!(got.len(), 2);
    assert!(got[0].1 > 1024, "first batch returned whole: {got:?}");
    assert_eq!(got[1].1, 0, "nothing past the broker's cap: {got:?}");
}
