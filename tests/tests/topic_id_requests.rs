//! The Kafka 4.1 versions that name topics by id: Produce v13 (KIP-516) appends to the
//! topic whose id it names and answers with that id, an unknown id is UNKNOWN_TOPIC_ID;
//! Fetch v17 and v18 (v18 adds the follower's `HighWatermark`, KIP-1166) read by id
//! and are answered, not disconnected.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use moldau_protocol::kafka::messages::metadata_request::MetadataRequestTopic;
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::{
    BrokerId, FetchRequest, MetadataRequest, ProduceRequest, ProduceResponse,
};
use moldau_protocol::kafka::records::RecordBatchDecoder;
use topic_support::{create_topic, topic_name, RawClient, NONE};
use uuid::Uuid;

const UNKNOWN_TOPIC_ID: i16 = 100;
const FETCH_BYTES_MAX: i32 = 1 << 20;

/// The topic's id, from Metadata v12.
fn topic_id(client: &mut RawClient, topic: &str) -> Uuid {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
    ]));
    let response = client.call(12, &request);
    assert_eq!(response.topics[0].error_code, NONE);
    response.topics[0].topic_id
}

fn produce_by_id(client: &mut RawClient, id: Uuid, value: &[u8]) -> ProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_topic_id(id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(topic_support::batch(0, value)))])]);
    client.call(13, &request)
}

/// Fetch at `version` by topic id from offset 0; (error code, record values).
fn fetch_by_id(client: &mut RawClient, version: i16, id: Uuid) -> (i16, Vec<Vec<u8>>) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(FETCH_BYTES_MAX)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(FETCH_BYTES_MAX)
                // A consumer does not know it; sent to show the v18 field is read.
                .with_high_watermark(-1)])]);
    let response = client.call(version, &request);
    assert_eq!(response.responses[0].topic_id, id);
    let p = &response.responses[0].partitions[0];
    let mut values = Vec::new();
    if let Some(bytes) = &p.records {
        let mut buf = bytes.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).expect("fetched batches decode") {
            values.extend(
                set.records
                    .into_iter()
                    .filter_map(|r| r.value.map(|v| v.to_vec())),
            );
        }
    }
    (p.error_code, values)
}

#[test]
fn produce_13_and_fetch_18_name_topics_by_id() {
    let broker = BrokerProcess::start(&[]);
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut client, "by-id", 1, &[]), NONE);
    let id = topic_id(&mut client, "by-id");
    assert_ne!(id, Uuid::nil());

    let produced = produce_by_id(&mut client, id, b"one");
    assert_eq!(produced.responses[0].topic_id, id);
    let p = &produced.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (NONE, 0));

    let unknown = produce_by_id(&mut client, Uuid::from_u128(7), b"lost");
    assert_eq!(
        unknown.responses[0].partition_responses[0].error_code,
        UNKNOWN_TOPIC_ID
    );

    for version in [17, 18] {
        assert_eq!(
            fetch_by_id(&mut client, version, id),
            (NONE, vec![b"one".to_vec()]),
            "Fetch v{version}"
        );
    }
}
