//! The cluster as clients see it: on one node `moldau cluster describe` lists the
//! broker (not fenced), the controller, and the metadata quorum from DescribeQuorum
//! (this node leads it, its log end is the high watermark); DescribeQuorum for
//! anything but `__cluster_metadata-0` is refused by error code; on three nodes every
//! node lists the three brokers and the same quorum leader, which (asked through any
//! node) lists every voter's progress.

use moldau_e2e::{moldau_bin, BrokerProcess, RawConnection};
use std::process::Command;

const DESCRIBE_QUORUM: i16 = 55;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn describe_json(bootstrap: &str) -> serde_json::Value {
    let out = Command::new(moldau_bin())
        .args(["-b", bootstrap, "--json", "cluster", "describe"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn describe_shows_the_broker_the_controller_and_the_quorum() {
    let broker = BrokerProcess::start(&["--node-id", "7"]);
    let doc = describe_json(&broker.addr);
    assert_eq!(doc["controller_id"], 7, "{doc}");
    let brokers = doc["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 1, "{doc}");
    assert_eq!(brokers[0]["id"], 7);
    assert_eq!(brokers[0]["fenced"], false);
    let quorum = &doc["quorum"];
    assert_eq!(quorum["leader_id"], 7, "{doc}");
    let high_watermark = quorum["high_watermark"].as_i64().expect("high watermark");
    assert!(
        high_watermark >= 1,
        "the broker's registration is committed: {doc}"
    );
    let voters = quorum["voters"].as_array().expect("voters");
    assert_eq!(voters.len(), 1, "{doc}");
    assert_eq!(voters[0]["id"], 7);
    assert_eq!(voters[0]["log_end_offset"], high_watermark);
    assert_eq!(voters[0]["lag"], 0);
    assert!(quorum["observers"]
        .as_array()
        .expect("observers")
        .is_empty());
}

/// DescribeQuorum v0 (flexible) for `topic`-`partition`.
fn describe_quorum_body(topic: &str, partition: i32) -> Vec<u8> {
    let mut body = vec![2u8]; // one topic (compact array: count + 1)
    body.push(topic.len() as u8 + 1);
    body.extend_from_slice(topic.as_bytes());
    body.push(2); // one partition
    body.extend_from_slice(&partition.to_be_bytes());
    body.push(0); // partition tags
    body.push(0); // topic tags
    body.push(0); // request tags
    body
}

#[test]
fn describe_quorum_answers_only_for_the_metadata_partition() {
    let broker = BrokerProcess::start(&[]);
    let mut conn = RawConnection::connect(&broker.addr);
    for (topic, partition) in [("payments", 0), ("__cluster_metadata", 1)] {
        let response = conn.call(
            DESCRIBE_QUORUM,
            0,
            true,
            &describe_quorum_body(topic, partition),
        );
        let error = i16::from_be_bytes([response[0], response[1]]);
        assert_eq!(error, UNKNOWN_TOPIC_OR_PARTITION, "{topic}-{partition}");
    }
    let response = conn.call(
        DESCRIBE_QUORUM,
        0,
        true,
        &describe_quorum_body("__cluster_metadata", 0),
    );
    assert_eq!(i16::from_be_bytes([response[0], response[1]]), 0);
}

#[test]
fn three_nodes_describe_one_quorum_from_any_node() {
    let cluster = moldau_e2e::ClusterProcesses::start(3, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Every node lists the three brokers and names the same quorum leader, whose
    // DescribeQuorum (asked through any node) lists each voter's progress.
    loop {
        let docs: Vec<serde_json::Value> =
            (1..=3).map(|id| describe_json(&cluster.addr(id))).collect();
        let leader = &docs[0]["quorum"]["leader_id"];
        let settled = docs.iter().all(|d| {
            d["brokers"].as_array().map(Vec::len) == Some(3)
                && d["quorum"]["leader_id"] == *leader
                && d["quorum"]["voters"].as_array().map(Vec::len) == Some(3)
        });
        if settled {
            let leader = leader.as_i64().expect("a quorum leader");
            assert!((1..=3).contains(&leader), "{docs:?}");
            for d in &docs {
                let voters = d["quorum"]["voters"].as_array().expect("voters");
                let ids: Vec<i64> = voters
                    .iter()
                    .map(|v| v["id"].as_i64().unwrap_or(-1))
                    .collect();
                assert_eq!(ids, vec![1, 2, 3], "{d}");
                assert!(
                    voters
                        .iter()
                        .all(|v| v["log_end_offset"].as_i64() > Some(0)),
                    "the leader knows every voter's log end: {d}"
                );
            }
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nodes disagree: {docs:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
