//! Three real `moldau serve` nodes: CreateTopics, CreatePartitions, DeleteTopics,
//! IncrementalAlterConfigs, AlterConfigs, CreateAcls and DeleteAcls are decided by
//! the active controller (on
//! its image, with its defaults), whichever broker a client asks, as Kafka brokers
//! forward them: a change through one broker right after another broker created
//! the topic finds it, though the receiving broker's image may lag.

mod topic_support;

use moldau_e2e::ClusterProcesses;
use moldau_protocol::kafka::messages::create_acls_request::AclCreation;
use moldau_protocol::kafka::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use moldau_protocol::kafka::messages::delete_acls_request::DeleteAclsFilter;
use moldau_protocol::kafka::messages::delete_topics_request::DeleteTopicState;
use moldau_protocol::kafka::messages::metadata_request::MetadataRequestTopic;
use moldau_protocol::kafka::messages::{alter_configs_request, incremental_alter_configs_request};
use moldau_protocol::kafka::messages::{
    AlterConfigsRequest, CreateTopicsRequest, DeleteTopicsRequest, IncrementalAlterConfigsRequest,
    MetadataRequest,
};
use moldau_protocol::kafka::messages::{
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse,
};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use topic_support::{
    create_partitions, delete_topic, metadata, partition_count, s, topic_config, topic_name,
    RawClient, NONE, TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION,
};

/// How long the three nodes get to elect a controller and register.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker gets to show a topic another broker created.
const METADATA_SPREAD_TIMEOUT: Duration = Duration::from_secs(30);
const INVALID_PARTITIONS: i16 = 37;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_ID: i16 = 100;
/// Topics created through one broker and changed at once through another, per kind
/// of change.
const LAGGED_ROUNDS: usize = 30;
const RESOURCE_TOPIC: i8 = 2;
const OP_SET: i8 = 0;
const OP_APPEND: i8 = 2;
/// DeleteTopics with topic ids and names in the answer.
const DELETE_TOPICS_VERSION: i16 = 6;
/// The partition count both racers grow every raced topic to.
const GROWN_PARTITIONS: i32 = 5;
/// Names each racing pair creates.
const RACED_NAMES: usize = 20;
/// The CreateTopics version sent (topic ids, configs in the answer).
const CREATE_TOPICS_VERSION: i16 = 7;

/// CreateTopics of one topic (replication factor 1 unless `partitions` is -1, then
/// the defaults); its (error code, partition count answered).
fn create(
    client: &mut RawClient,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, i32) {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(if partitions == -1 { -1 } else { 1 })
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
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only);
    let response = client.call(CREATE_TOPICS_VERSION, &request);
    let topic = &response.topics[0];
    (topic.error_code, topic.num_partitions)
}

