//! Configs that cannot break the broker: out-of-range values are refused before they
//! are stored, settings Moldau would ignore stop start-up, and writing Kafka's own
//! "never" for the flush settings keeps fsync-before-acknowledge.

use moldau_e2e::RawConnection;
use moldau_e2e::{moldau_bin, BrokerProcess, ServeProcess};
use moldau_protocol::kafka::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KAFKA_NEVER: &str = "9223372036854775807";
const INVALID_CONFIG: i16 = 40;

/// Sets one config through AlterConfigs (v1) or IncrementalAlterConfigs (v0) and returns
/// the resource's error code (the rdkafka crate drops per-resource AlterConfigs errors).
fn alter_error_code(
    addr: &str,
    incremental: bool,
    resource_type: i8,
    resource: &str,
    key: &str,
    value: &str,
) -> i16 {
    let mut conn = RawConnection::connect(addr);
    let name = StrBytes::from_string(resource.to_string());
    let key = StrBytes::from_string(key.to_string());
    let value = Some(StrBytes::from_string(value.to_string()));
    let mut body = Vec::new();
    if incremental {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(name)
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(key)
                        .with_config_operation(0)
                        .with_value(value),
                ]),
        ]);
        request.encode(&mut body, 0).unwrap();
        let answer = conn.call(44, 0, false, &body);
        let response =
            IncrementalAlterConfigsResponse::decode(&mut bytes::Bytes::from(answer), 0).unwrap();
        response.responses[0].error_code
    } else {
        let request = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(name)
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(key)
                    .with_value(value)]),
        ]);
        request.encode(&mut body, 1).unwrap();
        let answer = conn.call(33, 1, false, &body);
        let response = AlterConfigsResponse::decode(&mut bytes::Bytes::from(answer), 1).unwrap();
        response.responses[0].error_code
    }
}

fn admin(addr: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
}

async fn create(addr: &str, name: &str, configs: &[(&str, &str)]) -> Result<(), RDKafkaErrorCode> {
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin(addr)
        .create_topics(&[topic], &options())
        .await
        .expect("create topics request");
    results
        .into_iter()
        .next()
        .expect("one result")
        .map(|_| ())
        .map_err(|(_, code)| code)
}

async fn produce_acked(addr: &str, topic: &str, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for i in 0..count {
        let value = format!("record-{i}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .expect("record acknowledged");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_configs_get_invalid_config_and_restart_still_works() {
    let mut broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    for (name, value) in [
        ("segment.index.bytes", "8"),
        ("segment.bytes", "13"),
        ("segment.ms", "0"),
        ("max.compaction.lag.ms", "1000"),
    ] {
        assert_eq!(
            create(&addr, "refused", &[(name, value)]).await,
            Err(RDKafkaErrorCode::InvalidConfig),
            "CreateTopics with {name}={value}"
        );
    }
    create(&addr, "kept", &[("segment.index.bytes", "12")])
        .await
        .expect("the log's smallest index is accepted");

    const TOPIC: i8 = 2;
    const BROKER: i8 = 4;
    for (resource_type, resource, key) in [
        (TOPIC, "kept", "segment.index.bytes"),
        (BROKER, "1", "log.index.size.max.bytes"),
    ] {
        for incremental in [false, true] {
            assert_eq!(
                alter_error_code(&addr, incremental, resource_type, resource, key, "8"),
                INVALID_CONFIG,
                "{key}=8 (incremental: {incremental})"
            );
        }
    }

    // Nothing unopenable was stored: the broker comes back and serves the topic.
    broker.stop();
    broker.restart();
    produce_acked(&broker.addr, "kept", 3).await;
}

#[test]
fn settings_moldau_would_ignore_stop_start_up_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moldau.toml");
    std::fs::write(&config, "\"num.recovery.threads.per.data.dir\" = \"2\"\n").unwrap();
    let refused: [&[&str]; 3] = [
        &["--config", config.to_str().unwrap()],
        &["--set", "num.io.threads=8"],
        &["--set", "num.network.threads=3"],
    ];
    for (args, name) in refused.iter().zip([
        "num.recovery.threads.per.data.dir",
        "num.io.threads",
        "num.network.threads",
    ]) {
        let mut child = Command::new(moldau_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--console", "off"])
            .args(*args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A broker that accepted the setting would run on: bound the wait.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        assert!(
            status.is_some_and(|s| !s.success()),
            "start-up must fail for {args:?}"
        );
        assert!(
            err.contains(name) && err.contains("not supported"),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kafkas_never_as_flush_setting_still_fsyncs_before_ack() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ServeProcess::start(dir.path(), &[], &[], true);
    create(
        &broker.addr,
        "copied-defaults",
        &[("flush.messages", KAFKA_NEVER), ("flush.ms", KAFKA_NEVER)],
    )
    .await
    .expect("topic created");
    // Warm up (metadata, leader) so the count below is of acknowledged appends alone.
    produce_acked(&broker.addr, "copied-defaults", 1).await;
    let before = broker.metric("moldau_log_fsyncs_total");
    let records = 10;
    produce_acked(&broker.addr, "copied-defaults", records).await;
    let after = broker.metric("moldau_log_fsyncs_total");
    // One at a time, each acknowledgement waits for its own fsync.
    assert!(
        after - before >= records as f64,
        "{records} acknowledged records one after another, only {} fsyncs: page-cache mode",
        after - before
    );
}
