//! OffsetForLeaderEpoch (api 23) on three real `moldau serve` processes, with exact
//! requests: a leader answers where each leader epoch ends from its leader-epoch
//! cache (for a consumer, replica id -1, and for a follower, v3's replica id), and
//! refuses stale and future current epochs and requests sent to a follower, as Kafka.

mod topic_support;

use moldau_e2e::ClusterProcesses;
use moldau_protocol::kafka::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use moldau_protocol::kafka::messages::offset_for_leader_epoch_response::EpochEndOffset;
use moldau_protocol::kafka::messages::{BrokerId, OffsetForLeaderEpochRequest};
use std::time::{Duration, Instant};
use topic_support::{
    create_topic_assigned, metadata, produce, topic_name, RawClient, NONE,
    UNKNOWN_TOPIC_OR_PARTITION,
};

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// How long the test waits for the cluster to reach a state it expects.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// (leader, leader epoch) of `topic`-0 through `addr` once it has a leader other than
/// `not`, with at least `brokers_min` brokers registered.
fn leader_and_epoch(addr: &str, topic: &str, brokers_min: usize, not: i32) -> (i32, i32) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut client = RawClient::connect(addr);
        let md = metadata(&mut client, &[topic], false);
        let found = md
            .topics
            .first()
            .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
            .filter(|p| p.error_code == NONE && p.leader_id.0 >= 0 && p.leader_id.0 != not)
            .map(|p| (p.leader_id.0, p.leader_epoch));
        if let Some(found) = found.filter(|_| md.brokers.len() >= brokers_min) {
            return found;
        }
        assert!(Instant::now() < deadline, "no leader for {topic}: {md:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One partition asked of `addr` at `version` (`replica_id` from v3).
fn ask(
    addr: &str,
    version: i16,
    replica_id: i32,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> EpochEndOffset {
    let mut client = RawClient::connect(addr);
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let response = client.call(version, &request);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].topic.0.as_str(), topic);
    assert_eq!(response.topics[0].partitions.len(), 1);
    response.topics[0].partitions[0].clone()
}

fn ended(e: &EpochEndOffset) -> (i16, i32, i64) {
    (e.error_code, e.leader_epoch, e.end_offset)
}

/// Produces `count` records with `acks`, each answered without error.
fn produce_records(addr: &str, topic: &str, acks: i16, count: usize) {
    let mut client = RawClient::connect(addr);
    for i in 0..count {
        let (code, _) = produce(&mut client, topic, 0, acks, 1_000 + i as i64, b"v");
        assert_eq!(code, NONE, "record {i}");
    }
}

#[test]
fn the_leader_answers_where_each_epoch_ends_before_and_after_a_failover() {
    let mut cluster = ClusterProcesses::start(
        3,
        &[
            "--set",
            "broker.heartbeat.interval.ms=500",
            "--set",
            "broker.session.timeout.ms=3000",
        ],
    );
    let topic = "epochs";
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        // Three replicas need three registered brokers; node 1 is preferred.
        let mut client = RawClient::connect(&cluster.addr(1));
        if create_topic_assigned(&mut client, topic, -1, &[&[1, 2, 3]]) == NONE {
            break;
        }
        assert!(Instant::now() < deadline, "topic never created");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (first_leader, first_epoch) = leader_and_epoch(&cluster.addr(1), topic, 3, -1);
    assert_eq!(first_leader, 1);
    let leader = cluster.addr(1);
    produce_records(&leader, topic, -1, 5);

    // The latest epoch ends at the log end; an epoch newer than any known is unknown.
    for (version, replica) in [(2, -1), (3, -1), (4, -1), (4, 2)] {
        assert_eq!(
            ended(&ask(
                &leader,
                version,
                replica,
                topic,
                0,
                first_epoch,
                first_epoch
            )),
            (NONE, first_epoch, 5),
            "v{version} replica {replica}"
        );
    }
    assert_eq!(
        ended(&ask(&leader, 4, -1, topic, 0, -1, first_epoch + 5)),
        (NONE, -1, -1)
    );
    // The current epoch is checked first; only the leader answers.
    assert_eq!(
        ask(&leader, 4, -1, topic, 0, first_epoch + 1, first_epoch).error_code,
        UNKNOWN_LEADER_EPOCH
    );
    assert_eq!(
        ask(&cluster.addr(2), 4, -1, topic, 0, first_epoch, first_epoch).error_code,
        NOT_LEADER_OR_FOLLOWER
    );
    assert_eq!(
        ask(&leader, 4, -1, topic, 7, -1, first_epoch).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        ask(&leader, 4, -1, "no-such-topic", 0, -1, 0).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // The leader dies; another in-sync replica leads at a newer epoch and writes on.
    cluster.kill(1);
    let (new_leader, new_epoch) = leader_and_epoch(&cluster.addr(2), topic, 1, 1);
    assert!(new_epoch > first_epoch, "{new_epoch} after {first_epoch}");
    let leader = cluster.addr(new_leader);
    produce_records(&leader, topic, 1, 3);
    let follower = if new_leader == 2 { 3 } else { 2 };

    for (version, replica) in [(2, -1), (4, -1), (3, follower), (4, follower)] {
        // The old epoch ends where the new one starts.
        assert_eq!(
            ended(&ask(
                &leader,
                version,
                replica,
                topic,
                0,
                new_epoch,
                first_epoch
            )),
            (NONE, first_epoch, 5),
            "v{version} replica {replica}"
        );
        assert_eq!(
            ended(&ask(
                &leader, version, replica, topic, 0, new_epoch, new_epoch
            )),
            (NONE, new_epoch, 8),
            "v{version} replica {replica}"
        );
    }
    // An epoch between the two that this log never saw ends with the next one known.
    if new_epoch > first_epoch + 1 {
        assert_eq!(
            ended(&ask(&leader, 4, -1, topic, 0, -1, first_epoch + 1)),
            (NONE, first_epoch, 5)
        );
    }
    // A client still at the old epoch is fenced.
    assert_eq!(
        ask(&leader, 4, -1, topic, 0, first_epoch, first_epoch).error_code,
        FENCED_LEADER_EPOCH
    );
    assert_eq!(
        ask(
            &cluster.addr(follower),
            4,
            -1,
            topic,
            0,
            new_epoch,
            new_epoch
        )
        .error_code,
        NOT_LEADER_OR_FOLLOWER
    );
}
