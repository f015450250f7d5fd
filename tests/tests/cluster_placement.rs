//! Three real `moldau serve` processes, each a broker and a controller of one quorum:
//! a topic's partitions are placed over all three brokers, so each leads some.

mod topic_support;

use moldau_e2e::{BrokerProcess, TEST_CLUSTER_ID};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use topic_support::{
    create_topic, create_topic_assigned, metadata, RawClient, INVALID_REPLICA_ASSIGNMENT,
    INVALID_REQUEST, NONE,
};

/// How long the three nodes get to elect a controller and register.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn six_partitions_get_leaders_on_all_three_brokers() {
    let controllers: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let voters = controllers
        .iter()
        .enumerate()
        .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    // Started together: a node may wait for the quorum before it listens.
    let starts: Vec<_> = dirs
        .iter()
        .zip(&controllers)
        .enumerate()
        .map(|(i, (dir, port))| {
            let dir = dir.path().to_path_buf();
            let node_id = (i + 1).to_string();
            let controller = format!("127.0.0.1:{port}");
            let voters = voters.clone();
            std::thread::spawn(move || {
                BrokerProcess::start_in(
                    &dir,
                    &[
                        "--node-id",
                        &node_id,
                        "--controller",
                        &controller,
                        "--voters",
                        &voters,
                        "--cluster-id",
                        TEST_CLUSTER_ID,
                    ],
                    None,
                )
            })
        })
        .collect();
    let nodes: Vec<BrokerProcess> = starts
        .into_iter()
        .map(|h| h.join().expect("node started"))
        .collect();
    let mut client = RawClient::connect(&nodes[0].addr);
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    while metadata(&mut client, &[], false).brokers.len() < 3 {
        assert!(Instant::now() < deadline, "three brokers never registered");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(create_topic(&mut client, "spread", 6, &[]), NONE);
    let ids: BTreeSet<i32> = metadata(&mut client, &[], false)
        .brokers
        .iter()
        .map(|b| b.node_id.0)
        .collect();
    let answer = metadata(&mut client, &["spread"], false);
    let partitions = &answer.topics[0].partitions;
    assert_eq!(partitions.len(), 6);
    let leaders: Vec<i32> = partitions.iter().map(|p| p.leader_id.0).collect();
    // Round-robin from a random start: two partitions per broker.
    for id in &ids {
        assert_eq!(
            leaders.iter().filter(|l| *l == id).count(),
            2,
            "leaders {leaders:?} over brokers {ids:?}"
        );
    }
    for p in partitions {
        assert_eq!(p.replica_nodes.len(), 1);
        assert_eq!(p.replica_nodes[0], p.leader_id);
    }

    // An explicit assignment is kept as the client gave it, replica order included.
    assert_eq!(
        create_topic_assigned(&mut client, "assigned", -1, &[&[2, 3], &[3, 1]]),
        NONE
    );
    let answer = metadata(&mut client, &["assigned"], false);
    let replicas: Vec<Vec<i32>> = answer.topics[0]
        .partitions
        .iter()
        .map(|p| p.replica_nodes.iter().map(|b| b.0).collect())
        .collect();
    assert_eq!(replicas, vec![vec![2, 3], vec![3, 1]]);
    assert_eq!(
        create_topic_assigned(&mut client, "unknown-broker", -1, &[&[1, 7]]),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        create_topic_assigned(&mut client, "combined", 2, &[&[1]]),
        INVALID_REQUEST
    );
}
