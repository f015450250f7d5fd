//! Metadata images for the broker's unit tests: brokers, topics and partitions with
//! the leadership a test needs, built by applying real records.

use moldau_metadata::{
    BrokerEndpoint, BrokerRegistration, MetadataImage, MetadataRecord, PartitionChange,
    PartitionRecord, SecurityProtocol, TopicId,
};

/// A registered broker reachable at `host:port` on listener `PLAINTEXT` and at
/// `internal-<id>:19092` on `INTERNAL`.
pub fn broker(id: i32, port: u16, rack: Option<&str>, fenced: bool) -> MetadataRecord {
    let endpoint = |name: &str, host: String, port| BrokerEndpoint {
        name: name.into(),
        host,
        port,
        security_protocol: SecurityProtocol::Plaintext,
    };
    MetadataRecord::RegisterBroker(BrokerRegistration {
        broker_id: id,
        incarnation_id: [id as u8; 16],
        broker_epoch: i64::from(id),
        endpoints: vec![
            endpoint("PLAINTEXT", format!("host-{id}"), port),
            endpoint("INTERNAL", format!("internal-{id}"), 19092),
        ],
        features: Vec::new(),
        rack: rack.map(String::from),
        fenced,
        in_controlled_shutdown: false,
    })
}

pub fn topic(name: &str, id: TopicId) -> MetadataRecord {
    MetadataRecord::Topic {
        name: name.into(),
        id,
    }
}

/// A partition on `replicas` (all in sync) led by `leader` (-1: none) at epoch 0.
pub fn partition(id: TopicId, partition: i32, replicas: &[i32], leader: i32) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id: id,
        partition,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
    })
}

/// Moves a partition's leadership (a new leader epoch) and optionally its replicas.
pub fn move_leader(
    id: TopicId,
    partition: i32,
    leader: i32,
    replicas: Option<&[i32]>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange(PartitionChange {
        leader,
        replicas: replicas.map(<[i32]>::to_vec),
        isr: replicas.map(<[i32]>::to_vec),
        ..PartitionChange::new(id, partition)
    })
}

/// The image `records` make from nothing.
pub fn image_of(records: &[MetadataRecord]) -> MetadataImage {
    match MetadataImage::new().apply_batch(records, 0) {
        Ok((image, _)) => image,
        Err(e) => panic!("test records do not apply: {e}"),
    }
}
