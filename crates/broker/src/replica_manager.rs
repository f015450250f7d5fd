//! The partitions this broker hosts, keyed by topic-partition. Each hosted partition
//! remembers the topic id it was created for, so a deleted topic's partition is never
//! mistaken for (or removed in place of) a recreated topic's of the same name.

use crate::error::BrokerError;
use crate::partition::{Partition, PartitionWakers, ProduceLimits};
use moldau_log::{LogConfig, LogDirs, LogKind, TopicPartition};
use moldau_metadata::MetadataImage;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// A hosted partition and the topic id it belongs to.
struct Hosted {
    topic_id: [u8; 16],
    partition: Arc<Partition>,
}

pub struct ReplicaManager {
    logs: Arc<LogDirs>,
    partitions: RwLock<HashMap<TopicPartition, Hosted>>,
    /// Woken whenever a high watermark moves: long-polling fetches wait on it.
    pub data_arrived: Arc<Notify>,
    /// Woken on every append and high-watermark move: replica fetches wait on it.
    pub replica_data: Arc<Notify>,
    /// Woken when a follower may rejoin an ISR: the ISR maintenance looks at once.
    pub isr_check: Arc<Notify>,
    /// The led partitions the ISR maintenance looks at next.
    pub isr_watch: Arc<crate::isr_watch::IsrWatch>,
    metrics: Arc<crate::metrics::Metrics>,
    node_id: i32,
}

/// A partition's assignment as the metadata image has it.
#[derive(Debug, Clone, Copy)]
pub struct Assignment<'a> {
    pub leader_epoch: i32,
    pub replicas: &'a [i32],
    pub isr: &'a [i32],
}

impl ReplicaManager {
    pub fn new(logs: Arc<LogDirs>, metrics: Arc<crate::metrics::Metrics>, node_id: i32) -> Self {
        ReplicaManager {
            logs,
            partitions: RwLock::new(HashMap::new()),
            data_arrived: Arc::new(Notify::new()),
            replica_data: Arc::new(Notify::new()),
            isr_check: Arc::new(Notify::new()),
            isr_watch: Arc::new(crate::isr_watch::IsrWatch::new()),
            metrics,
            node_id,
        }
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .get(tp)
            .map(|h| Arc::clone(&h.partition))
    }

    pub fn get_by_name(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.get(&TopicPartition {
            topic: topic.to_string(),
            partition,
        })
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .values()
            .map(|h| Arc::clone(&h.partition))
            .collect()
    }

    /// Hosts the partition as leader, opening or creating its log. A partition or log
    /// left from an earlier topic of the same name (another topic id) is retired
    /// first, never reused.
    pub fn become_leader(
        &self,
        tp: &TopicPartition,
        topic_id: [u8; 16],
        assignment: Assignment<'_>,
        config: LogConfig,
        limits: ProduceLimits,
    ) -> Result<Arc<Partition>, BrokerError> {
        let sole = assignment.replicas.len() <= 1;
        let p = self.host(tp, topic_id, assignment.leader_epoch, config, limits, sole)?;
        p.lead(
            self.node_id,
            assignment.leader_epoch,
            assignment.replicas,
            assignment.isr,
            crate::clock::now_ms(),
        )?;
        Ok(p)
    }

    /// Hosts the partition as a follower of the leader: its log is kept (or created)
    /// here and filled by the replica fetchers; clients are sent to the leader
    /// (handlers check leadership against the image).
    pub fn become_follower(
        &self,
        tp: &TopicPartition,
        topic_id: [u8; 16],
        assignment: Assignment<'_>,
        config: LogConfig,
        limits: ProduceLimits,
    ) -> Result<Arc<Partition>, BrokerError> {
        let p = self.host(tp, topic_id, assignment.leader_epoch, config, limits, false)?;
        p.follow(assignment.leader_epoch);
        Ok(p)
    }

