//! Rack-aware assignment (KIP-848 RackId) on three real nodes, each with its own
//! `broker.rack`: librdkafka members with `group.protocol=consumer` and a
//! `client.rack` get the partitions whose replica lives on their rack.

mod groups_support;

use groups_support::raw::{s, RawClient};
use groups_support::{lock, new_view, wait_for, Member, MemberSpec};
use moldau_e2e::ClusterProcesses;
use moldau_protocol::kafka::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic,
};
use moldau_protocol::kafka::messages::{BrokerId, CreateTopicsRequest, MetadataRequest, TopicName};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long the three nodes get to elect a controller and register.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 6;
const NODES: usize = 3;

/// Nodes 1..=3 on racks r1..r3, one quorum.
fn start_cluster() -> ClusterProcesses {
    ClusterProcesses::start_with(NODES, |id| {
        [
            "--set".to_string(),
            format!("broker.rack=r{id}"),
            "--set".into(),
            "group.initial.rebalance.delay.ms=0".into(),
            "--set".into(),
            "group.consumer.heartbeat.interval.ms=500".into(),
            "--set".into(),
            "group.consumer.min.heartbeat.interval.ms=100".into(),
        ]
        .into()
    })
}

#[test]
fn members_get_the_partitions_on_their_rack() {
    let cluster = start_cluster();
    let mut client = RawClient::connect(&cluster.addr(1));
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    let brokers = |client: &mut RawClient| {
        client
            .call(
                12,
                &MetadataRequest::default().with_topics(Some(Vec::new())),
            )
            .brokers
            .len()
    };
    while brokers(&mut client) < NODES {
        assert!(Instant::now() < deadline, "three brokers never registered");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Partition p has its one replica on node p % 3 + 1, rack r{p % 3 + 1}.
    let assignments = (0..PARTITIONS)
        .map(|p| {
            CreatableReplicaAssignment::default()
                .with_partition_index(p)
                .with_broker_ids(vec![BrokerId(p % 3 + 1)])
        })
        .collect();
    let create = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s("racked")))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments)])
        .with_timeout_ms(30_000);
    assert_eq!(client.call(4, &create).topics[0].error_code, 0);
    let view = new_view();
    let configs: Vec<[(&str, &str); 2]> = ["r1", "r2", "r3"]
        .iter()
        .map(|rack| [("group.protocol", "consumer"), ("client.rack", *rack)])
        .collect();
    let members: Vec<Member> = configs
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let spec = MemberSpec {
                group: "racks",
                topic: "racked",
                commit_each: false,
                config,
            };
            Member::start(
                &cluster.addr(i as i32 + 1),
                &format!("m{}", i + 1),
                &spec,
                &view,
            )
        })
        .collect();
    let expected = |i: i32| -> BTreeSet<i32> { (0..PARTITIONS).filter(|p| p % 3 == i).collect() };
    wait_for(&view, "each member holding its rack's partitions", |v| {
        (0..3).all(|i| v.owned_by(&format!("m{}", i + 1)) == expected(i))
    });
    let violations = lock(&view).violations.clone();
    assert!(violations.is_empty(), "{violations:?}");
    for m in members {
        m.close();
    }
}
