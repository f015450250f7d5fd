//! What this broker must do about a committed metadata delta, decided without doing
//! it: which topics' partitions to (re)host, which to drop, whose metrics to forget,
//! whether the group coordinator has partitions to load.

use crate::internal_topics::OFFSETS_TOPIC;
use moldau_metadata::{MetadataDelta, MetadataImage, TopicId};
use std::collections::BTreeSet;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PublishPlan {
    /// Topics whose partitions led here are hosted with the topic's current config.
    pub host_topics: BTreeSet<String>,
    /// Partitions of deleted topics: (topic, id, partition).
    pub drop_partitions: Vec<(String, TopicId, i32)>,
    /// Deleted topics whose metrics go.
    pub forget_metrics: Vec<String>,
    /// An offsets partition led here appeared or changed: the coordinator loads it.
    pub load_coordinators: bool,
}

impl PublishPlan {
    pub fn new(image: &MetadataImage, delta: &MetadataDelta, node_id: i32) -> Self {
        let mut plan = PublishPlan::default();
        for t in &delta.deleted_topics {
            plan.forget_metrics.push(t.name.clone());
            plan.drop_partitions
                .extend(t.partitions.iter().map(|p| (t.name.clone(), t.id, *p)));
        }
        let touched = delta
            .created_partitions
            .iter()
            .chain(&delta.changed_partitions);
        for (id, partition) in touched {
            let Some(topic) = image.topic_by_id(id) else {
                continue;
            };
            let led_here = topic
                .partitions
                .get(partition)
                .is_some_and(|p| p.leader == node_id);
            if led_here {
                plan.host_topics.insert(topic.name.clone());
                plan.load_coordinators |= topic.name == OFFSETS_TOPIC;
            }
        }
        // A config change reaches the hosted partitions' logs and produce limits.
        if delta.broker_configs_changed.is_empty() {
            let names = delta
                .topic_configs_changed
                .iter()
                .filter_map(|id| image.topic_by_id(id));
            plan.host_topics.extend(names.map(|t| t.name.clone()));
        } else {
            plan.host_topics
                .extend(image.topics().map(|t| t.name.clone()));
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_metadata::{ConfigResource, MetadataRecord, PartitionRecord};

    fn partition(id: TopicId, partition: i32, leader: i32) -> MetadataRecord {
        MetadataRecord::Partition(PartitionRecord {
            topic_id: id,
            partition,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
        })
    }

    fn topic(name: &str, id: TopicId) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            id,
        }
    }

    #[test]
    fn a_delta_becomes_hosting_dropping_and_loading() {
        let (a, b, offsets) = (TopicId([1; 16]), TopicId([2; 16]), TopicId([3; 16]));
        let base = MetadataImage::new()
            .apply_batch(
                &[topic("old", a), partition(a, 0, 1), partition(a, 1, 2)],
                0,
            )
            .unwrap()
            .0;
        let (image, delta) = base
            .apply_batch(
                &[
                    MetadataRecord::RemoveTopic { id: a },
                    topic("elsewhere", b),
                    partition(b, 0, 2),
                    topic(OFFSETS_TOPIC, offsets),
                    partition(offsets, 0, 1),
                ],
                3,
            )
            .unwrap();
        let plan = PublishPlan::new(&image, &delta, 1);
        assert_eq!(
            plan.host_topics.into_iter().collect::<Vec<_>>(),
            vec![OFFSETS_TOPIC.to_string()],
            "a topic led elsewhere is not hosted here"
        );
        assert_eq!(
            plan.drop_partitions,
            vec![("old".to_string(), a, 0), ("old".to_string(), a, 1)]
        );
        assert_eq!(plan.forget_metrics, vec!["old".to_string()]);
        assert!(plan.load_coordinators);
    }

    #[test]
    fn config_changes_rehost_their_topics() {
        let (a, b) = (TopicId([1; 16]), TopicId([2; 16]));
        let base = MetadataImage::new()
            .apply_batch(
                &[
                    topic("a", a),
                    partition(a, 0, 1),
                    topic("b", b),
                    partition(b, 0, 1),
                ],
                0,
            )
            .unwrap()
            .0;
        let config = |resource| MetadataRecord::Config {
            resource,
            name: "retention.ms".into(),
            value: Some("1".into()),
        };
        let (image, delta) = base
            .apply_batch(&[config(ConfigResource::Topic("a".into()))], 4)
            .unwrap();
        let plan = PublishPlan::new(&image, &delta, 1);
        assert_eq!(plan.host_topics.into_iter().collect::<Vec<_>>(), vec!["a"]);
        assert!(!plan.load_coordinators);
        let (image, delta) = base
            .apply_batch(&[config(ConfigResource::Broker(None))], 4)
            .unwrap();
        let plan = PublishPlan::new(&image, &delta, 1);
        assert_eq!(
            plan.host_topics.len(),
            2,
            "a broker default reaches every topic"
        );
    }
}
