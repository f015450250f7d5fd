//! A snapshot's body: the metadata image as the list of records that recreate it.
//! Kept behind these two functions so that the snapshot file format of
//! docs/format/cluster-metadata.md can replace it in one place.

use crate::raft::record_list::{decode_record_list, encode_record_list};
use crate::record_types::{BrokerRegistration, ConfigResource, PartitionRecord};
use crate::{MetadataError, MetadataImage, MetadataRecord};

/// The records that rebuild `image` from empty, encoded as a record list.
pub fn image_to_snapshot_bytes(image: &MetadataImage) -> Result<Vec<u8>, MetadataError> {
    encode_record_list(&image_records(image))
}

fn image_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (name, level) in image.features() {
        records.push(MetadataRecord::FeatureLevel {
            name: name.clone(),
            level: *level,
        });
    }
    for b in image.brokers() {
        records.push(MetadataRecord::RegisterBroker(BrokerRegistration {
            broker_id: b.id,
            incarnation_id: b.incarnation_id,
            broker_epoch: b.epoch,
            endpoints: b.listeners.clone(),
            features: b.features.clone(),
            rack: b.rack.clone(),
            fenced: b.fenced,
            in_controlled_shutdown: b.in_controlled_shutdown,
        }));
    }
    for topic in image.topics() {
        records.push(MetadataRecord::Topic {
            name: topic.name.clone(),
            id: topic.id,
        });
        for p in topic.partitions.values() {
            records.push(MetadataRecord::Partition(PartitionRecord {
                topic_id: topic.id,
                partition: p.partition,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                removing_replicas: p.removing_replicas.clone(),
                adding_replicas: p.adding_replicas.clone(),
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
            }));
        }
        for (name, value) in &topic.configs {
            records.push(MetadataRecord::Config {
                resource: ConfigResource::Topic(topic.name.clone()),
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
    }
    for (broker, configs) in image.all_broker_configs() {
        for (name, value) in configs {
            records.push(MetadataRecord::Config {
                resource: ConfigResource::Broker(*broker),
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
    }
    if image.next_producer_id() > 0 {
        // The block's owner does not matter once handed out; only where the next starts.
        records.push(MetadataRecord::ProducerIds {
            broker_id: -1,
            broker_epoch: -1,
            next_producer_id: image.next_producer_id(),
        });
    }
    records
}

/// The image a snapshot body describes, as of Raft index `offset`.
pub fn image_from_snapshot_bytes(
    bytes: &[u8],
    offset: i64,
) -> Result<MetadataImage, MetadataError> {
    let mut image = MetadataImage::new();
    for record in decode_record_list(bytes)? {
        image.apply(&record, offset)?;
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_records::{broker, partition, topic, topic_config};
    use crate::TopicId;

    #[test]
    fn image_survives_a_snapshot_round_trip() {
        let mut image = MetadataImage::new();
        let id = TopicId([9; 16]);
        let records = [
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 7,
            },
            broker(1, 10),
            broker(2, 11),
            MetadataRecord::UnfenceBroker {
                broker_id: 2,
                broker_epoch: 11,
            },
            topic("t", id),
            partition(id, 0, &[1, 2]),
            partition(id, 1, &[2, 1]),
            topic_config("t", "retention.ms", Some("5")),
            MetadataRecord::Config {
                resource: ConfigResource::Broker(None),
                name: "log.retention.ms".into(),
                value: Some("9".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(Some(7)),
                name: "x".into(),
                value: Some("y".into()),
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 10,
                next_producer_id: 2000,
            },
        ];
        for (i, r) in records.iter().enumerate() {
            image.apply(r, i as i64).unwrap();
        }
        let last = records.len() as i64 - 1;
        let restored =
            image_from_snapshot_bytes(&image_to_snapshot_bytes(&image).unwrap(), last).unwrap();
        assert_eq!(restored, image);
    }
}