fn start_cluster(per_node: impl Fn(i32) -> Vec<String> + Sync) -> ClusterProcesses {
    let cluster = ClusterProcesses::start_with(3, per_node);
    let mut client = RawClient::connect(&cluster.addr(1));
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    while metadata(&mut client, &[], false).brokers.len() < 3 {
        assert!(Instant::now() < deadline, "three brokers never registered");
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster
}

/// The partition count `addr` shows for `topic`, once it shows the topic.
fn partitions_seen(addr: &str, topic: &str) -> usize {
    let mut client = RawClient::connect(addr);
    let deadline = Instant::now() + METADATA_SPREAD_TIMEOUT;
    loop {
        if let Some(count) = partition_count(&mut client, topic) {
            return count;
        }
        assert!(Instant::now() < deadline, "{addr} never showed {topic}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `each(client, name)` for every name through nodes 2 and 3 at once; the
/// answers through node 2 and through node 3.
fn race<T: Send + 'static>(
    cluster: &ClusterProcesses,
    names: &[String],
    each: fn(&mut RawClient, &str, i32) -> T,
) -> (Vec<T>, Vec<T>) {
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = [2, 3]
        .into_iter()
        .map(|node| {
            let addr = cluster.addr(node);
            let names = names.to_vec();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut client = RawClient::connect(&addr);
                barrier.wait();
                names
                    .iter()
                    .map(|name| each(&mut client, name, node))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut answers = racers.into_iter().map(|r| r.join().expect("racer"));
    let via2 = answers.next().expect("node 2's answers");
    let via3 = answers.next().expect("node 3's answers");
    (via2, via3)
}

#[test]
fn concurrent_creates_of_one_name_through_two_brokers_make_one_topic() {
    let cluster = start_cluster(|_| Vec::new());
    let names: Vec<String> = (0..RACED_NAMES).map(|i| format!("raced-{i}")).collect();
    // Node 2 asks for 2 partitions, node 3 for 3: the topic has the winner's count.
    let answers = race(&cluster, &names, |client, name, node| {
        create(client, name, node, &[], false)
    });
    for (i, name) in names.iter().enumerate() {
        let (via2, via3) = (answers.0[i], answers.1[i]);
        let mut codes = [via2.0, via3.0];
        codes.sort_unstable();
        assert_eq!(
            codes,
            [NONE, TOPIC_ALREADY_EXISTS],
            "{name}: through node 2 {via2:?}, through node 3 {via3:?}"
        );
        let winner = if via2.0 == NONE { via2 } else { via3 };
        assert_eq!(
            partitions_seen(&cluster.addr(1), name),
            winner.1 as usize,
            "{name}: the topic is the one answered as created"
        );
    }
    // Both grow every topic to the same count: it grows once, the later request
    // is told it already has those partitions.
    let grown = race(&cluster, &names, |client, name, _| {
        create_partitions(client, name, GROWN_PARTITIONS)
    });
    for (i, name) in names.iter().enumerate() {
        let mut codes = [grown.0[i], grown.1[i]];
        codes.sort_unstable();
        assert_eq!(codes, [NONE, INVALID_PARTITIONS], "{name}");
        let mut client = RawClient::connect(&cluster.addr(1));
        let deadline = Instant::now() + METADATA_SPREAD_TIMEOUT;
        while partition_count(&mut client, name) != Some(GROWN_PARTITIONS as usize) {
            assert!(
                Instant::now() < deadline,
                "{name} never showed {GROWN_PARTITIONS} partitions"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_active_controller_decides_defaults_configs_and_validate_only() {
    // Each node has its own num.partitions (node n: n + 1): a topic left to the
    // defaults gets the deciding controller's, whichever broker was asked.
    let cluster = start_cluster(|id| vec!["--set".into(), format!("num.partitions={}", id + 1)]);
    let mut counts = Vec::new();
    for node in 1..=3 {
        let mut client = RawClient::connect(&cluster.addr(node));
        let name = format!("defaults-via-{node}");
        let (code, answered) = create(&mut client, &name, -1, &[], false);
        assert_eq!(code, NONE, "{name}");
        assert_eq!(partitions_seen(&cluster.addr(1), &name), answered as usize);
        counts.push(answered);
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]) && (2..=4).contains(&counts[0]),
        "one controller's num.partitions for every broker's request: {counts:?}"
    );

    for node in 1..=3 {
        let mut client = RawClient::connect(&cluster.addr(node));
        let bad = format!("bad-config-via-{node}");
        let (code, _) = create(&mut client, &bad, 1, &[("retention.ms", "soon")], false);
        assert_eq!(code, INVALID_CONFIG, "{bad}");
        let checked = format!("validated-via-{node}");
        assert_eq!(create(&mut client, &checked, 2, &[], true), (NONE, 2));
        // Created through another broker: the controller's image has it at once.
        let taken = format!("defaults-via-{}", node % 3 + 1);
        let (code, _) = create(&mut client, &taken, 1, &[], true);
        assert_eq!(code, TOPIC_ALREADY_EXISTS, "validate_only of {taken}");
    }
    let mut client = RawClient::connect(&cluster.addr(1));
    for node in 1..=3 {
        for name in [
            format!("bad-config-via-{node}"),
            format!("validated-via-{node}"),
        ] {
            assert_eq!(partition_count(&mut client, &name), None, "{name} exists");
        }
    }

    // A wide topic (100 partitions on every broker) is answered as created once the
    // controller committed it.
    let (code, answered) = {
        let topic = CreatableTopic::default()
            .with_name(topic_name("wide"))
            .with_num_partitions(100)
            .with_replication_factor(3);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000);
        let response = client.call(CREATE_TOPICS_VERSION, &request);
        (
            response.topics[0].error_code,
            response.topics[0].num_partitions,
        )
    };
    assert_eq!((code, answered), (NONE, 100));
    assert_eq!(partitions_seen(&cluster.addr(3), "wide"), 100);
}

/// DeleteTopics v6 of one topic by name, or by id when `name` is None; the answer's
/// (error code, name, topic id).
fn delete_v6(
    client: &mut RawClient,
    name: Option<&str>,
    id: uuid::Uuid,
) -> (i16, Option<String>, uuid::Uuid) {
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default()
            .with_name(name.map(topic_name))
            .with_topic_id(id)])
        .with_timeout_ms(30_000);
    let response = client.call(DELETE_TOPICS_VERSION, &request);
    let r = &response.responses[0];
    (
        r.error_code,
        r.name.as_ref().map(|n| n.0.to_string()),
        r.topic_id,
    )
}

/// `topic`'s id, from Metadata v12.
fn topic_id(client: &mut RawClient, topic: &str) -> uuid::Uuid {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
        ]))
        .with_allow_auto_topic_creation(false);
    let response = client.call(12, &request);
    assert_eq!(response.topics[0].error_code, NONE, "{topic}");
    response.topics[0].topic_id
}

/// IncrementalAlterConfigs v1 of one topic: (name, op, value) each; its error code.
fn incremental_alter(
    client: &mut RawClient,
    topic: &str,
    ops: &[(&str, i8, &str)],
    validate_only: bool,
) -> i16 {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_config_operation(*op)
                .with_value(Some(s(v)))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s(topic))
            .with_configs(configs)])
        .with_validate_only(validate_only);
    client.call(1, &request).responses[0].error_code
}

