//! Three real `moldau serve` nodes: CreateTopics is decided by the active controller
//! (on its image, with its defaults), whichever broker a client asks, as Kafka
//! brokers forward it.

mod topic_support;

use moldau_e2e::ClusterProcesses;
use moldau_protocol::kafka::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use moldau_protocol::kafka::messages::CreateTopicsRequest;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use topic_support::{
    create_partitions, metadata, partition_count, s, topic_name, RawClient, NONE,
    TOPIC_ALREADY_EXISTS,
};

/// How long the three nodes get to elect a controller and register.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker gets to show a topic another broker created.
const METADATA_SPREAD_TIMEOUT: Duration = Duration::from_secs(30);
const INVALID_PARTITIONS: i16 = 37;
const INVALID_CONFIG: i16 = 40;
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
