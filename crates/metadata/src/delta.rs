//! What a batch of committed records changed: the part of the image the rest of the
//! broker must act on (partitions to host or drop, leaders, configs, brokers).

use crate::TopicId;
use std::collections::BTreeSet;

/// A topic removed by the batch, with what is needed to drop its partitions (the new
/// image no longer knows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedTopic {
    pub name: String,
    pub id: TopicId,
    pub partitions: Vec<i32>,
}

/// The changes made by applying a batch of records to an image. Entries refer to the
/// new image (look topics up by id there), except `deleted_topics`. A topic created
/// and deleted in the same batch leaves no trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataDelta {
    pub created_topics: BTreeSet<TopicId>,
    pub deleted_topics: Vec<DeletedTopic>,
    pub created_partitions: BTreeSet<(TopicId, i32)>,
    /// Leader, leader epoch, ISR or replicas changed (partitions created in the same
    /// batch are only in `created_partitions`).
    pub changed_partitions: BTreeSet<(TopicId, i32)>,
    pub topic_configs_changed: BTreeSet<TopicId>,
    /// Dynamic broker configs changed (`None`: the cluster-wide default).
    pub broker_configs_changed: BTreeSet<Option<i32>>,
    pub registered_brokers: BTreeSet<i32>,
    pub unregistered_brokers: BTreeSet<i32>,
    pub fenced_brokers: BTreeSet<i32>,
    pub unfenced_brokers: BTreeSet<i32>,
    pub features_changed: BTreeSet<String>,
    pub producer_ids_changed: bool,
    /// A client quota was set or removed.
    pub client_quotas_changed: bool,
    /// An ACL was added or removed.
    pub acls_changed: bool,
}

impl MetadataDelta {
    pub fn is_empty(&self) -> bool {
        *self == MetadataDelta::default()
    }

    /// Records that `id` is gone: forgets what this batch did to it before.
    pub(crate) fn topic_removed(&mut self, deleted: DeletedTopic) {
        let id = deleted.id;
        self.created_partitions.retain(|(t, _)| *t != id);
        self.changed_partitions.retain(|(t, _)| *t != id);
        self.topic_configs_changed.remove(&id);
        if !self.created_topics.remove(&id) {
            self.deleted_topics.push(deleted);
        }
    }

    pub(crate) fn partition_changed(&mut self, id: TopicId, partition: i32) {
        if !self.created_partitions.contains(&(id, partition)) {
            self.changed_partitions.insert((id, partition));
        }
    }

    pub(crate) fn broker_fenced(&mut self, broker: i32, fenced: bool) {
        if fenced {
            self.unfenced_brokers.remove(&broker);
            self.fenced_brokers.insert(broker);
        } else {
            self.fenced_brokers.remove(&broker);
            self.unfenced_brokers.insert(broker);
        }
    }
}

impl MetadataDelta {
    /// The delta from an empty image to `image`: everything in it is new (what a
    /// broker acts on at start).
    pub fn everything_in(image: &crate::MetadataImage) -> MetadataDelta {
        let mut delta = MetadataDelta::default();
        for t in image.topics() {
            delta.created_topics.insert(t.id);
            delta
                .created_partitions
                .extend(t.partitions.keys().map(|p| (t.id, *p)));
            if !t.configs.is_empty() {
                delta.topic_configs_changed.insert(t.id);
            }
        }
        for b in image.brokers() {
            delta.registered_brokers.insert(b.id);
            delta.broker_fenced(b.id, b.fenced);
        }
        delta
            .broker_configs_changed
            .extend(image.all_broker_configs().map(|(k, _)| *k));
        delta
            .features_changed
            .extend(image.features().map(|(name, _)| name.clone()));
        delta.producer_ids_changed = image.next_producer_id() > 0;
        delta
    }
}
