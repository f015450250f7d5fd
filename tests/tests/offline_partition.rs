//! A partition whose files cannot be opened does not keep the broker down: it starts,
//! the other topics serve, and the broken partition is reported offline (Metadata
//! without a leader, produce/fetch/list-offsets with KAFKA_STORAGE_ERROR, and
//! `moldau topic describe` says so); deleting the topic removes the broken files.
//! Today's failure it guards against: the broker refused to start at all.

mod topic_support;

use moldau_e2e::{moldau_bin, BrokerProcess};
use moldau_protocol::kafka::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use moldau_protocol::kafka::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::process::Command;
use std::time::{Duration, Instant};
use topic_support::*;

const GOOD: &str = "healthy";
const BROKEN: &str = "broken";
const LEADER_NOT_AVAILABLE: i16 = 5;
const KAFKA_STORAGE_ERROR: i16 = 56;

fn list_latest_offset_error(client: &mut RawClient, topic: &str) -> i16 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let response: ListOffsetsResponse = client.call(1, &request);
    response.topics[0].partitions[0].error_code
}

/// Produces with librdkafka and reads everything back from offset 0.
async fn produce_and_read_with_librdkafka(addr: &str, value: &str) -> Vec<String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::<(), _>::to(GOOD).partition(0).payload(value),
            Duration::from_secs(30),
        )
        .await
        .expect("produce to the healthy topic");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(GOOD, 0, Offset::Beginning)
        .expect("partition added");
    consumer.assign(&tpl).expect("assign");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 2 && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let payload = m.payload().map(|p| String::from_utf8_lossy(p).into_owned());
            seen.push(payload.unwrap_or_default());
        }
    }
    seen
}

#[tokio::test]
async fn a_partition_that_cannot_be_opened_is_offline_and_the_broker_still_serves() {
    let mut broker = BrokerProcess::start(&[]);
    {
        let mut client = RawClient::connect(&broker.addr);
        for topic in [GOOD, BROKEN] {
            assert_eq!(create_topic(&mut client, topic, 1, &[]), NONE);
            let (error, _) = produce(&mut client, topic, 0, -1, 1_000, b"before");
            assert_eq!(error, NONE, "produce to {topic}");
        }
    }
    broker.stop();

    // The broken partition's segment becomes a directory: its log cannot be opened.
    let segment = broker
        .data_dir
        .join(format!("{BROKEN}-0/00000000000000000000.log"));
    std::fs::remove_file(&segment).expect("segment removed");
    std::fs::create_dir(&segment).expect("directory in its place");

    broker.restart();

    let seen = produce_and_read_with_librdkafka(&broker.addr, "after").await;
    assert_eq!(seen, vec!["before".to_string(), "after".to_string()]);

    let mut client = RawClient::connect(&broker.addr);
    let response = metadata(&mut client, &[BROKEN], false);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, LEADER_NOT_AVAILABLE);
    assert_eq!(partition.leader_id, BrokerId(-1));
    assert_eq!(partition.offline_replicas.len(), 1);
    let (error, _) = produce(&mut client, BROKEN, 0, -1, 2_000, b"lost?");
    assert_eq!(error, KAFKA_STORAGE_ERROR);
    let (error, records) = fetch(&mut client, BROKEN, 0, 0);
    assert_eq!(error, KAFKA_STORAGE_ERROR);
    assert!(records.is_empty());
    assert_eq!(
        list_latest_offset_error(&mut client, BROKEN),
        KAFKA_STORAGE_ERROR
    );
    // Its files were left alone (no fresh empty log created in their place).
    assert!(segment.is_dir());

    let output = Command::new(moldau_bin())
        .args(["topic", "describe", "-b", &broker.addr, BROKEN])
        .output()
        .expect("running moldau topic describe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "describe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("none (offline)"), "{stdout}");

    // Deleting the topic takes its broken files with it; the name is usable again.
    assert_eq!(delete_topic(&mut client, BROKEN), NONE);
    assert!(!segment.exists());
    assert_eq!(create_topic(&mut client, BROKEN, 1, &[]), NONE);
    let (error, offset) = produce(&mut client, BROKEN, 0, -1, 3_000, b"fresh");
    assert_eq!((error, offset), (NONE, 0));
    broker.stop();
}