    /// `sole_replica`: nobody else holds the partition, so whatever is durable here
    /// is committed; with replicas the high watermark is the checkpointed one.
    fn host(
        &self,
        tp: &TopicPartition,
        topic_id: [u8; 16],
        leader_epoch: i32,
        config: LogConfig,
        limits: ProduceLimits,
        sole_replica: bool,
    ) -> Result<Arc<Partition>, BrokerError> {
        if tp.kind() != LogKind::Data {
            return Err(BrokerError::api(
                moldau_protocol::ResponseError::InvalidRequest,
                format!("{tp} is the metadata log, not a topic partition"),
            ));
        }
        let hosted = self
            .partitions
            .read()
            .get(tp)
            .map(|h| (h.topic_id, Arc::clone(&h.partition)));
        match hosted {
            Some((id, p)) if id == topic_id => {
                p.set_limits(limits);
                p.log.write().update_config(config);
                return Ok(p);
            }
            Some((stale_id, _)) => {
                self.remove(tp, stale_id)?;
            }
            None => {}
        }
        let existing = match self.logs.get(tp) {
            Some(log) if self.logs.topic_id(tp).is_some_and(|id| id != topic_id) => {
                // Left by a deleted topic (e.g. a crash before its directory was
                // renamed): its data is not this topic's.
                tracing::info!(partition = %tp, "retiring the log of an earlier topic with the same name");
                self.logs.remove_if_same(tp, &log)?;
                None
            }
            other => other,
        };
        let (log, recovered) = match existing {
            Some(log) => {
                log.write().update_config(config);
                (log, true)
            }
            None => (self.logs.create(tp, config, topic_id)?, false),
        };
        if recovered && sole_replica {
            // After recovery, make whatever the log holds durable before exposing it:
            // on one node the durable end of the log is the high watermark. A log
            // created just now is empty, so there is nothing to sync.
            let mut guard = log.write();
            let durable = guard.flush()?;
            let start = guard.log_start_offset();
            guard.set_high_watermark(durable.max(start));
        }
        let partition = Arc::new(Partition::new(
            tp.clone(),
            log,
            leader_epoch,
            Arc::clone(&self.logs),
            PartitionWakers {
                data_arrived: Arc::clone(&self.data_arrived),
                replica_data: Arc::clone(&self.replica_data),
                isr_check: Arc::clone(&self.isr_check),
                isr_watch: Arc::clone(&self.isr_watch),
            },
            Arc::clone(&self.metrics),
        ));
        partition.set_limits(limits);
        self.partitions.write().insert(
            tp.clone(),
            Hosted {
                topic_id,
                partition: Arc::clone(&partition),
            },
        );
        Ok(partition)
    }

    /// Stops hosting the partition of topic `topic_id` and deletes its data. A
    /// partition of another topic id (the name was recreated meanwhile) is left alone.
    pub fn remove(&self, tp: &TopicPartition, topic_id: [u8; 16]) -> Result<(), BrokerError> {
        let removed = {
            let mut partitions = self.partitions.write();
            match partitions.get(tp) {
                Some(h) if h.topic_id == topic_id => partitions.remove(tp),
                Some(_) => return Ok(()),
                None => None,
            }
        };
        match removed {
            Some(h) => {
                self.logs.remove_if_same(tp, &h.partition.log)?;
            }
            None => {
                // An offline partition (its log could not be opened) goes with its topic.
                if self.logs.remove_offline(tp)? {
                    return Ok(());
                }
                // Not hosted, but its log may have been recovered at start.
                if let Some(log) = self.logs.get(tp) {
                    if self.logs.topic_id(tp).is_none_or(|id| id == topic_id) {
                        self.logs.remove_if_same(tp, &log)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes the logs found at start that belong to no current topic: left by a
    /// topic deleted just before a crash (its directory not yet renamed), or whose
    /// `partition.metadata` names another topic id than the topic now using the name.
    /// Kafka calls these stray logs and deletes them the same way.
    pub fn remove_stray_logs(&self, image: &MetadataImage) -> Result<(), BrokerError> {
        for (tp, _) in self.logs.all() {
            self.remove_if_stray(&tp, image)?;
        }
        Ok(())
    }

    /// Removes `tp`'s log if it is a stray one (see [`ReplicaManager::remove_stray_logs`]).
    pub fn remove_if_stray(
        &self,
        tp: &TopicPartition,
        image: &MetadataImage,
    ) -> Result<(), BrokerError> {
        if tp.kind() != LogKind::Data || self.get(tp).is_some() {
            return Ok(());
        }
        let Some(log) = self.logs.get(tp) else {
            return Ok(());
        };
        let current = image.topic(&tp.topic).map(|t| t.id.0);
        let owned = match (current, self.logs.topic_id(tp)) {
            (None, _) => false,
            (Some(id), Some(on_disk)) => id == on_disk,
            (Some(_), None) => true,
        };
        if !owned {
            tracing::info!(partition = %tp, "removing stray log of a deleted topic");
            self.logs.remove_if_same(tp, &log)?;
        }
        Ok(())
    }
}
