//! Keeps the ISR of every partition led here true to its followers, as Kafka's
//! leader does: a follower not caught up for `replica.lag.time.max.ms` leaves the
//! ISR, one that reached the high watermark rejoins, each change asked of the active
//! controller with AlterPartition and applied when the metadata publisher brings the
//! committed change back. One task for all partitions: it wakes every half lag time,
//! and at once when a follower's fetch suggests it may rejoin, and looks only at the
//! partitions the [`IsrWatch`](crate::isr_watch::IsrWatch) gives (marked, or with a
//! follower lag deadline passed), not at every partition led here.

use crate::broker::Broker;
use crate::partition::Partition;
use moldau_metadata::controller::AlterPartitionRequest;
use moldau_protocol::ResponseError;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Shortest pause between two looks, however often followers catch up.
const ISR_CHECK_INTERVAL_MIN: Duration = Duration::from_millis(50);

/// Starts the task; it ends with the broker.
pub(crate) fn start(broker: &Arc<Broker>) {
    let lag_max_ms = broker.config.long("replica.lag.time.max.ms").max(1);
    let interval = Duration::from_millis((lag_max_ms / 2).max(1) as u64);
    let wake = Arc::clone(&broker.replicas.isr_check);
    let weak = Arc::downgrade(broker);
    tokio::spawn(async move {
        loop {
            let _ = tokio::time::timeout(interval, wake.notified()).await;
            let Some(broker) = weak.upgrade() else { return };
            for (partition, request) in proposals(&broker, lag_max_ms) {
                match broker.controller.alter_partition(&request).await {
                    Ok(Ok(reply)) => {
                        tracing::debug!(partition = request.partition, isr = ?reply.isr, "ISR change committed")
                    }
                    Ok(Err(refused)) => {
                        // Refused on a stale state: the image bringing the newer one
                        // ends the wait; refused for good: the followers asked for
                        // no longer hold the high watermark.
                        let stale = matches!(
                            refused.error,
                            ResponseError::InvalidUpdateVersion
                                | ResponseError::FencedLeaderEpoch
                                | ResponseError::NotLeaderOrFollower
                                | ResponseError::NotController
                        );
                        if !stale {
                            partition.forget_pending_isr();
                        }
                        // A fenced follower is asked back every check until it
                        // unfences: routine, not news.
                        if stale || refused.error == ResponseError::IneligibleReplica {
                            tracing::debug!(partition = request.partition, error = %refused, "ISR change refused")
                        } else {
                            tracing::info!(partition = request.partition, error = %refused, "ISR change refused")
                        }
                    }
                    Err(e) => {
                        tracing::warn!(partition = request.partition, error = %e, "ISR change not sent")
                    }
                }
            }
            drop(broker);
            tokio::time::sleep(ISR_CHECK_INTERVAL_MIN).await;
        }
    });
}

/// The ISR changes the partitions led here need now.
fn proposals(broker: &Broker, lag_max_ms: i64) -> Vec<(Arc<Partition>, AlterPartitionRequest)> {
    let image = broker.metadata.image();
    let broker_epoch = image.broker(broker.node_id).map_or(-1, |b| b.epoch);
    let now_ms = crate::clock::now_ms();
    let mut out = Vec::new();
    let watch = &broker.replicas.isr_watch;
    for tp in watch.take(now_ms) {
        let Some(partition) = broker.replicas.get(&tp) else {
            continue;
        };
        if !partition.is_leader() {
            // Marked again when it leads again.
            continue;
        }
        let progress = partition.progress();
        // Looked at again when a follower could lag (sooner if marked); a follower
        // lagging already keeps it due until its ISR change is through.
        watch.schedule(&tp, progress.next_lag_check_ms(lag_max_ms));
        let Some(topic) = image.topic(&partition.tp.topic) else {
            continue;
        };
        let Some(p) = topic.partitions.get(&partition.tp.partition) else {
            continue;
        };
        // Only from the state this leader was given, else the controller refuses.
        if p.leader != broker.node_id || p.leader_epoch != partition.leader_epoch() {
            continue;
        }
        let lagging: BTreeSet<i32> = progress.lagging(now_ms, lag_max_ms).into_iter().collect();
        let rejoining = progress.caught_up(partition.high_watermark(), now_ms, lag_max_ms);
        if lagging.is_empty() && rejoining.is_empty() {
            continue;
        }
        let new_isr: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| {
                *r == broker.node_id
                    || (p.isr.contains(r) && !lagging.contains(r))
                    || rejoining.contains(r)
            })
            .collect();
        let mut current = p.isr.clone();
        current.sort_unstable();
        let mut proposed = new_isr.clone();
        proposed.sort_unstable();
        if proposed == current {
            continue;
        }
        tracing::info!(partition = %partition.tp, isr = ?p.isr, proposed = ?new_isr, "asking to change the ISR");
        partition.expect_isr_members(&rejoining);
        out.push((
            partition,
            AlterPartitionRequest {
                broker_id: broker.node_id,
                broker_epoch,
                topic_id: topic.id,
                partition: p.partition,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr,
            },
        ));
    }
    out
}