/// AlterConfigs v1 of one topic (the new full set of its overrides); its error code.
fn replace_configs(client: &mut RawClient, topic: &str, values: &[(&str, &str)]) -> i16 {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = values
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_value(Some(s(v)))
        })
        .collect();
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s(topic))
            .with_configs(configs)]);
    client.call(1, &request).responses[0].error_code
}

/// The active controller's id and the two other nodes.
fn controller_and_others(cluster: &ClusterProcesses) -> (i32, [i32; 2]) {
    let mut client = RawClient::connect(&cluster.addr(1));
    let controller = metadata(&mut client, &[], false).controller_id.0;
    let others: Vec<i32> = (1..=3).filter(|n| *n != controller).collect();
    assert_eq!(
        others.len(),
        2,
        "controller {controller} is one of the nodes"
    );
    (controller, [others[0], others[1]])
}

/// `topic`'s value of `key` as `addr` describes it, once it shows `expected`.
fn config_seen(addr: &str, topic: &str, key: &str, expected: Option<&str>) {
    let mut client = RawClient::connect(addr);
    let deadline = Instant::now() + METADATA_SPREAD_TIMEOUT;
    loop {
        let seen = topic_config(&mut client, topic, key);
        if seen.as_deref() == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr}: {topic} {key} is {seen:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn deletes_and_config_changes_through_a_lagging_broker_are_decided_on_the_controllers_image() {
    let cluster = start_cluster(|_| Vec::new());
    let (controller, [a, b]) = controller_and_others(&cluster);
    let mut via_a = RawClient::connect(&cluster.addr(a));
    let mut via_b = RawClient::connect(&cluster.addr(b));
    // Created through a (answered once the controller committed it), then changed at
    // once through b, whose image may not have the topic yet: b answered
    // UNKNOWN_TOPIC_OR_PARTITION for these when it decided on its own image.
    for i in 0..LAGGED_ROUNDS {
        let appended = format!("appended-{i}");
        assert_eq!(create(&mut via_a, &appended, 1, &[], false).0, NONE);
        let ops = [
            ("retention.ms", OP_SET, "1000"),
            ("cleanup.policy", OP_APPEND, "compact"),
        ];
        assert_eq!(
            incremental_alter(&mut via_b, &appended, &ops, false),
            NONE,
            "{appended}"
        );
        // Answered once b shows it.
        assert_eq!(
            topic_config(&mut via_b, &appended, "cleanup.policy").as_deref(),
            Some("delete,compact"),
            "{appended}"
        );

        let replaced = format!("replaced-{i}");
        let configs = [("retention.ms", "1000"), ("cleanup.policy", "compact")];
        assert_eq!(create(&mut via_a, &replaced, 1, &configs, false).0, NONE);
        assert_eq!(
            replace_configs(&mut via_b, &replaced, &[("retention.ms", "2000")]),
            NONE,
            "{replaced}"
        );

        let deleted = format!("deleted-{i}");
        let (code, _) = create(&mut via_a, &deleted, 1, &[], false);
        assert_eq!(code, NONE);
        let (code, name, id) = delete_v6(&mut via_b, Some(&deleted), uuid::Uuid::nil());
        assert_eq!(code, NONE, "{deleted}");
        assert_eq!(name.as_deref(), Some(deleted.as_str()));
        assert!(!id.is_nil(), "{deleted}: the answer carries the topic id");
    }
    for node in [controller, a, b] {
        let addr = cluster.addr(node);
        for i in 0..LAGGED_ROUNDS {
            config_seen(
                &addr,
                &format!("appended-{i}"),
                "retention.ms",
                Some("1000"),
            );
            let replaced = format!("replaced-{i}");
            config_seen(&addr, &replaced, "retention.ms", Some("2000"));
            // The override AlterConfigs did not name is gone: the default again.
            config_seen(&addr, &replaced, "cleanup.policy", Some("delete"));
            let mut client = RawClient::connect(&addr);
            let deadline = Instant::now() + METADATA_SPREAD_TIMEOUT;
            while partition_count(&mut client, &format!("deleted-{i}")).is_some() {
                assert!(Instant::now() < deadline, "{addr} still shows deleted-{i}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    // By id: b resolves it (once it shows the topic); the answer names the topic.
    assert_eq!(create(&mut via_a, "by-id", 1, &[], false).0, NONE);
    partitions_seen(&cluster.addr(b), "by-id");
    let id = topic_id(&mut via_b, "by-id");
    let (code, name, answered_id) = delete_v6(&mut via_b, None, id);
    assert_eq!(
        (code, name.as_deref(), answered_id),
        (NONE, Some("by-id"), id)
    );
    // Deleted already on the controller's image, whatever a's shows.
    assert_eq!(delete_v6(&mut via_a, None, id).0, UNKNOWN_TOPIC_ID);
    assert_eq!(
        delete_v6(&mut via_a, Some("never-created"), uuid::Uuid::nil()).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // validate_only commits nothing; a bad value is refused by the controller.
    assert_eq!(create(&mut via_a, "checked", 1, &[], false).0, NONE);
    partitions_seen(&cluster.addr(controller), "checked");
    let mut via_controller = RawClient::connect(&cluster.addr(controller));
    let default = topic_config(&mut via_controller, "checked", "retention.ms");
    assert_ne!(default.as_deref(), Some("1000"));
    let set = [("retention.ms", OP_SET, "1000")];
    assert_eq!(incremental_alter(&mut via_b, "checked", &set, true), NONE);
    let bad = [("retention.ms", OP_SET, "soon")];
    assert_eq!(
        incremental_alter(&mut via_b, "checked", &bad, false),
        INVALID_CONFIG
    );
    assert_eq!(
        topic_config(&mut via_controller, "checked", "retention.ms"),
        default,
        "validate_only and a refused change left the default"
    );
}

#[test]
fn concurrent_deletes_of_one_topic_through_two_brokers_delete_it_once() {
    let cluster = start_cluster(|_| Vec::new());
    let names: Vec<String> = (0..RACED_NAMES).map(|i| format!("doomed-{i}")).collect();
    let mut client = RawClient::connect(&cluster.addr(1));
    for name in &names {
        assert_eq!(create(&mut client, name, 2, &[], false).0, NONE, "{name}");
    }
    for name in &names {
        partitions_seen(&cluster.addr(2), name);
        partitions_seen(&cluster.addr(3), name);
    }
    let answers = race(&cluster, &names, |client, name, _| {
        delete_topic(client, name)
    });
    for (i, name) in names.iter().enumerate() {
        let mut codes = [answers.0[i], answers.1[i]];
        codes.sort_unstable();
        assert_eq!(codes, [NONE, UNKNOWN_TOPIC_OR_PARTITION], "{name}");
        let deadline = Instant::now() + METADATA_SPREAD_TIMEOUT;
        while partition_count(&mut client, name).is_some() {
            assert!(Instant::now() < deadline, "node 1 still shows {name}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An rdkafka admin client bootstrapped on `addr`.
fn rdkafka_admin(addr: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_admin_alters_and_deletes_topics_another_broker_just_created() {
    let cluster = start_cluster(|_| Vec::new());
    let (controller, [a, b]) = controller_and_others(&cluster);
    let creator = rdkafka_admin(&cluster.addr(a));
    // Bootstrapped on a broker that is not the active controller (librdkafka then
    // picks the broker for each request: the answers must read the same).
    let changer = rdkafka_admin(&cluster.addr(b));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let names: Vec<String> = (0..LAGGED_ROUNDS).map(|i| format!("rd-{i}")).collect();
    for name in &names {
        let topic =
            NewTopic::new(name, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
        for created in creator
            .create_topics(&[topic], &options)
            .await
            .expect("create topics")
        {
            created.expect("topic created");
        }
        let alter = AlterConfig::new(ResourceSpecifier::Topic(name)).set("retention.ms", "2000");
        for altered in changer
            .alter_configs(&[alter], &options)
            .await
            .expect("alter configs")
        {
            altered.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
    for name in &names {
        config_seen(
            &cluster.addr(controller),
            name,
            "retention.ms",
            Some("2000"),
        );
        // AlterConfigs replaced the overrides: cleanup.policy is the default again.
        config_seen(
            &cluster.addr(controller),
            name,
            "cleanup.policy",
            Some("delete"),
        );
    }
    let asked: Vec<&str> = names.iter().map(String::as_str).collect();
    for deleted in changer
        .delete_topics(&asked, &options)
        .await
        .expect("delete topics")
    {
        deleted.unwrap_or_else(|e| panic!("{e:?}"));
    }
    let again = changer
        .delete_topics(&asked[..1], &options)
        .await
        .expect("delete topics");
    assert!(
        matches!(
            &again[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition))
        ),
        "{again:?}"
    );
}

/// ACLs created through one broker and deleted at once through another.
const ACL_ROUNDS: usize = 100;
/// The CreateAcls, DeleteAcls and DescribeAcls version sent (flexible).
const ACLS_VERSION: i16 = 3;
const ACL_RESOURCE_TOPIC: i8 = 2;
const ACL_ANY: i8 = 1;
const ACL_PATTERN_LITERAL: i8 = 3;
const ACL_OPERATION_READ: i8 = 3;
const ACL_PERMISSION_ALLOW: i8 = 3;

/// CreateAcls of "User:alice may read topic `topic`"; its error code.
fn create_acl(client: &mut RawClient, topic: &str) -> i16 {
    let creation = AclCreation::default()
        .with_resource_type(ACL_RESOURCE_TOPIC)
        .with_resource_name(s(topic))
        .with_resource_pattern_type(ACL_PATTERN_LITERAL)
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(ACL_OPERATION_READ)
        .with_permission_type(ACL_PERMISSION_ALLOW);
    let request = CreateAclsRequest::default().with_creations(vec![creation]);
    client.call(ACLS_VERSION, &request).results[0].error_code
}

/// DeleteAcls of every ACL on topic `topic`: (error code, ACLs deleted).
fn delete_acls_of(client: &mut RawClient, topic: &str) -> (i16, usize) {
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(ACL_RESOURCE_TOPIC)
        .with_resource_name_filter(Some(s(topic)))
        .with_pattern_type_filter(ACL_PATTERN_LITERAL)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ACL_ANY)
        .with_permission_type(ACL_ANY);
    let request = DeleteAclsRequest::default().with_filters(vec![filter]);
    let answer = &client.call(ACLS_VERSION, &request).filter_results[0];
    (answer.error_code, answer.matching_acls.len())
}

/// How many ACLs `addr` describes on topics named `topic`, or on any topic.
fn acls_described(addr: &str, topic: Option<&str>) -> usize {
    let mut client = RawClient::connect(addr);
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(ACL_RESOURCE_TOPIC)
        .with_resource_name_filter(topic.map(s))
        .with_pattern_type_filter(ACL_ANY)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ACL_ANY)
        .with_permission_type(ACL_ANY);
    let response: DescribeAclsResponse = client.call(ACLS_VERSION, &request);
    assert_eq!(response.error_code, NONE, "{addr}: DescribeAcls");
    response.resources.iter().map(|r| r.acls.len()).sum()
}

/// Waits (bounded) until `addr` describes `expected` ACLs on `topic` (or any topic).
fn acls_seen(addr: &str, topic: Option<&str>, expected: usize) {
    let deadline = Instant::now() + METADATA_SPREAD_TIMEOUT;
    loop {
        let seen = acls_described(addr, topic);
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} describes {seen} ACLs on {topic:?}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn acls_created_through_one_broker_are_deleted_at_once_through_a_lagging_one() {
    let cluster = start_cluster(|_| Vec::new());
    let (controller, [a, b]) = controller_and_others(&cluster);
    let mut via_a = RawClient::connect(&cluster.addr(a));
    let mut via_b = RawClient::connect(&cluster.addr(b));
    // Created through a (answered once committed), deleted at once through b, whose
    // image may not have it yet: deciding on its own image, b matched nothing and
    // the ACL silently stayed.
    let mut missed = Vec::new();
    for i in 0..ACL_ROUNDS {
        let topic = format!("guarded-{i}");
        assert_eq!(create_acl(&mut via_a, &topic), NONE, "{topic}");
        let (code, deleted) = delete_acls_of(&mut via_b, &topic);
        assert_eq!(code, NONE, "{topic}");
        if deleted != 1 {
            missed.push(topic);
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {ACL_ROUNDS} deletes through node {b} matched nothing: {missed:?}",
        missed.len()
    );
    for node in [controller, a, b] {
        acls_seen(&cluster.addr(node), None, 0);
    }

    // The other way: created through b, shown through a; deleted through a.
    assert_eq!(create_acl(&mut via_b, "reverse"), NONE);
    acls_seen(&cluster.addr(a), Some("reverse"), 1);
    assert_eq!(delete_acls_of(&mut via_a, "reverse"), (NONE, 1));
    for node in [controller, a, b] {
        acls_seen(&cluster.addr(node), None, 0);
    }
}
