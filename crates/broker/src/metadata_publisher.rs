//! The metadata publisher: the one place where a committed metadata delta reaches
//! the broker's services (partitions hosted or dropped, coordinator partitions
//! loaded, metrics forgotten). Callers commit through `commit_and_publish`; start-up
//! publishes the whole image as one delta.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_topics;
use crate::publish_plan::{role_of, PublishPlan, Role};
use moldau_log::TopicPartition;
use moldau_metadata::{MetadataDelta, MetadataImage, MetadataRecord};
use std::sync::Arc;

impl Broker {
    /// Commits `records` to the metadata log and publishes what they changed.
    pub fn commit_and_publish(
        &self,
        records: &[MetadataRecord],
    ) -> Result<Arc<MetadataImage>, BrokerError> {
        let (image, delta) = self.metadata.commit_with_delta(records)?;
        self.publish(&image, &delta)?;
        Ok(image)
    }

    /// Applies `delta` (which led to `image`) to the services.
    pub fn publish(&self, image: &MetadataImage, delta: &MetadataDelta) -> Result<(), BrokerError> {
        let plan = PublishPlan::new(image, delta, self.node_id);
        for name in &plan.forget_metrics {
            self.metrics.forget_topic(name);
        }
        for (topic, id, partition) in &plan.drop_partitions {
            let tp = TopicPartition {
                topic: topic.clone(),
                partition: *partition,
            };
            self.replicas.remove(&tp, id.0)?;
        }
        for name in &plan.host_topics {
            self.host_partitions(image, name)?;
        }
        if plan.load_coordinators {
            // Queued before the commit returns, so a client's next group request
            // finds the partition loaded (or loading), or unloaded once led elsewhere.
            if let Some(groups) = self.groups.get() {
                groups.load_partitions();
            }
        }
        Ok(())
    }

    /// Makes the replica manager host every partition of `topic` this node is a
    /// replica of, in its current role, with the topic's current configuration. A partition that cannot be hosted is
    /// marked offline (reported to clients) and the rest are still hosted.
    fn host_partitions(&self, image: &MetadataImage, topic: &str) -> Result<(), BrokerError> {
        let Some(t) = image.topic(topic) else {
            return Ok(());
        };
        if internal_topics::is_hidden(topic) {
            // Left by an older version that let a client create it: the metadata
            // log is never hosted as a topic.
            tracing::warn!(topic, "not hosting a topic named like the metadata log");
            return Ok(());
        }
        let resolved = self.topic_configs(image, topic);
        let config = crate::topic_config::log_config_from(&resolved);
        let limits = crate::partition::ProduceLimits::from_resolved(&resolved);
        for p in t.partitions.values() {
            let Some(role) = role_of(p, self.node_id) else {
                continue;
            };
            let tp = TopicPartition {
                topic: topic.to_string(),
                partition: p.partition,
            };
            if self.logs.offline_reason(&tp).is_some() {
                // Its log could not be opened: never create a fresh one in its place.
                continue;
            }
            let (id, epoch, config) = (t.id.0, p.leader_epoch, config.clone());
            let hosted = match role {
                Role::Leader => self.replicas.become_leader(&tp, id, epoch, config, limits),
                Role::Follower => self
                    .replicas
                    .become_follower(&tp, id, epoch, config, limits),
            };
            if let Err(e) = hosted {
                // One partition that cannot be hosted must not stop the others.
                self.logs.mark_partition_offline(&tp, &e.to_string());
            }
        }
        Ok(())
    }
}
