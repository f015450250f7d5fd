//! Client telemetry (KIP-714): librdkafka subscribes and pushes its metrics, which
//! appear in the console's /metrics labelled by client id and instance; pushes the
//! broker cannot take get Kafka's error codes.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::{GetTelemetrySubscriptionsRequest, PushTelemetryRequest};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use topic_support::{RawClient, NONE};

const INVALID_REQUEST: i16 = 42;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const UNKNOWN_SUBSCRIPTION_ID: i16 = 117;
const TELEMETRY_TOO_LARGE: i16 = 118;
/// Longest wait for a client's first push to show.
const PUSH_WAIT: Duration = Duration::from_secs(60);
const TELEMETRY_BYTES_MAX: usize = 65_536;

fn start() -> BrokerProcess {
    BrokerProcess::start(&[
        "--console",
        "127.0.0.1:0",
        "--set",
        "telemetry.push.interval.ms=500",
        "--set",
        "telemetry.max.bytes=65536",
    ])
}

/// The console's /metrics text.
fn scrape(console: &str) -> String {
    get(console, "/metrics")
}

/// The whole HTTP response (headers and body) to a GET of `path` on the console.
fn get(console: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(console).expect("console connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {console}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

#[test]
fn librdkafka_pushes_its_metrics_into_the_consoles_metrics() {
    let broker = start();
    let console = broker.console_addr.clone().expect("console address");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("client.id", "telemetry-producer")
        .create()
        .expect("producer");
    for i in 0..10 {
        let value = format!("v{i}");
        producer
            .send(BaseRecord::<(), _>::to("telemetry").payload(&value))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let deadline = Instant::now() + PUSH_WAIT;
    let lines = loop {
        let text = scrape(&console);
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("kafka_client_org_apache_kafka_producer_"))
            .filter(|l| l.contains("client_id=\"telemetry-producer\""))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() {
            break lines;
        }
        assert!(Instant::now() < deadline, "no pushed metrics in:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        lines.iter().all(|l| l.contains("client_instance_id=\"")),
        "{lines:?}"
    );
    drop(producer);
}

#[test]
fn a_groups_member_view_shows_what_its_clients_pushed() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let broker = start();
    let console = broker.console_addr.clone().expect("console address");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::<(), _>::to("watched").payload("x"))
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", "watched-group")
        .set("client.id", "telemetry-consumer")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["watched"]).expect("subscribe");
    let deadline = Instant::now() + PUSH_WAIT;
    loop {
        let _ = consumer.poll(Duration::from_millis(200));
        let response = get(&console, "/api/v1/groups/watched-group");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        let detail: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let pushed = detail["client_telemetry"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let consumer_metrics = pushed.iter().any(|c| {
            c["client_id"] == "telemetry-consumer"
                && c["metrics"].as_array().is_some_and(|m| {
                    m.iter().any(|m| {
                        m["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("org.apache.kafka.consumer."))
                    })
                })
        });
        if consumer_metrics {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group view never showed the consumer's metrics:\n{response}"
        );
    }
}

#[test]
fn pushes_the_broker_cannot_take_get_kafkas_errors() {
    let broker = start();
    let mut c = RawClient::connect(&broker.addr);
    let sub = c.call(0, &GetTelemetrySubscriptionsRequest::default());
    assert_eq!(sub.error_code, NONE);
    assert!(
        !sub.client_instance_id.is_nil(),
        "an instance id is assigned"
    );
    assert_eq!(sub.push_interval_ms, 500);
    assert_eq!(sub.telemetry_max_bytes, TELEMETRY_BYTES_MAX as i32);
    assert_eq!(sub.accepted_compression_types, vec![4, 3, 1, 2]);
    assert_eq!(
        sub.requested_metrics
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        vec!["org.apache.kafka.".to_string()]
    );
    // Asking again with the id keeps it, and the subscription.
    let again = c.call(
        0,
        &GetTelemetrySubscriptionsRequest::default()
            .with_client_instance_id(sub.client_instance_id),
    );
    assert_eq!(again.client_instance_id, sub.client_instance_id);
    assert_eq!(again.subscription_id, sub.subscription_id);

    let push = |subscription_id: i32, compression: i8, metrics: Vec<u8>| {
        PushTelemetryRequest::default()
            .with_client_instance_id(sub.client_instance_id)
            .with_subscription_id(subscription_id)
            .with_compression_type(compression)
            .with_metrics(metrics.into())
    };
    let r = c.call(0, &push(sub.subscription_id, 0, Vec::new()));
    assert_eq!(r.error_code, NONE);
    let r = c.call(0, &push(sub.subscription_id.wrapping_add(1), 0, Vec::new()));
    assert_eq!(r.error_code, UNKNOWN_SUBSCRIPTION_ID);
    let r = c.call(
        0,
        &push(sub.subscription_id, 0, vec![0; TELEMETRY_BYTES_MAX + 1]),
    );
    assert_eq!(r.error_code, TELEMETRY_TOO_LARGE);
    let r = c.call(0, &push(sub.subscription_id, 7, Vec::new()));
    assert_eq!(r.error_code, UNSUPPORTED_COMPRESSION_TYPE);
    let r = c.call(
        0,
        &push(sub.subscription_id, 0, Vec::new()).with_client_instance_id(uuid::Uuid::nil()),
    );
    assert_eq!(r.error_code, INVALID_REQUEST);
}
