//! After an unclean shutdown the broker listens while its partitions are recovered;
//! each one is hosted (leader or follower, as the last published image says) as soon
//! as its recovery finishes, and a coordinator partition is loaded after that. Until
//! then clients get NOT_LEADER_OR_FOLLOWER (Produce, Fetch, ListOffsets) or
//! LEADER_NOT_AVAILABLE (Metadata), as Kafka answers for a replica not online yet.

use crate::broker::Broker;
use crate::internal_topics::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
use moldau_log::TopicPartition;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

impl Broker {
    /// Hosts each partition as its recovery finishes; those finished already are
    /// hosted at once. Called once, after the start-up publish.
    pub(crate) fn host_as_recovered(self: &Arc<Self>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TopicPartition>();
        // The channel holds at most one entry per partition found at start.
        self.logs.on_recovered(Arc::new(move |tp| {
            let _ = tx.send(tp.clone());
        }));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut recovered = vec![first];
                while let Ok(tp) = rx.try_recv() {
                    recovered.push(tp);
                }
                let Some(broker) = weak.upgrade() else { return };
                let hosted =
                    tokio::task::spawn_blocking(move || broker.host_recovered(&recovered)).await;
                if let Err(e) = hosted {
                    tracing::error!(error = %e, "hosting recovered partitions failed");
                }
            }
        });
    }

    /// Hosts the `recovered` partitions this node is a replica of in the last
    /// published image; removes those of topics deleted meanwhile (stray logs).
    fn host_recovered(&self, recovered: &[TopicPartition]) {
        let hosting = self.hosting.lock();
        let Some(image) = hosting.as_ref().map(Arc::clone) else {
            // Start-up publishes before asking to hear of recovered partitions.
            unreachable!("recovered partitions heard of before the first publish");
        };
        let wanted: HashSet<&TopicPartition> = recovered.iter().collect();
        let topics: BTreeSet<&str> = recovered.iter().map(|tp| tp.topic.as_str()).collect();
        let mut jobs = Vec::new();
        for topic in topics {
            self.hosting_jobs(
                &image,
                topic,
                &|_, _| false,
                &|tp| wanted.contains(tp) && self.replicas.get(tp).is_none(),
                &mut jobs,
            );
        }
        self.host_all(jobs);
        if self.metadata.caught_up_at_start() {
            for tp in recovered {
                if let Err(e) = self.replicas.remove_if_stray(tp, &image) {
                    tracing::warn!(partition = %tp, error = %e, "removing a stray log failed");
                }
            }
        }
        drop(hosting);
        let (remaining, finished) = self.logs.recovery_progress();
        tracing::debug!(
            partitions = recovered.len(),
            remaining,
            finished,
            "serving partitions recovered after an unclean shutdown"
        );
        if recovered
            .iter()
            .any(|tp| tp.topic == OFFSETS_TOPIC || tp.topic == TRANSACTION_STATE_TOPIC)
        {
            // Their coordinators load only hosted partitions: these are now.
            if let Some(groups) = self.groups.get() {
                groups.load_partitions();
            }
            if let Some(txns) = self.txns.get() {
                txns.load_partitions();
            }
        }
    }
}
