//! The group coordinator runtime (classic and KIP-848 groups, offsets).

use crate::broker::Broker;
use crate::group_service::GroupService;
use std::sync::Arc;

#[derive(Clone)]
pub struct Groups {
    broker: Arc<Broker>,
}

impl Groups {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// The coordinator task; None only while the broker is still starting.
    pub fn service(&self) -> Option<GroupService> {
        self.broker.groups.get().cloned()
    }

    /// Partitions group ids are hashed over (`__consumer_offsets`' count).
    pub fn offsets_topic_partitions(&self) -> i32 {
        crate::group_service::offsets_topic_partitions(&self.broker)
    }
}
