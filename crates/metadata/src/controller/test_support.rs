//! Images for the controller's tests: brokers with racks, topics with assignments.

use crate::{
    BrokerEndpoint, BrokerRegistration, MetadataImage, MetadataRecord, PartitionRecord,
    SecurityProtocol, TopicId,
};

pub fn registration(id: i32, epoch: i64, rack: Option<&str>, fenced: bool) -> MetadataRecord {
    MetadataRecord::RegisterBroker(BrokerRegistration {
        broker_id: id,
        incarnation_id: [id as u8; 16],
        broker_epoch: epoch,
        endpoints: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
            security_protocol: SecurityProtocol::Plaintext,
        }],
        features: Vec::new(),
        rack: rack.map(str::to_string),
        fenced,
        in_controlled_shutdown: false,
    })
}

/// Applies `records` at consecutive offsets after the image's last.
pub fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
    for r in records {
        let offset = image.last_offset() + 1;
        image
            .apply(r, offset)
            .unwrap_or_else(|e| panic!("{e}: {r:?}"));
    }
}

/// Unfenced brokers with these ids and racks.
pub fn image_with_brokers(brokers: &[(i32, Option<&str>)]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for (id, rack) in brokers {
        let epoch = image.last_offset() + 1;
        apply(&mut image, &[registration(*id, epoch, *rack, false)]);
    }
    image
}

/// A topic whose partitions have these replicas, ISR = replicas, leader the first.
pub fn add_topic(image: &mut MetadataImage, name: &str, replicas: &[&[i32]]) -> TopicId {
    let id = TopicId([name.len() as u8 + 1; 16]);
    let mut records = vec![MetadataRecord::Topic {
        name: name.into(),
        id,
    }];
    for (p, r) in replicas.iter().enumerate() {
        records.push(MetadataRecord::Partition(PartitionRecord {
            topic_id: id,
            partition: p as i32,
            replicas: r.to_vec(),
            isr: r.to_vec(),
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader: r[0],
            leader_epoch: 0,
            partition_epoch: 0,
        }));
    }
    apply(image, &records);
    id
}

/// (leader, leader epoch, partition epoch, isr) of a partition.
pub fn partition_state(image: &MetadataImage, topic: &str, p: i32) -> (i32, i32, i32, Vec<i32>) {
    let p = &image.topic(topic).expect("topic").partitions[&p];
    (p.leader, p.leader_epoch, p.partition_epoch, p.isr.clone())
}
