//! The partitions this broker hosts, keyed by topic-partition.

use crate::error::BrokerError;
use crate::partition::{Partition, ProduceLimits};
use moldau_log::{LogConfig, LogManager, TopicPartition};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct ReplicaManager {
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Woken whenever a high watermark moves: long-polling fetches wait on it.
    pub data_arrived: Arc<Notify>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl ReplicaManager {
    pub fn new(logs: Arc<LogManager>, metrics: Arc<crate::metrics::Metrics>) -> Self {
        ReplicaManager {
            logs,
            partitions: RwLock::new(HashMap::new()),
            data_arrived: Arc::new(Notify::new()),
            metrics,
        }
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().get(tp).cloned()
    }

    pub fn get_by_name(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.get(&TopicPartition {
            topic: topic.to_string(),
            partition,
        })
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// Hosts the partition as leader at `leader_epoch`, opening or creating its log.
    pub fn become_leader(
        &self,
        tp: &TopicPartition,
        topic_id: [u8; 16],
        leader_epoch: i32,
        config: LogConfig,
        limits: ProduceLimits,
    ) -> Result<Arc<Partition>, BrokerError> {
        if let Some(p) = self.get(tp) {
            p.set_leader_epoch(leader_epoch);
            p.set_limits(limits);
            p.log.write().update_config(config);
            return Ok(p);
        }
        let (log, recovered) = match self.logs.get(tp) {
            Some(log) => {
                log.write().update_config(config);
                (log, true)
            }
            None => (self.logs.create(tp, config, topic_id)?, false),
        };
        if recovered {
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
            Arc::clone(&self.data_arrived),
            Arc::clone(&self.metrics),
        ));
        partition.set_limits(limits);
        self.partitions
            .write()
            .insert(tp.clone(), Arc::clone(&partition));
        Ok(partition)
    }

    /// Stops hosting the partition and deletes its data.
    pub fn remove(&self, tp: &TopicPartition) -> Result<(), BrokerError> {
        self.partitions.write().remove(tp);
        if self.logs.get(tp).is_some() {
            self.logs.remove(tp)?;
        }
        Ok(())
    }
}
