//! Raw admin, produce and fetch requests with exact versions, for tests that check
//! the error codes Kafka returns and the bytes that come back.
#![allow(dead_code)] // each test binary uses its own part of these helpers

#[path = "../groups_support/raw.rs"]
mod raw;

use bytes::Bytes;
use moldau_protocol::kafka::messages::create_partitions_request::CreatePartitionsTopic;
use moldau_protocol::kafka::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use moldau_protocol::kafka::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use moldau_protocol::kafka::messages::describe_configs_request::DescribeConfigsResource;
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use moldau_protocol::kafka::messages::metadata_request::MetadataRequestTopic;
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest,
    DeleteTopicsRequest, DescribeConfigsRequest, FetchRequest, MetadataRequest, MetadataResponse,
    ProduceRequest, TopicName,
};
use moldau_protocol::kafka::records::RecordBatchDecoder;
pub use raw::{s, RawClient};

pub const NONE: i16 = 0;
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
pub const INVALID_REQUEST: i16 = 42;

/// Largest fetch asked for.
const FETCH_BYTES_MAX: i32 = 1 << 20;

pub fn topic_name(name: &str) -> TopicName {
    TopicName(s(name))
}

/// CreateTopics v4; the topic's error code.
pub fn create_topic(
    client: &mut RawClient,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(30_000);
    client.call(4, &request).topics[0].error_code
}

/// CreateTopics v4 with an explicit replica assignment (partition i gets
/// `replicas[i]`); `num_partitions` is sent as given (-1 unless a test wants it
/// combined). The topic's error code.
pub fn create_topic_assigned(
    client: &mut RawClient,
    name: &str,
    num_partitions: i32,
    replicas: &[&[i32]],
) -> i16 {
    let assignments = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(i as i32)
                .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(num_partitions)
        .with_replication_factor(-1)
        .with_assignments(assignments);
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(30_000);
    client.call(4, &request).topics[0].error_code
}

/// CreatePartitions v1 up to `count`; the topic's error code.
pub fn create_partitions(client: &mut RawClient, name: &str, count: i32) -> i16 {
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(count)])
        .with_timeout_ms(30_000);
    client.call(1, &request).results[0].error_code
}

/// DeleteTopics v3; the topic's error code.
pub fn delete_topic(client: &mut RawClient, name: &str) -> i16 {
    let request = DeleteTopicsRequest::default()
        .with_topic_names(vec![topic_name(name)])
        .with_timeout_ms(30_000);
    client.call(3, &request).responses[0].error_code
}

/// DeleteRecords v1 before `offset`; the partition's error code.
pub fn delete_records(client: &mut RawClient, name: &str, partition: i32, offset: i64) -> i16 {
    let request = DeleteRecordsRequest::default()
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name(name))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(partition)
                .with_offset(offset)])])
        .with_timeout_ms(30_000);
    client.call(1, &request).topics[0].partitions[0].error_code
}

/// Metadata v9 for the named topics (no auto-creation unless `auto_create`).
pub fn metadata(client: &mut RawClient, names: &[&str], auto_create: bool) -> MetadataResponse {
    let request = MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(auto_create);
    client.call(9, &request)
}

/// Metadata v9 for every topic; their names.
pub fn all_topic_names(client: &mut RawClient) -> Vec<String> {
    let response: MetadataResponse = client.call(9, &MetadataRequest::default().with_topics(None));
    response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect()
}

/// One uncompressed batch with one record.
pub fn batch(timestamp: i64, value: &[u8]) -> Bytes {
    let record = (None, Some(Bytes::copy_from_slice(value)));
    moldau_protocol::batch_encode::encode_plain_batch(&[record], timestamp)
        .expect("batch encodes")
        .freeze()
}

/// Produce v8 of one record; (error code, base offset).
pub fn produce(
    client: &mut RawClient,
    topic: &str,
    partition: i32,
    acks: i16,
    timestamp: i64,
    value: &[u8],
) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(timestamp, value)))])]);
    let response = client.call(8, &request);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Fetch v4 at `offset`: the error code and the (offset, value) records returned.
pub fn fetch(
    client: &mut RawClient,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (i16, Vec<(i64, Option<Bytes>)>) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(FETCH_BYTES_MAX)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(FETCH_BYTES_MAX)])]);
    let response = client.call(4, &request);
    let Some(p) = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
    else {
        return (UNKNOWN_TOPIC_OR_PARTITION, Vec::new());
    };
    let mut records = Vec::new();
    if let Some(bytes) = &p.records {
        let mut buf = bytes.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).expect("fetched batches decode") {
            records.extend(set.records.into_iter().map(|r| (r.offset, r.value)));
        }
    }
    (p.error_code, records)
}

/// DescribeConfigs v1 of a topic: the value of `key` (None if the topic is unknown).
pub fn topic_config(client: &mut RawClient, topic: &str, key: &str) -> Option<String> {
    const RESOURCE_TOPIC: i8 = 2;
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s(topic))
            .with_configuration_keys(Some(vec![s(key)]))]);
    let response = client.call(1, &request);
    let result = response.results.first()?;
    if result.error_code != NONE {
        return None;
    }
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
}

/// The partition count Metadata reports for `topic` (None if it is not there).
pub fn partition_count(client: &mut RawClient, topic: &str) -> Option<usize> {
    let response = metadata(client, &[topic], false);
    let t = response.topics.first()?;
    (t.error_code == NONE).then_some(t.partitions.len())
}
