//! What this broker must do about a committed metadata delta, decided without doing
//! it: which topics' partitions to (re)host, which to drop, whose metrics to forget,
//! whether the group coordinator must follow a change of `__consumer_offsets`
//! leadership. A node hosts the partitions it is a replica of (as leader or
//! follower) and drops one that is no longer assigned to it.

use crate::internal_topics::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
use moldau_metadata::{MetadataDelta, MetadataImage, PartitionImage, TopicId};
use std::collections::BTreeSet;

/// A node's part in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Leads it: serves clients' reads and writes.
    Leader,
    /// Holds a replica; clients go to the leader.
    Follower,
}

/// `node_id`'s role in `p`, or `None` when it holds no replica of it.
pub fn role_of(p: &PartitionImage, node_id: i32) -> Option<Role> {
    if p.leader == node_id {
        // The image refuses a leader that is not a replica.
        assert!(p.replicas.contains(&node_id), "leader outside the replicas");
        Some(Role::Leader)
    } else if p.replicas.contains(&node_id) {
        Some(Role::Follower)
    } else {
        None
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PublishPlan {
    /// Topics whose partitions assigned here are hosted in their current role with
    /// the topic's current config.
    pub host_topics: BTreeSet<String>,
    /// Partitions to stop hosting and delete here: (topic, id, partition), of deleted
    /// topics and of partitions reassigned away from this node.
    pub drop_partitions: Vec<(String, TopicId, i32)>,
    /// Deleted topics whose metrics go.
    pub forget_metrics: Vec<String>,
    /// An offsets partition appeared or its leadership changed: the coordinator
    /// loads the ones led here and unloads the others.
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
            .map(|k| (k, false))
            .chain(delta.changed_partitions.iter().map(|k| (k, true)));
        for ((id, partition), changed) in touched {
            let Some(topic) = image.topic_by_id(id) else {
                continue;
            };
            let Some(p) = topic.partitions.get(partition) else {
                continue;
            };
            plan.load_coordinators |=
                topic.name == OFFSETS_TOPIC || topic.name == TRANSACTION_STATE_TOPIC;
            match role_of(p, node_id) {
                Some(_) => {
                    plan.host_topics.insert(topic.name.clone());
                }
                // Only a change moves a replica away; a partition created elsewhere
                // was never here.
                None if changed => {
                    plan.drop_partitions
                        .push((topic.name.clone(), topic.id, *partition));
                }
                None => {}
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
    use crate::test_images::{image_of, move_leader, partition as assigned, topic};
    use moldau_metadata::{ConfigResource, MetadataRecord};

    /// A partition on [1, 2] led by `leader`.
    fn partition(id: TopicId, partition: i32, leader: i32) -> MetadataRecord {
        assigned(id, partition, &[1, 2], leader)
    }

    fn names(set: &BTreeSet<String>) -> Vec<&str> {
        set.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_delta_becomes_hosting_dropping_and_loading() {
        let (a, b, c, offsets) = (
            TopicId([1; 16]),
            TopicId([2; 16]),
            TopicId([4; 16]),
            TopicId([3; 16]),
        );
        let base = image_of(&[topic("old", a), partition(a, 0, 1), partition(a, 1, 2)]);
        let (image, delta) = base
            .apply_batch(
                &[
                    MetadataRecord::RemoveTopic { id: a },
                    topic("followed", b),
                    partition(b, 0, 2),
                    topic("elsewhere", c),
                    assigned(c, 0, &[2, 3], 2),
                    topic(OFFSETS_TOPIC, offsets),
                    partition(offsets, 0, 1),
                ],
                3,
            )
            .unwrap();
        let plan = PublishPlan::new(&image, &delta, 1);
        assert_eq!(
            names(&plan.host_topics),
            vec![OFFSETS_TOPIC, "followed"],
            "a replica here is hosted, led here or not; a topic with none is not"
        );
        assert_eq!(
            plan.drop_partitions,
            vec![("old".to_string(), a, 0), ("old".to_string(), a, 1)]
        );
        assert_eq!(plan.forget_metrics, vec!["old".to_string()]);
        assert!(plan.load_coordinators);
    }

    #[test]
    fn roles_follow_the_leader_and_the_replicas() {
        let id = TopicId([1; 16]);
        let image = image_of(&[topic("t", id), assigned(id, 0, &[1, 2], 2)]);
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!(role_of(p, 2), Some(Role::Leader));
        assert_eq!(role_of(p, 1), Some(Role::Follower));
        assert_eq!(role_of(p, 3), None);
    }

    #[test]
    fn leadership_moving_rehosts_and_reassignment_away_drops() {
        let (id, offsets) = (TopicId([1; 16]), TopicId([3; 16]));
        let base = image_of(&[
            topic("t", id),
            partition(id, 0, 1),
            partition(id, 1, 1),
            topic(OFFSETS_TOPIC, offsets),
            partition(offsets, 0, 1),
        ]);
        // Partition 0's leadership moves to 2 (1 stays a follower); partition 1 is
        // reassigned to 2 and 3 only.
        let (image, delta) = base
            .apply_batch(
                &[
                    move_leader(id, 0, 2, None),
                    move_leader(id, 1, 2, Some(&[2, 3])),
                ],
                5,
            )
            .unwrap();
        let plan = PublishPlan::new(&image, &delta, 1);
        assert_eq!(names(&plan.host_topics), vec!["t"]);
        assert_eq!(plan.drop_partitions, vec![("t".to_string(), id, 1)]);
        assert!(!plan.load_coordinators);
        // The offsets partition's leader moving away has the coordinator unload it.
        let (image, delta) = base
            .apply_batch(&[move_leader(offsets, 0, 2, None)], 5)
            .unwrap();
        let plan = PublishPlan::new(&image, &delta, 1);
        assert!(plan.load_coordinators);
        assert!(plan.drop_partitions.is_empty());
        // Node 3 is not told to drop what it never had when created elsewhere.
        let plan = PublishPlan::new(&base, &MetadataDelta::everything_in(&base), 3);
        assert!(plan.host_topics.is_empty() && plan.drop_partitions.is_empty());
    }

    #[test]
    fn config_changes_rehost_their_topics() {
        let (a, b) = (TopicId([1; 16]), TopicId([2; 16]));
        let base = image_of(&[
            topic("a", a),
            partition(a, 0, 1),
            topic("b", b),
            partition(b, 0, 1),
        ]);
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
