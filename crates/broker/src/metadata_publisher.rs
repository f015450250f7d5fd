//! The metadata publisher: the one place where a committed metadata delta reaches
//! the broker's services (partitions hosted or dropped, coordinator partitions
//! loaded, metrics forgotten). It follows the images the quorum applies on this
//! node, leader or not; writers commit through `commit`, which returns once the
//! publisher has acted on the change. Start-up publishes the whole image as one
//! delta.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_topics;
use crate::partition::ProduceLimits;
use crate::publish_plan::{role_of, PublishPlan, Role};
use crate::replica_manager::Assignment;
use moldau_log::LogConfig;
use moldau_log::TopicPartition;
use moldau_metadata::controller::{shows_alteration, ConfigAlteration};
use moldau_metadata::{
    MetadataDelta, MetadataImage, MetadataRecord, PartitionImage, TopicId, TopicImage,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

impl Broker {
    /// Commits `records` through the active controller as one entry and returns
    /// once this node's publisher has acted on it (its partitions are hosted), or,
    /// when this node lags, once the write timeout passed: the change is committed
    /// either way, and a committed change is answered as made (as Kafka's brokers
    /// answer once the controller committed).
    pub async fn commit(
        &self,
        records: &[MetadataRecord],
    ) -> Result<Arc<MetadataImage>, BrokerError> {
        let applied = self.controller.write(records).await?;
        let offset = applied.offset as i64;
        let published = self.published.subscribe();
        if !published_within(published, offset, self.metadata.write_timeout()).await {
            tracing::info!(
                offset,
                "answering a committed metadata change this broker has not applied yet"
            );
        }
        Ok(self.metadata.image())
    }

    /// Waits, at most the write timeout, until this node has published the creation
    /// of topic `id`, so the client's next request here finds its partitions; then
    /// answers anyway (the controller committed it).
    pub(crate) async fn await_topic_published(&self, id: TopicId) {
        let created = |i: &Arc<MetadataImage>| i.topic_by_id(&id).is_some();
        if !self.await_image_published(created).await {
            tracing::info!(topic_id = %id, "answering a created topic this broker has not applied yet");
        }
    }

    /// As [`Self::await_topic_published`], for the deletion of topic `id` (its
    /// partitions dropped here).
    pub(crate) async fn await_topic_removed(&self, id: TopicId) {
        let removed = |i: &Arc<MetadataImage>| i.topic_by_id(&id).is_none();
        if !self.await_image_published(removed).await {
            tracing::info!(topic_id = %id, "answering a deleted topic this broker has not applied yet");
        }
    }

    /// As [`Self::await_topic_published`], for a config change.
    pub(crate) async fn await_configs_published(&self, alteration: &ConfigAlteration) {
        let shown = |i: &Arc<MetadataImage>| shows_alteration(i, alteration);
        if !self.await_image_published(shown).await {
            tracing::info!(
                resource = %alteration.resource_name,
                "answering a config change this broker has not applied yet"
            );
        }
    }

    /// As [`Self::await_topic_published`], for ACL changes: once this node's image
    /// satisfies `shown` (bounded by the write timeout).
    pub(crate) async fn await_acls_shown(&self, shown: impl Fn(&MetadataImage) -> bool) {
        if !self.await_image_published(|i| shown(i)).await {
            tracing::info!("answering an ACL change this broker has not applied yet");
        }
    }

    /// Whether, within the write timeout, this node's image satisfies `reached` and
    /// its publisher has acted on that image.
    async fn await_image_published(&self, reached: impl Fn(&Arc<MetadataImage>) -> bool) -> bool {
        let mut images = self.metadata.subscribe();
        let published = self.published.subscribe();
        let wait = async {
            let offset = match images.wait_for(|i| reached(i)).await {
                Ok(image) => image.last_offset(),
                Err(_) => return false,
            };
            published_within(published, offset, self.metadata.write_timeout()).await
        };
        let reached = tokio::time::timeout(self.metadata.write_timeout(), wait).await;
        matches!(reached, Ok(true))
    }

    /// As [`Self::await_topic_published`], for `topic` grown to `count` partitions.
    pub(crate) async fn await_partitions_published(&self, topic: &str, count: i32) {
        let wanted = usize::try_from(count).unwrap_or(usize::MAX);
        let grown =
            |i: &Arc<MetadataImage>| i.topic(topic).is_none_or(|t| t.partitions.len() >= wanted);
        if !self.await_image_published(grown).await {
            tracing::info!(
                topic,
                count,
                "answering grown partitions this broker has not applied yet"
            );
        }
    }

    /// Follows the images applied on this node from `current`, publishing each
    /// change; stops with the quorum or the broker.
    pub(crate) fn start_publisher(self: &Arc<Self>, current: Arc<MetadataImage>) {
        let mut images = self.metadata.subscribe();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut current = current;
            while images.changed().await.is_ok() {
                let next = images.borrow_and_update().clone();
                if next.last_offset() <= current.last_offset() && *next == *current {
                    continue;
                }
                let Some(broker) = weak.upgrade() else { return };
                let delta = current.delta_to(&next);
                let published = Arc::clone(&next);
                let result = tokio::task::spawn_blocking(move || {
                    broker.publish(&published, &delta)?;
                    Ok::<_, BrokerError>(broker)
                })
                .await;
                match result {
                    Ok(Ok(broker)) => {
                        broker.published.send_replace(next.last_offset());
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "publishing a metadata change failed");
                        if let Some(broker) = weak.upgrade() {
                            // Waiters hear of the change; what failed was logged.
                            broker.published.send_replace(next.last_offset());
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "metadata publisher task failed"),
                }
                current = next;
            }
        });
    }

    /// Applies `delta` (which led to `image`) to the services.
    pub fn publish(
        &self,
        image: &Arc<MetadataImage>,
        delta: &MetadataDelta,
    ) -> Result<(), BrokerError> {
        let mut hosting = self.hosting.lock();
        self.publish_locked(image, delta)?;
        *hosting = Some(Arc::clone(image));
        Ok(())
    }

    fn publish_locked(
        &self,
        image: &MetadataImage,
        delta: &MetadataDelta,
    ) -> Result<(), BrokerError> {
        let plan = PublishPlan::new(image, delta, self.node_id);
        for name in &plan.forget_metrics {
            self.metrics.forget_topic(name);
        }
        for (topic, id, partition) in &plan.drop_partitions {
            let tp = TopicPartition {
                topic: topic.clone(),
                partition: *partition,
            };
            self.fetchers.unfollow(&tp);
            self.replicas.remove(&tp, id.0)?;
        }
        // Start-up publishes the whole image: nothing in it is new to this broker.
        let startup = *self.published.borrow() < 0;
        let may_create = |id: TopicId, partition: i32| {
            !startup && delta.created_partitions.contains(&(id, partition))
        };
        let mut jobs = Vec::new();
        for name in &plan.host_topics {
            self.hosting_jobs(image, name, &may_create, &|_| true, &mut jobs);
        }
        self.host_all(jobs);
        if plan.load_coordinators {
            // Queued before the commit returns, so a client's next group request
            // finds the partition loaded (or loading), or unloaded once led elsewhere.
            if let Some(groups) = self.groups.get() {
                groups.load_partitions();
            }
            if let Some(txns) = self.txns.get() {
                txns.load_partitions();
            }
        }
        Ok(())
    }

    /// The partitions of `topic` this node is a replica of, each to be hosted in its
    /// current role with the topic's current configuration.
    /// `is_new(topic id, partition)`: the partition was created by this change, so
    /// it cannot be in a log directory that failed at start-up.
    pub(crate) fn hosting_jobs<'a>(
        &self,
        image: &'a MetadataImage,
        topic: &str,
        is_new: &dyn Fn(TopicId, i32) -> bool,
        filter: &dyn Fn(&TopicPartition) -> bool,
        jobs: &mut Vec<HostJob<'a>>,
    ) {
        let Some(t) = image.topic(topic) else {
            return;
        };
        if internal_topics::is_hidden(topic) {
            // Left by an older version that let a client create it: the metadata
            // log is never hosted as a topic.
            tracing::warn!(topic, "not hosting a topic named like the metadata log");
            return;
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
            if !filter(&tp) || self.logs.is_recovering(&tp) {
                // Hosted once recovered (`host_recovered`), never created over.
                continue;
            }
            if self.logs.get(&tp).is_none() && !is_new(t.id, p.partition) {
                let failed = self.logs.failed_at_start();
                if !failed.is_empty() {
                    // Its log may be in a failed directory: an empty one created
                    // here would hide it (Kafka refuses too). Reported offline.
                    let dirs: Vec<String> = failed
                        .iter()
                        .map(|(d, _)| d.display().to_string())
                        .collect();
                    let reason = format!(
                        "not in any online log directory, and log directories {} failed at start-up",
                        dirs.join(", ")
                    );
                    self.logs.mark_partition_offline(&tp, &reason);
                    continue;
                }
            }
            jobs.push(HostJob {
                tp,
                topic: t,
                partition: p,
                role,
                config: config.clone(),
                limits,
            });
        }
    }

    /// Hosts every job's partition, several at once: each one creates or opens its
    /// files and fsyncs its leader-epoch checkpoint, waits that overlap. A partition
    /// that cannot be hosted is marked offline (reported to clients) and the rest are
    /// still hosted.
    pub(crate) fn host_all(&self, jobs: Vec<HostJob<'_>>) {
        let threads = jobs
            .len()
            .div_ceil(HOSTED_PER_THREAD_MIN)
            .clamp(1, HOSTING_THREADS_MAX);
        if threads == 1 {
            for job in &jobs {
                self.host_one(job);
            }
            return;
        }
        let next = AtomicUsize::new(0);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            self.host_one(job);
        };
        std::thread::scope(|s| {
            for i in 1..threads {
                let spawned = std::thread::Builder::new()
                    .name(format!("moldau-host-{i}"))
                    .spawn_scoped(s, work);
                if let Err(e) = spawned {
                    // Fewer helpers only make it slower; this thread still works.
                    tracing::warn!(error = %e, "hosting partitions on fewer threads");
                    break;
                }
            }
            work();
        });
    }

    fn host_one(&self, job: &HostJob<'_>) {
        let (tp, t, p) = (&job.tp, job.topic, job.partition);
        let (id, config) = (t.id.0, job.config.clone());
        let assignment = Assignment {
            leader_epoch: p.leader_epoch,
            replicas: &p.replicas,
            isr: &p.isr,
        };
        let hosted = match job.role {
            Role::Leader => {
                self.fetchers.unfollow(tp);
                self.replicas
                    .become_leader(tp, id, assignment, config, job.limits)
            }
            Role::Follower => {
                let hosted = self
                    .replicas
                    .become_follower(tp, id, assignment, config, job.limits);
                match &hosted {
                    Ok(partition) if p.leader >= 0 => self.fetchers.follow(
                        Arc::clone(partition),
                        t.id.as_uuid(),
                        p.leader,
                        p.leader_epoch,
                    ),
                    _ => self.fetchers.unfollow(tp),
                }
                hosted
            }
        };
        match hosted {
            Ok(_) => {}
            Err(BrokerError::Log(moldau_log::LogError::Recovering(_))) => {
                // Hosted by `host_recovered` once its recovery finishes.
                tracing::debug!(partition = %tp, "hosted once recovered");
            }
            Err(e) => {
                // One partition that cannot be hosted must not stop the others.
                self.logs.mark_partition_offline(tp, &e.to_string());
            }
        }
    }
}

/// Most threads hosting partitions at once. Hosting is mostly waiting for the disk
/// (directory and file creation, fsyncs), and concurrent fsyncs share the device's
/// work: on this project's 2-core VM, 1 000 appends each fdatasynced took 261 ms on 2
/// threads and 91 ms on 16.
const HOSTING_THREADS_MAX: usize = 16;

/// A change hosting fewer partitions than this per thread uses fewer threads (a
/// leadership change of one partition spawns none).
const HOSTED_PER_THREAD_MIN: usize = 8;

/// One partition to host: where it is in the image and in what role.
pub(crate) struct HostJob<'a> {
    tp: TopicPartition,
    topic: &'a TopicImage,
    partition: &'a PartitionImage,
    role: Role,
    config: LogConfig,
    limits: ProduceLimits,
}

/// Whether `published` reaches metadata offset `offset` within `bound`.
async fn published_within(
    mut published: tokio::sync::watch::Receiver<i64>,
    offset: i64,
    bound: std::time::Duration,
) -> bool {
    tokio::time::timeout(bound, published.wait_for(|p| *p >= offset))
        .await
        .is_ok_and(|r| r.is_ok())
}
