//! The records that recreate an image: what a snapshot holds.

use super::MetadataImage;
use crate::record_types::{BrokerRegistration, ClientQuotaChange, ConfigResource, PartitionRecord};
use crate::MetadataRecord;

impl MetadataImage {
    /// Records that, applied in order to an empty image, give this image (up to
    /// `last_offset`): features, brokers, broker configs, then each topic with its
    /// configs and partitions, then client quotas, then SCRAM credentials, then ACLs, then the
    /// producer-id block.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        out.extend(
            self.features
                .iter()
                .map(|(name, level)| MetadataRecord::FeatureLevel {
                    name: name.clone(),
                    level: *level,
                }),
        );
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker(BrokerRegistration {
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
        for (broker, configs) in &self.broker_configs {
            out.extend(configs.iter().map(|(name, value)| MetadataRecord::Config {
                resource: ConfigResource::Broker(*broker),
                name: name.clone(),
                value: Some(value.clone()),
            }));
        }
        for t in self.topics.values() {
            out.push(MetadataRecord::Topic {
                name: t.name.clone(),
                id: t.id,
            });
            out.extend(
                t.configs
                    .iter()
                    .map(|(name, value)| MetadataRecord::Config {
                        resource: ConfigResource::Topic(t.name.clone()),
                        name: name.clone(),
                        value: Some(value.clone()),
                    }),
            );
            out.extend(t.partitions.values().map(|p| {
                MetadataRecord::Partition(PartitionRecord {
                    topic_id: t.id,
                    partition: p.partition,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    removing_replicas: p.removing_replicas.clone(),
                    adding_replicas: p.adding_replicas.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                })
            }));
        }
        for (entity, values) in &self.client_quotas {
            out.extend(values.iter().map(|(key, value)| {
                MetadataRecord::ClientQuota(ClientQuotaChange {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: *value,
                    remove: false,
                })
            }));
        }
        out.extend(
            self.scram_credentials
                .values()
                .map(|c| MetadataRecord::UserScramCredential(c.clone())),
        );
        out.extend(
            self.acls
                .iter()
                .map(|a| MetadataRecord::AccessControlEntry(a.clone())),
        );
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        out
    }

    /// An image from a snapshot's records, standing at `last_offset`.
    pub fn from_records(
        records: &[MetadataRecord],
        last_offset: i64,
    ) -> Result<Self, crate::MetadataError> {
        let mut image = MetadataImage::new();
        for r in records {
            image.apply(r, last_offset)?;
        }
        image.last_offset = last_offset;
        Ok(image)
    }
}
