//! A hosted partition takes client writes only while it leads, whatever the image a
//! handler checked said.

use super::*;
use crate::replica_manager::{Assignment, ReplicaManager};
use moldau_log::LogConfig;
use moldau_protocol::batch::Codec;
use moldau_protocol::batch_builder::{BatchBuilder, NO_HEADERS};
use moldau_protocol::batch_header::ProducerStamp;
use moldau_protocol::ResponseError;

const TOPIC_ID: [u8; 16] = [7; 16];

/// An idempotent batch of one record at `base_sequence`.
fn batch(base_sequence: i32) -> BytesMut {
    let mut b = BatchBuilder::new(Codec::None, 0);
    b.push(1_000, None, Some(b"v"), &NO_HEADERS).unwrap();
    b.build(ProducerStamp {
        producer_id: 5,
        producer_epoch: 0,
        base_sequence,
    })
    .unwrap()
}

fn replicas(dir: &std::path::Path) -> ReplicaManager {
    let logs = LogDirs::open(
        &[dir.to_path_buf()],
        1,
        "cGFydGl0aW9uLXRlc3RzLQ",
        LogConfig::default(),
        60_000,
    )
    .unwrap();
    ReplicaManager::new(Arc::new(logs), Arc::new(crate::metrics::Metrics::new()), 1)
}

fn assignment(epoch: i32) -> Assignment<'static> {
    Assignment {
        leader_epoch: epoch,
        replicas: &[1, 2],
        isr: &[1, 2],
    }
}

#[tokio::test]
async fn a_follower_refuses_client_writes_and_its_producer_state_stays_the_leaders() {
    let dir = tempfile::tempdir().unwrap();
    let replicas = replicas(dir.path());
    let tp = TopicPartition::new("t", 0);
    let config = LogConfig::default();
    let limits = ProduceLimits::default();
    let led = replicas
        .become_leader(&tp, TOPIC_ID, assignment(3), config.clone(), limits)
        .unwrap();
    led.append(&mut batch(0), 1_000, false).unwrap();
    // Leadership moved (epoch 4, another leader) while a produce checked against
    // an image that still named this node: the append must not reach the log.
    let followed = replicas
        .become_follower(&tp, TOPIC_ID, assignment(4), config, limits)
        .unwrap();
    let refused = followed.append(&mut batch(1), 2_000, false).unwrap_err();
    assert_eq!(refused.response_error(), ResponseError::NotLeaderOrFollower);
    let log = followed.log.read();
    assert_eq!(log.log_end_offset(), 1, "nothing appended while following");
    let producer = log.producer_state().entry(5).unwrap();
    assert_eq!(producer.last_seq(), 0, "producer state untouched");
}
