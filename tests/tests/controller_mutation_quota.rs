//! The controller mutation quota (KIP-599) with exact requests: a client under
//! `controller_mutation_rate` may go over once and is then throttled; while it is
//! over, strict versions (CreateTopics v6+, DeleteTopics v5+) are refused
//! THROTTLING_QUOTA_EXCEEDED and change nothing, older versions are carried out and
//! throttled; a client without the quota is never limited.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::alter_client_quotas_request::{
    EntityData, EntryData, OpData,
};
use moldau_protocol::kafka::messages::create_topics_request::CreatableTopic;
use moldau_protocol::kafka::messages::delete_topics_request::DeleteTopicState;
use moldau_protocol::kafka::messages::{
    AlterClientQuotasRequest, CreateTopicsRequest, DeleteTopicsRequest,
};
use topic_support::{all_topic_names, s, topic_name, RawClient, NONE};

const THROTTLING_QUOTA_EXCEEDED: i16 = 89;
/// One partition per second: a full bucket holds 11 (Kafka's 11 one-second samples).
const PARTITIONS_PER_SEC: f64 = 1.0;

/// CreateTopics at `version` of one topic; (its error code, throttle_time_ms).
fn create(c: &mut RawClient, version: i16, name: &str, partitions: i32) -> (i16, i32) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(30_000);
    let r = c.call(version, &request);
    (r.topics[0].error_code, r.throttle_time_ms)
}

/// DeleteTopics v6 of one topic by name; (its error code, throttle_time_ms).
fn delete(c: &mut RawClient, name: &str) -> (i16, i32) {
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name(name)))
        ])
        .with_timeout_ms(30_000);
    let r = c.call(6, &request);
    (r.responses[0].error_code, r.throttle_time_ms)
}

#[test]
fn a_client_over_its_mutation_rate_is_throttled_then_refused() {
    let broker = BrokerProcess::start(&[]);
    let mut admin = RawClient::connect(&broker.addr);
    let entry = EntryData::default()
        .with_entity(vec![EntityData::default()
            .with_entity_type(s("client-id"))
            .with_entity_name(Some(s("mutator")))])
        .with_ops(vec![OpData::default()
            .with_key(s("controller_mutation_rate"))
            .with_value(PARTITIONS_PER_SEC)]);
    let altered = admin.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![entry]),
    );
    assert_eq!(altered.entries[0].error_code, NONE);

    // Within its credit: created, not throttled.
    let mut mutator = RawClient::connect_as(&broker.addr, "mutator");
    assert_eq!(create(&mut mutator, 7, "within", 5), (NONE, 0));
    // The request that goes over is carried out, and throttled.
    let (code, throttle_ms) = create(&mut mutator, 7, "over", 20);
    assert_eq!(code, NONE);
    assert!(throttle_ms > 0, "going over is throttled");

    // That connection is muted now (as is each one below once answered); on new
    // connections the client is over its quota: strict versions are refused and
    // change nothing.
    let mut strict = RawClient::connect_as(&broker.addr, "mutator");
    let (code, throttle_ms) = create(&mut strict, 7, "refused", 1);
    assert_eq!(code, THROTTLING_QUOTA_EXCEEDED);
    assert!(throttle_ms > 0);
    let mut strict = RawClient::connect_as(&broker.addr, "mutator");
    let (code, throttle_ms) = delete(&mut strict, "within");
    assert_eq!(code, THROTTLING_QUOTA_EXCEEDED);
    assert!(throttle_ms > 0);
    // An older version is carried out, and throttled.
    let mut old = RawClient::connect_as(&broker.addr, "mutator");
    let (code, throttle_ms) = create(&mut old, 5, "permissive", 1);
    assert_eq!(code, NONE);
    assert!(throttle_ms > 0);

    // Another client id has no quota.
    assert_eq!(create(&mut admin, 7, "unlimited", 30), (NONE, 0));

    let mut names = all_topic_names(&mut admin);
    names.retain(|n| !n.starts_with("__"));
    names.sort();
    assert_eq!(names, ["over", "permissive", "unlimited", "within"]);
}
