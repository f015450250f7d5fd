//! DescribeProducers (api 61): the active producers of each asked partition, from
//! the log's producer state, as `kafka-transactions.sh describe-producers` shows
//! them. As in Kafka any replica holding the log answers (the admin client asks the
//! leader unless told a broker); a partition not hosted here gets
//! NOT_LEADER_OR_FOLLOWER, one the cluster does not have UNKNOWN_TOPIC_OR_PARTITION.
//! Needs READ on the topic (TOPIC_AUTHORIZATION_FAILED), as Kafka.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_log::producer_state::ProducerStateEntry;
use moldau_log::TopicPartition;
use moldau_protocol::kafka::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use moldau_protocol::kafka::messages::{
    DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};
use moldau_protocol::ResponseError;

/// Most partitions one request may ask about.
const DESCRIBED_PARTITIONS_MAX: usize = 100_000;

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeProducersRequest = super::decode(&ctx, body)?;
    let asked: usize = request
        .topics
        .iter()
        .map(|t| t.partition_indexes.len())
        .sum();
    if asked > DESCRIBED_PARTITIONS_MAX {
        return Err(CloseConnection(format!(
            "DescribeProducers for {asked} partitions (at most {DESCRIBED_PARTITIONS_MAX})"
        )));
    }
    let access = ctx.access();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let readable = access.topic(moldau_protocol::acl::AclOperation::Read, &name);
            let denied = ResponseError::TopicAuthorizationFailed;
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    if readable {
                        describe_partition(&ctx, &name, index)
                    } else {
                        PartitionResponse::default()
                            .with_partition_index(index)
                            .with_error_code(denied.code())
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ctx.ready(&DescribeProducersResponse::default().with_topics(topics))
}

fn describe_partition(ctx: &RequestContext, topic: &str, index: i32) -> PartitionResponse {
    let response = PartitionResponse::default().with_partition_index(index);
    let Some(partition) = ctx.partitions().get_by_name(topic, index) else {
        let known = ctx
            .metadata()
            .image()
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&index));
        let offline = ctx
            .partitions()
            .logs()
            .offline_reason(&TopicPartition::new(topic, index))
            .is_some();
        let error = match (known, offline) {
            (_, true) => ResponseError::KafkaStorageError,
            (true, false) => ResponseError::NotLeaderOrFollower,
            (false, false) => ResponseError::UnknownTopicOrPartition,
        };
        return response.with_error_code(error.code());
    };
    let log = partition.log.read();
    let mut producers: Vec<ProducerState> =
        log.producer_state().entries().map(producer_state).collect();
    producers.sort_by_key(|p| p.producer_id.0);
    response.with_error_code(0).with_active_producers(producers)
}

/// One producer as Kafka's `activeProducers` reports it.
fn producer_state(e: &ProducerStateEntry) -> ProducerState {
    ProducerState::default()
        .with_producer_id(ProducerId(e.producer_id))
        .with_producer_epoch(i32::from(e.epoch))
        .with_last_sequence(e.last_seq())
        .with_last_timestamp(e.last_timestamp)
        .with_coordinator_epoch(e.coordinator_epoch)
        .with_current_txn_start_offset(e.current_txn_first_offset.unwrap_or(-1))
}
