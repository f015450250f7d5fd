//! Hooks around rebalances. They run inside `poll`, so a listener can commit
//! offsets before its partitions move to another member.

use futures::future::BoxFuture;

use super::Consumer;
use crate::record::TopicPartition;

/// Told when partitions are assigned, revoked (handed over in order) or lost (taken
/// away without a chance to commit, e.g. after a missed session).
pub trait RebalanceListener: Send + Sync {
    /// Partitions are about to move away. Commit what was processed here.
    fn on_partitions_revoked<'a>(
        &'a self,
        consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        let _ = (consumer, partitions);
        Box::pin(async {})
    }

    /// Partitions now belong to this member.
    fn on_partitions_assigned<'a>(
        &'a self,
        consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        let _ = (consumer, partitions);
        Box::pin(async {})
    }

    /// Partitions were taken away already; committing for them will fail. By
    /// default this is reported as a revocation, as the Java client does.
    fn on_partitions_lost<'a>(
        &'a self,
        consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        self.on_partitions_revoked(consumer, partitions)
    }
}
