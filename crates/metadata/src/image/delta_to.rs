//! The delta between two images, for a publisher that sees images rather than the
//! records between them (a watch channel may skip intermediate images).

use super::MetadataImage;
use crate::delta::{DeletedTopic, MetadataDelta};

impl MetadataImage {
    /// What changed from `self` to `next`, as applying the records between them
    /// would have reported it.
    pub fn delta_to(&self, next: &MetadataImage) -> MetadataDelta {
        let mut delta = MetadataDelta::default();
        for (id, name) in &self.names_by_id {
            if next.names_by_id.contains_key(id) {
                continue;
            }
            let partitions = self
                .topics
                .get(name)
                .map(|t| t.partitions.keys().copied().collect())
                .unwrap_or_default();
            delta.deleted_topics.push(DeletedTopic {
                name: name.clone(),
                id: *id,
                partitions,
            });
        }
        for topic in next.topics.values() {
            let before = self.topic_by_id(&topic.id);
            if before.is_none() {
                delta.created_topics.insert(topic.id);
            }
            for (p, partition) in &topic.partitions {
                match before.and_then(|b| b.partitions.get(p)) {
                    None => {
                        delta.created_partitions.insert((topic.id, *p));
                    }
                    Some(old) if old != partition => {
                        delta.changed_partitions.insert((topic.id, *p));
                    }
                    Some(_) => {}
                }
            }
            if before.is_some_and(|b| b.configs != topic.configs)
                || (before.is_none() && !topic.configs.is_empty())
            {
                delta.topic_configs_changed.insert(topic.id);
            }
        }
        for (key, configs) in &next.broker_configs {
            if self.broker_configs.get(key) != Some(configs) {
                delta.broker_configs_changed.insert(*key);
            }
        }
        for key in self.broker_configs.keys() {
            if !next.broker_configs.contains_key(key) {
                delta.broker_configs_changed.insert(*key);
            }
        }
        for (id, broker) in &next.brokers {
            match self.brokers.get(id) {
                None => {
                    delta.registered_brokers.insert(*id);
                    delta.broker_fenced(*id, broker.fenced);
                }
                Some(old) => {
                    if old.epoch != broker.epoch || old.listeners != broker.listeners {
                        delta.registered_brokers.insert(*id);
                    }
                    if old.fenced != broker.fenced {
                        delta.broker_fenced(*id, broker.fenced);
                    }
                }
            }
        }
        for id in self.brokers.keys() {
            if !next.brokers.contains_key(id) {
                delta.unregistered_brokers.insert(*id);
            }
        }
        for (name, level) in &next.features {
            if self.features.get(name) != Some(level) {
                delta.features_changed.insert(name.clone());
            }
        }
        for name in self.features.keys() {
            if !next.features.contains_key(name) {
                delta.features_changed.insert(name.clone());
            }
        }
        delta.producer_ids_changed = self.next_producer_id != next.next_producer_id;
        delta
    }
}

#[cfg(test)]
mod tests {
    use crate::test_records::{broker, partition, topic, topic_config};
    use crate::{MetadataImage, MetadataRecord, TopicId};

    /// The delta between two images equals the one applying the records reported.
    #[test]
    fn delta_between_images_matches_the_applied_delta() {
        let (a, b) = (TopicId([1; 16]), TopicId([2; 16]));
        let mut before = MetadataImage::new();
        for (i, r) in [
            broker(1, 10),
            topic("a", a),
            partition(a, 0, &[1]),
            topic("b", b),
            partition(b, 0, &[1]),
        ]
        .iter()
        .enumerate()
        {
            before.apply(r, i as i64).unwrap();
        }
        let c = TopicId([3; 16]);
        let records = [
            MetadataRecord::RemoveTopic { id: b },
            topic("c", c),
            partition(c, 0, &[1]),
            partition(a, 1, &[1]),
            topic_config("a", "retention.ms", Some("5")),
            broker(2, 20),
        ];
        let (after, applied) = before.apply_batch(&records, 10).unwrap();
        let between = before.delta_to(&after);
        assert_eq!(between.deleted_topics, applied.deleted_topics);
        assert_eq!(between.created_topics, applied.created_topics);
        assert_eq!(between.created_partitions, applied.created_partitions);
        assert_eq!(between.topic_configs_changed, applied.topic_configs_changed);
        assert_eq!(between.registered_brokers, applied.registered_brokers);
        assert!(after.delta_to(&after).is_empty());
    }
}
