//! The Kafka 4.x API surface with exact requests: ApiVersions ranges and cluster
//! features, UpdateFeatures, and the fields the newest versions added.

mod topic_support;

use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::describe_cluster_request::DescribeClusterRequest;
use moldau_protocol::kafka::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use moldau_protocol::kafka::messages::update_features_request::FeatureUpdateKey;
use moldau_protocol::kafka::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest, ListOffsetsRequest,
    UpdateFeaturesRequest,
};
use topic_support::{create_topic, s, topic_name, RawClient, INVALID_REQUEST, NONE};

const INVALID_UPDATE_VERSION: i16 = 95;

fn range(r: &ApiVersionsResponse, key: ApiKey) -> Option<(i16, i16)> {
    r.api_keys
        .iter()
        .find(|k| k.api_key == key as i16)
        .map(|k| (k.min_version, k.max_version))
}

fn finalized(r: &ApiVersionsResponse, name: &str) -> Option<i16> {
    r.finalized_features
        .iter()
        .find(|f| f.name.as_str() == name)
        .map(|f| f.max_version_level)
}

#[test]
fn api_versions_advertises_kafka_4_1_ranges_and_the_cluster_features() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    let v4 = c.call(4, &ApiVersionsRequest::default());
    assert_eq!(v4.error_code, NONE);
    // Produce from v0 as Kafka 4 advertises it for librdkafka (KAFKA-18659).
    assert_eq!(range(&v4, ApiKey::Produce), Some((0, 13)));
    assert_eq!(range(&v4, ApiKey::Fetch), Some((4, 18)));
    assert_eq!(range(&v4, ApiKey::ListOffsets), Some((1, 10)));
    assert_eq!(range(&v4, ApiKey::Metadata), Some((0, 13)));
    assert_eq!(range(&v4, ApiKey::UpdateFeatures), Some((0, 2)));
    assert_eq!(range(&v4, ApiKey::OffsetForLeaderEpoch), Some((2, 4)));
    let supported: Vec<(String, i16, i16)> = v4
        .supported_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version, f.max_version))
        .collect();
    assert!(supported.contains(&("metadata.version".into(), 7, 7)));
    assert!(supported.contains(&("group.version".into(), 0, 1)));
    assert!(supported.contains(&("transaction.version".into(), 0, 2)));
    assert_eq!(finalized(&v4, "metadata.version"), Some(7));
    // A new cluster starts at Kafka 4.1's production levels.
    assert_eq!(finalized(&v4, "group.version"), Some(1));
    assert_eq!(finalized(&v4, "transaction.version"), Some(2));
    assert_eq!(finalized(&v4, "kraft.version"), None);
    assert!(v4.finalized_features_epoch >= 0);
    // Before v4 a feature whose minimum is 0 is left out (KAFKA-17011).
    let v3 = c.call(3, &ApiVersionsRequest::default());
    assert!(v3.supported_features.iter().all(|f| f.min_version > 0));
    assert_eq!(finalized(&v3, "metadata.version"), Some(7));
}

#[test]
fn produce_below_v3_is_advertised_but_refused() {
    use std::io::{Read, Write};
    let broker = BrokerProcess::start(&[]);
    let mut stream = std::net::TcpStream::connect(&broker.addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    // Header v1 (api 0, version 2, correlation id 1, null client id), then a v2
    // body: acks 1, timeout 1000 ms, no topics.
    let mut frame = Vec::new();
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&2i16.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.extend_from_slice(&1i16.to_be_bytes());
    frame.extend_from_slice(&1000i32.to_be_bytes());
    frame.extend_from_slice(&0i32.to_be_bytes());
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    stream.write_all(&out).expect("send");
    let mut byte = [0u8; 1];
    assert_eq!(stream.read(&mut byte).ok(), Some(0), "connection closed");
}

fn feature_update(name: &str, level: i16, upgrade_type: i8) -> FeatureUpdateKey {
    FeatureUpdateKey::default()
        .with_feature(s(name))
        .with_max_version_level(level)
        .with_upgrade_type(upgrade_type)
}

#[test]
fn update_features_commits_supported_levels_and_refuses_the_rest() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    for (name, level) in [
        ("group.version", 2),
        ("transaction.version", 3),
        ("metadata.version", 27),
        ("no.such.feature", 1),
    ] {
        let r = c.call(
            1,
            &UpdateFeaturesRequest::default()
                .with_timeout_ms(5000)
                .with_feature_updates(vec![feature_update(name, level, 1)]),
        );
        assert_eq!(r.error_code, INVALID_UPDATE_VERSION, "{name}={level}");
        assert!(r.error_message.is_some());
        assert!(r.results.is_empty());
    }
    // A duplicate feature is a malformed request.
    let r = c.call(
        1,
        &UpdateFeaturesRequest::default().with_feature_updates(vec![
            feature_update("group.version", 0, 2),
            feature_update("group.version", 0, 2),
        ]),
    );
    assert_eq!(r.error_code, INVALID_REQUEST);

    let before = c.call(4, &ApiVersionsRequest::default());
    let only_validate = c.call(
        1,
        &UpdateFeaturesRequest::default()
            .with_validate_only(true)
            .with_feature_updates(vec![feature_update("metadata.version", 7, 1)]),
    );
    assert_eq!(only_validate.error_code, NONE);
    let same = c.call(4, &ApiVersionsRequest::default());
    assert_eq!(
        same.finalized_features_epoch,
        before.finalized_features_epoch
    );

    let r = c.call(
        1,
        &UpdateFeaturesRequest::default().with_feature_updates(vec![feature_update(
            "metadata.version",
            7,
            1,
        )]),
    );
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.error_message, None);
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].error_code, NONE);
    assert_eq!(r.results[0].error_message, None);
    // v2 answers without per-feature results.
    let r = c.call(
        2,
        &UpdateFeaturesRequest::default().with_feature_updates(vec![feature_update(
            "metadata.version",
            7,
            1,
        )]),
    );
    assert_eq!(r.error_code, NONE);
    assert!(r.results.is_empty());
    // The FeatureLevelRecords went to the metadata log: the features epoch moved on.
    let after = c.call(4, &ApiVersionsRequest::default());
    assert!(after.finalized_features_epoch > before.finalized_features_epoch);
    assert_eq!(finalized(&after, "metadata.version"), Some(7));
}

#[test]
fn newest_versions_carry_their_new_fields() {
    let broker = BrokerProcess::start(&[]);
    let mut c = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut c, "surface", 1, &[]), NONE);

    // ListOffsets v9/v10: the latest tiered offset of a broker without tiered storage.
    for version in [9, 10] {
        let r = c.call(
            version,
            &ListOffsetsRequest::default()
                .with_replica_id(moldau_protocol::kafka::messages::BrokerId(-1))
                .with_timeout_ms(1000)
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name("surface"))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-5)])]),
        );
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset, p.leader_epoch), (NONE, -1, -1));
    }

    // DescribeCluster v2: fenced brokers only when asked for, each marked.
    let r = c.call(
        2,
        &DescribeClusterRequest::default().with_include_fenced_brokers(true),
    );
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.brokers.len(), 1);
    assert!(!r.brokers[0].is_fenced);

    // FindCoordinator v6: share groups are not enabled here.
    let r = c.call(
        6,
        &FindCoordinatorRequest::default()
            .with_key_type(2)
            .with_coordinator_keys(vec![s("share-group")]),
    );
    assert_eq!(r.coordinators[0].error_code, INVALID_REQUEST);
}
