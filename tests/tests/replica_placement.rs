//! Topic creation places replicas with the controller's placement (Kafka's
//! round-robin over the unfenced brokers): a replication factor the brokers cannot
//! hold is INVALID_REPLICATION_FACTOR with KRaft's message, validate-only included;
//! added partitions keep the topic's replica count.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::create_topics_request::CreatableTopic;
use moldau_protocol::kafka::messages::CreateTopicsRequest;
use topic_support::{create_partitions, create_topic, metadata, topic_name, RawClient, NONE};

const INVALID_REPLICATION_FACTOR: i16 = 38;

fn create(
    client: &mut RawClient,
    name: &str,
    rf: i16,
    validate_only: bool,
) -> (i16, Option<String>) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(3)
            .with_replication_factor(rf)])
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only);
    let answer = client.call(4, &request);
    let t = &answer.topics[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

#[test]
fn a_replication_factor_over_the_live_brokers_is_refused_with_krafts_message() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    let expected = "Unable to replicate the partition 2 time(s): The target replication \
                    factor of 2 cannot be reached because only 1 broker(s) are registered.";
    for validate_only in [true, false] {
        let (code, message) = create(&mut c, "too-wide", 2, validate_only);
        assert_eq!(
            code, INVALID_REPLICATION_FACTOR,
            "validate_only {validate_only}"
        );
        assert_eq!(message.as_deref(), Some(expected));
    }
    assert!(metadata(&mut c, &["too-wide"], false).topics[0]
        .partitions
        .is_empty());
}

#[test]
fn created_and_added_partitions_are_placed_on_the_live_broker() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "placed", 3, &[]), NONE);
    assert_eq!(create_partitions(&mut c, "placed", 5), NONE);
    let answer = metadata(&mut c, &["placed"], false);
    let node = answer.brokers[0].node_id;
    let partitions = &answer.topics[0].partitions;
    assert_eq!(partitions.len(), 5);
    for p in partitions {
        assert_eq!(p.leader_id, node);
        assert_eq!(p.replica_nodes, vec![node]);
        assert_eq!(p.isr_nodes, vec![node]);
    }
}
