//! The partitions this broker hosts: the replica manager (append, read, leader
//! checks, the data-arrived watches delayed fetches wait on) and the log directories.

use crate::broker::Broker;
use crate::replica_manager::ReplicaManager;
use moldau_log::{LogDirs, TopicPartition};
use std::sync::Arc;

#[derive(Clone)]
pub struct Partitions {
    broker: Arc<Broker>,
}

impl Partitions {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// This node's id, for leader checks against the image.
    pub fn node_id(&self) -> i32 {
        self.broker.node_id
    }

    /// Every log directory (`log.dirs`): sizes, offline directories, moves.
    pub fn logs(&self) -> &Arc<LogDirs> {
        &self.broker.logs
    }

    /// Whether this broker may act as a leader now: registered, unfenced and within
    /// its session (see `leadership_lease`), whatever a stale image says.
    pub fn may_lead(&self) -> Result<(), crate::leadership_lease::NotLeading> {
        self.broker.lifecycle.may_lead()
    }

    /// Whether `tp`'s log is in a directory that failed (KAFKA_STORAGE_ERROR), as
    /// opposed to simply not hosted here.
    pub fn is_offline(&self, tp: &TopicPartition) -> bool {
        self.broker.logs.offline_reason(tp).is_some()
    }
}

impl std::ops::Deref for Partitions {
    type Target = ReplicaManager;

    fn deref(&self) -> &ReplicaManager {
        &self.broker.replicas
    }
}
