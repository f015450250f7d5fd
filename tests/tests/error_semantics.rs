//! Error answers as Kafka gives them: OffsetCommit for partitions that do not exist,
//! and null (not empty) error messages on success.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use moldau_protocol::kafka::messages::create_topics_request::CreatableTopic;
use moldau_protocol::kafka::messages::delete_topics_request::DeleteTopicState;
use moldau_protocol::kafka::messages::describe_configs_request::DescribeConfigsResource;
use moldau_protocol::kafka::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::{
    AlterConfigsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    FindCoordinatorRequest, GroupId, IncrementalAlterConfigsRequest, OffsetCommitRequest,
};
use topic_support::{create_topic, s, topic_name, RawClient, NONE, UNKNOWN_TOPIC_OR_PARTITION};

const UNKNOWN_TOPIC_ID: i16 = 100;
const RESOURCE_TOPIC: i8 = 2;

fn commit(topic: &str, partitions: &[i32]) -> OffsetCommitRequestTopic {
    OffsetCommitRequestTopic::default()
        .with_name(topic_name(topic))
        .with_partitions(
            partitions
                .iter()
                .map(|p| {
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(1)
                })
                .collect(),
        )
}

/// (topic, partition, error code) of every partition answered, sorted.
fn errors(r: &moldau_protocol::kafka::messages::OffsetCommitResponse) -> Vec<(String, i32, i16)> {
    let mut v: Vec<_> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn offset_commit_for_missing_topics_and_partitions_is_unknown_topic_or_partition() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "known", 2, &[]), NONE);
    c.wait_for_coordinator("committer");
    for version in [2, 8, 9] {
        // A simple (generation -1) commit, as admin tools and assign() consumers send.
        let r = c.call(
            version,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s("committer")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![commit("known", &[0, 1, 7]), commit("missing", &[0])]),
        );
        assert_eq!(
            errors(&r),
            vec![
                ("known".into(), 0, NONE),
                ("known".into(), 1, NONE),
                ("known".into(), 7, UNKNOWN_TOPIC_OR_PARTITION),
                ("missing".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ],
            "v{version}"
        );
        // Nothing known at all: answered without the coordinator.
        let r = c.call(
            version,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s("committer")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![commit("missing", &[0, 1])]),
        );
        assert_eq!(
            errors(&r),
            vec![
                ("missing".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
                ("missing".into(), 1, UNKNOWN_TOPIC_OR_PARTITION),
            ]
        );
    }
}

#[test]
fn successful_answers_carry_null_error_messages() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    let created = c.call(
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name("nulls"))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
    );
    assert_eq!(created.topics[0].error_code, NONE);
    assert_eq!(created.topics[0].error_message, None);

    let described = c.call(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s("nulls"))]),
    );
    assert_eq!(described.results[0].error_code, NONE);
    assert_eq!(described.results[0].error_message, None);

    let altered = c.call(
        2,
        &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s("nulls"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("60000")))])]),
    );
    assert_eq!(altered.responses[0].error_code, NONE);
    assert_eq!(altered.responses[0].error_message, None);

    let incremental = c.call(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(s("nulls"))
                .with_configs(vec![IncrementalConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("70000")))]),
        ]),
    );
    assert_eq!(incremental.responses[0].error_code, NONE);
    assert_eq!(incremental.responses[0].error_message, None);

    c.wait_for_coordinator("nulls-group");
    let found = c.call(
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("nulls-group")]),
    );
    assert_eq!(found.coordinators[0].error_code, NONE);
    assert_eq!(found.coordinators[0].error_message, None);
    let found = c.call(
        3,
        &FindCoordinatorRequest::default().with_key(s("nulls-group")),
    );
    assert_eq!(found.error_message, None);

    let deleted = c.call(
        6,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name("nulls")))
            ]),
    );
    assert_eq!(deleted.responses[0].error_code, NONE);
    assert_eq!(deleted.responses[0].error_message, None);
    // A topic id nobody knows has a null name.
    let by_id = c.call(
        6,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(uuid_of(7))]),
    );
    assert_eq!(by_id.responses[0].error_code, UNKNOWN_TOPIC_ID);
    assert_eq!(by_id.responses[0].name, None);
}

fn uuid_of(byte: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([byte; 16])
}
