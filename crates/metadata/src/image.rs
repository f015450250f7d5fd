//! The metadata image: the state obtained by applying records in order.

use crate::{MetadataError, MetadataRecord, TopicId};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct BrokerImage {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionImage {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicImage {
    pub name: String,
    pub id: TopicId,
    pub internal: bool,
    pub partitions: BTreeMap<i32, PartitionImage>,
    pub configs: BTreeMap<String, String>,
}

/// Brokers, topics and configs as of the last applied record.
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    brokers: BTreeMap<i32, BrokerImage>,
    topics: BTreeMap<String, TopicImage>,
    names_by_id: BTreeMap<TopicId, String>,
    /// Dynamic broker configs: key (None = cluster default) -> name -> value.
    broker_configs: BTreeMap<Option<i32>, BTreeMap<String, String>>,
    /// Offset of the last record applied, -1 before any.
    last_offset: i64,
}

impl MetadataImage {
    pub fn new() -> Self {
        MetadataImage {
            last_offset: -1,
            ..Default::default()
        }
    }

    /// Checks a record against the image without changing it.
    pub fn check(&self, record: &MetadataRecord) -> Result<(), MetadataError> {
        self.clone().apply(record, self.last_offset)
    }

    /// Applies one record. Records that fail leave the image unchanged.
    pub fn apply(&mut self, record: &MetadataRecord, offset: i64) -> Result<(), MetadataError> {
        match record {
            MetadataRecord::RegisterBroker {
                id,
                host,
                port,
                rack,
            } => {
                self.brokers.insert(
                    *id,
                    BrokerImage {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                    },
                );
            }
            MetadataRecord::CreateTopic {
                name,
                id,
                internal,
                configs,
            } => {
                if self.topics.contains_key(name) {
                    return Err(MetadataError::TopicExists(name.clone()));
                }
                self.names_by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        name: name.clone(),
                        id: *id,
                        internal: *internal,
                        partitions: BTreeMap::new(),
                        configs: configs.clone(),
                    },
                );
            }
            MetadataRecord::CreatePartition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
            } => {
                let topic = self.topic_by_id_mut(topic_id)?;
                topic.partitions.insert(
                    *partition,
                    PartitionImage {
                        partition: *partition,
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                    },
                );
            }
            MetadataRecord::ChangePartition {
                topic_id,
                partition,
                isr,
                leader,
                leader_epoch,
            } => {
                let topic = self.topic_by_id_mut(topic_id)?;
                let name = topic.name.clone();
                let p = topic
                    .partitions
                    .get_mut(partition)
                    .ok_or(MetadataError::UnknownTopic(format!("{name}-{partition}")))?;
                p.isr = isr.clone();
                p.leader = *leader;
                p.leader_epoch = *leader_epoch;
            }
            MetadataRecord::DeleteTopic { id } => {
                let name = self
                    .names_by_id
                    .remove(id)
                    .ok_or_else(|| MetadataError::UnknownTopicId(id.to_string()))?;
                self.topics.remove(&name);
            }
            MetadataRecord::SetTopicConfig { topic, key, value } => {
                let t = self
                    .topics
                    .get_mut(topic)
                    .ok_or_else(|| MetadataError::UnknownTopic(topic.clone()))?;
                match value {
                    Some(v) => t.configs.insert(key.clone(), v.clone()),
                    None => t.configs.remove(key),
                };
            }
            MetadataRecord::SetBrokerConfig { broker, key, value } => {
                let m = self.broker_configs.entry(*broker).or_default();
                match value {
                    Some(v) => m.insert(key.clone(), v.clone()),
                    None => m.remove(key),
                };
            }
        }
        self.last_offset = offset;
        Ok(())
    }

    fn topic_by_id_mut(&mut self, id: &TopicId) -> Result<&mut TopicImage, MetadataError> {
        let name = self
            .names_by_id
            .get(id)
            .ok_or_else(|| MetadataError::UnknownTopicId(id.to_string()))?;
        self.topics
            .get_mut(name)
            .ok_or_else(|| MetadataError::UnknownTopicId(id.to_string()))
    }

    pub fn brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values()
    }
    pub fn broker(&self, id: i32) -> Option<&BrokerImage> {
        self.brokers.get(&id)
    }
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }
    pub fn topic_by_id(&self, id: &TopicId) -> Option<&TopicImage> {
        self.names_by_id.get(id).and_then(|n| self.topics.get(n))
    }
    pub fn broker_configs(&self, broker: Option<i32>) -> Option<&BTreeMap<String, String>> {
        self.broker_configs.get(&broker)
    }
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, id: TopicId) -> MetadataRecord {
        MetadataRecord::CreateTopic {
            name: name.into(),
            id,
            internal: false,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn create_partition_config_delete() {
        let mut image = MetadataImage::new();
        let id = TopicId::random();
        image.apply(&topic("a", id), 0).unwrap();
        image
            .apply(
                &MetadataRecord::CreatePartition {
                    topic_id: id,
                    partition: 0,
                    replicas: vec![1],
                    isr: vec![1],
                    leader: 1,
                    leader_epoch: 0,
                },
                1,
            )
            .unwrap();
        image
            .apply(
                &MetadataRecord::SetTopicConfig {
                    topic: "a".into(),
                    key: "retention.ms".into(),
                    value: Some("5".into()),
                },
                2,
            )
            .unwrap();
        let t = image.topic("a").unwrap();
        assert_eq!(t.partitions.len(), 1);
        assert_eq!(t.configs["retention.ms"], "5");
        assert_eq!(image.topic_by_id(&id).unwrap().name, "a");
        assert_eq!(
            image.apply(&topic("a", TopicId::random()), 3),
            Err(MetadataError::TopicExists("a".into()))
        );
        image.apply(&MetadataRecord::DeleteTopic { id }, 4).unwrap();
        assert!(image.topic("a").is_none());
        assert_eq!(image.last_offset(), 4);
    }

    #[test]
    fn records_round_trip_through_bytes() {
        let r = topic("x", TopicId::random());
        assert_eq!(MetadataRecord::from_bytes(&r.to_bytes()).unwrap(), r);
        assert!(MetadataRecord::from_bytes(b"{garbage").is_err());
    }
}
