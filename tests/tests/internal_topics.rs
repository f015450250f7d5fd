//! Names reserved for the broker: the metadata log is never a topic to clients and
//! never loses records to retention; `__consumer_offsets` is created only by the
//! broker, with its own shape, and groups keep finding their offsets even when
//! `offsets.topic.num.partitions` changes later.

mod topic_support;

use moldau_e2e::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;
use topic_support::*;

const METADATA_LOG: &str = "__cluster_metadata";
const OFFSETS: &str = "__consumer_offsets";
const TRANSACTIONS: &str = "__transaction_state";
/// librdkafka's requests in these tests.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn reserved_names_get_kafka_error_codes_and_the_metadata_log_keeps_everything() {
    let mut broker = BrokerProcess::start(&["--set", "log.retention.check.interval.ms=10"]);
    let mut client = RawClient::connect(&broker.addr);
    let compacted = [("cleanup.policy", "compact"), ("segment.bytes", "4096")];
    assert_eq!(create_topic(&mut client, "kept", 3, &compacted), NONE);

    // A client cannot create the metadata log as a topic, whatever configs it asks
    // for (these would have made retention eat the metadata).
    let harsh = [
        ("retention.ms", "1"),
        ("segment.bytes", "100"),
        ("file.delete.delay.ms", "0"),
    ];
    assert_eq!(
        create_topic(&mut client, METADATA_LOG, 1, &harsh),
        INVALID_REQUEST
    );
    assert_eq!(create_topic(&mut client, OFFSETS, 7, &[]), INVALID_REQUEST);
    assert_eq!(
        create_topic(&mut client, TRANSACTIONS, 7, &[]),
        INVALID_REQUEST
    );
    // Nor see, read, write, trim or delete it.
    let described = metadata(&mut client, &[METADATA_LOG], true);
    assert_eq!(described.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(!all_topic_names(&mut client)
        .iter()
        .any(|t| t == METADATA_LOG));
    assert_eq!(
        produce(&mut client, METADATA_LOG, 0, 1, 1, b"forged").0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        fetch(&mut client, METADATA_LOG, 0, 0).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        delete_records(&mut client, METADATA_LOG, 0, 1),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        delete_topic(&mut client, METADATA_LOG),
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // The internal topics exist once the broker makes them; clients may not write,
    // trim or delete them.
    client.wait_for_coordinator("some-group");
    assert_eq!(
        create_topic(&mut client, OFFSETS, 7, &[]),
        TOPIC_ALREADY_EXISTS
    );
    assert_eq!(
        produce(&mut client, OFFSETS, 0, 1, 1, b"forged").0,
        INVALID_TOPIC_EXCEPTION
    );
    assert_eq!(
        delete_records(&mut client, OFFSETS, 0, 0),
        INVALID_TOPIC_EXCEPTION
    );
    assert_eq!(delete_topic(&mut client, OFFSETS), INVALID_TOPIC_EXCEPTION);
    // Group ids are hashed over its partition count: that count is the broker's.
    assert_eq!(create_partitions(&mut client, OFFSETS, 60), INVALID_REQUEST);
    assert_eq!(
        metadata(&mut client, &[TRANSACTIONS], true).topics[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    // A user topic that merely starts with "__" is an ordinary topic.
    assert_eq!(create_topic(&mut client, "__mine", 1, &[]), NONE);
    assert_eq!(produce(&mut client, "__mine", 0, 1, 1, b"ok").0, NONE);

    // Many more metadata records, a few retention passes, then a restart: every
    // topic is back with its configs.
    for i in 0..20 {
        assert_eq!(
            create_topic(&mut client, &format!("more-{i}"), 1, &[]),
            NONE
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    broker.stop();
    broker.restart();
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(partition_count(&mut client, "kept"), Some(3));
    assert_eq!(
        topic_config(&mut client, "kept", "cleanup.policy").as_deref(),
        Some("compact")
    );
    assert_eq!(
        topic_config(&mut client, "kept", "segment.bytes").as_deref(),
        Some("4096")
    );
    let names = all_topic_names(&mut client);
    for i in 0..20 {
        assert!(
            names.contains(&format!("more-{i}")),
            "more-{i} lost: {names:?}"
        );
    }
    assert!(!names.iter().any(|t| t == METADATA_LOG));
}

fn consumer(addr: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

fn partition_list(topic: &str, offset: Option<i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    match offset {
        Some(o) => list
            .add_partition_offset(topic, 0, Offset::Offset(o))
            .expect("offset"),
        None => {
            list.add_partition(topic, 0);
        }
    }
    list
}

fn committed(addr: &str, group: &str, topic: &str) -> Offset {
    let c = consumer(addr, group);
    let got = c
        .committed_offsets(partition_list(topic, None), CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("group {group}: committed offsets: {e}"));
    got.find_partition(topic, 0).expect("partition").offset()
}

#[test]
fn offsets_topic_keeps_the_broker_shape_and_groups_find_their_offsets() {
    let first = BrokerProcess::start(&[
        "--set",
        "offsets.topic.num.partitions=3",
        "--set",
        "num.partitions=7",
    ]);
    let mut broker = first;
    let mut client = RawClient::connect(&broker.addr);
    // Neither CreateTopics nor a Metadata auto-create gives it the client's shape.
    assert_eq!(create_topic(&mut client, OFFSETS, 7, &[]), INVALID_REQUEST);
    let created = metadata(&mut client, &[OFFSETS], true);
    assert!(created.topics[0].is_internal || created.topics[0].error_code != NONE);
    assert_eq!(partition_count(&mut client, OFFSETS), Some(3));
    assert_eq!(
        topic_config(&mut client, OFFSETS, "cleanup.policy").as_deref(),
        Some("compact")
    );
    assert_eq!(create_topic(&mut client, "data", 1, &[]), NONE);

    let groups: Vec<String> = (0..8).map(|i| format!("group-{i}")).collect();
    for (i, group) in groups.iter().enumerate() {
        let c = consumer(&broker.addr, group);
        c.commit(
            &partition_list("data", Some(10 + i as i64)),
            CommitMode::Sync,
        )
        .unwrap_or_else(|e| panic!("group {group}: commit: {e}"));
        assert_eq!(
            committed(&broker.addr, group, "data"),
            Offset::Offset(10 + i as i64)
        );
    }

    // A later change of offsets.topic.num.partitions must not move any group.
    broker.stop();
    let port = broker.port();
    let data_dir = broker.data_dir.clone();
    let changed = BrokerProcess::start_in(
        &data_dir,
        &["--set", "offsets.topic.num.partitions=5"],
        Some(port),
    );
    let mut client = RawClient::connect(&changed.addr);
    assert_eq!(partition_count(&mut client, OFFSETS), Some(3));
    for (i, group) in groups.iter().enumerate() {
        assert_eq!(
            committed(&changed.addr, group, "data"),
            Offset::Offset(10 + i as i64),
            "group {group} lost its offset"
        );
    }
    drop(changed);
    drop(broker);
}
