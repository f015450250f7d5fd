//! One replica fetcher: a thread that fetches its share of the partitions this
//! broker follows from one leader, with Fetch v15 (the replica id and broker epoch
//! in ReplicaState, KIP-903) over the leader's inter-broker listener, and appends
//! the leader's batches exactly as stored (same offsets, bytes and leader epochs).
//! A diverging epoch in the answer truncates the log first; errors back off.

use crate::fetch_failure_log::FetchFailureLog;
use crate::leader_connection::{LeaderConnection, LeaderConnectionError};
use crate::metadata_quorum::MetadataQuorum;
use crate::partition::Partition;
use crate::replica_fetchers::ReplicaFetchSettings;
use moldau_log::TopicPartition;
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use moldau_protocol::kafka::messages::fetch_response::PartitionData;
use moldau_protocol::kafka::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse};
use moldau_protocol::ResponseError;
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Fetch version replicas send: ReplicaState (KIP-903), topic ids.
const REPLICA_FETCH_VERSION: i16 = 15;
/// Beyond `replica.fetch.response.max.bytes`, room for the response's own fields and
/// the one batch a leader may send past the budget so a fetch always progresses.
const RESPONSE_FRAME_SLACK_BYTES: usize = 64 << 20;
/// How long an idle fetcher sleeps before looking for partitions again.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Sessionless fetch (full request each time).
const SESSIONLESS_EPOCH: i32 = -1;

/// What every fetcher needs from the broker.
#[derive(Clone)]
pub struct FetcherContext {
    pub node_id: i32,
    pub inter_broker_listener: String,
    /// Set when the inter-broker listener is SSL or SASL_SSL.
    pub inter_broker_tls: Option<crate::tls_connector::TlsConnector>,
    /// Set when the inter-broker listener uses SASL.
    pub inter_broker_sasl: Option<moldau_security::sasl_client::SaslClientCredentials>,
    pub metadata: Arc<MetadataQuorum>,
    pub settings: ReplicaFetchSettings,
}

/// A partition being fetched.
#[derive(Clone)]
pub struct Followed {
    pub partition: Arc<Partition>,
    pub topic_id: uuid::Uuid,
    pub leader_epoch: i32,
    /// Not fetched again before this (after an error).
    pub retry_at: Option<Instant>,
}

/// A fetcher's partitions, shared with the manager.
pub struct FetcherShared {
    pub leader: i32,
    partitions: Mutex<BTreeMap<TopicPartition, Followed>>,
    wake: Condvar,
    stopped: AtomicBool,
}

impl FetcherShared {
    pub fn new(leader: i32) -> Self {
        FetcherShared {
            leader,
            partitions: Mutex::new(BTreeMap::new()),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn insert(&self, followed: Followed) {
        self.partitions
            .lock()
            .insert(followed.partition.tp.clone(), followed);
        self.wake.notify_all();
    }

    pub fn remove(&self, tp: &TopicPartition) {
        self.partitions.lock().remove(tp);
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.lock().is_empty()
    }

    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.partitions.lock().keys().cloned().collect()
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The partitions due for fetching now; waits a little when there are none.
    fn due(&self) -> Vec<Followed> {
        let mut partitions = self.partitions.lock();
        let now = Instant::now();
        let due: Vec<Followed> = partitions
            .values()
            .filter(|f| f.retry_at.is_none_or(|t| t <= now))
            .cloned()
            .collect();
        if due.is_empty() && !self.is_stopped() {
            self.wake.wait_for(&mut partitions, IDLE_WAIT);
        }
        due
    }

    /// Backs `tp` off until `until`, if it is still followed at `epoch`.
    fn back_off(&self, tp: &TopicPartition, epoch: i32, until: Instant) {
        if let Some(f) = self.partitions.lock().get_mut(tp) {
            if f.leader_epoch == epoch {
                f.retry_at = Some(until);
            }
        }
    }

    /// Whether `tp` is still followed from this leader at `epoch`.
    fn still_follows(&self, tp: &TopicPartition, epoch: i32) -> bool {
        self.partitions
            .lock()
            .get(tp)
            .is_some_and(|f| f.leader_epoch == epoch)
    }
}

pub fn spawn(shared: Arc<FetcherShared>, context: FetcherContext, index: usize) {
    let name = format!("replica-fetcher-{}-{index}", shared.leader);
    let spawned = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || Fetcher::new(shared, context, name).run());
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start a replica fetcher thread");
    }
}

struct Fetcher {
    shared: Arc<FetcherShared>,
    context: FetcherContext,
    client_id: String,
    connection: Option<LeaderConnection>,
    failures: FetchFailureLog,
}

impl Fetcher {
    fn new(shared: Arc<FetcherShared>, context: FetcherContext, client_id: String) -> Self {
        Fetcher {
            shared,
            context,
            client_id,
            connection: None,
            failures: FetchFailureLog::default(),
        }
    }

    fn run(mut self) {
        tracing::info!(leader = self.shared.leader, "replica fetcher started");
        while !self.shared.is_stopped() {
            let due = self.shared.due();
            if due.is_empty() {
                continue;
            }
            match self.fetch_once(&due) {
                Ok(()) => {
                    if let Some(failures) = self.failures.succeeded() {
                        tracing::info!(
                            leader = self.shared.leader,
                            failures,
                            "replica fetch works again"
                        );
                    }
                }
                Err(e) => {
                    if self.failures.failed() {
                        tracing::warn!(leader = self.shared.leader, error = %e, "replica fetch failed; backing off (retries logged at DEBUG until the leader answers)");
                    } else {
                        tracing::debug!(leader = self.shared.leader, error = %e, "replica fetch failed again; backing off");
                    }
                    self.connection = None;
                    self.sleep(self.context.settings.backoff);
                }
            }
        }
        tracing::info!(leader = self.shared.leader, "replica fetcher stopped");
    }

    /// Sleeps up to `d`, waking early when stopped.
    fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        while !self.shared.is_stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(IDLE_WAIT));
        }
    }

    /// The leader's inter-broker address and this broker's epoch, from the image.
    fn leader_address(&self) -> Result<(String, i64), LeaderConnectionError> {
        let image = self.context.metadata.image();
        let missing = |what: String| {
            LeaderConnectionError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, what))
        };
        let leader = image
            .broker(self.shared.leader)
            .ok_or_else(|| missing(format!("broker {} not registered", self.shared.leader)))?;
        let (host, port) = match leader
            .listeners
            .iter()
            .find(|e| e.name == self.context.inter_broker_listener)
        {
            Some(e) => (e.host.clone(), i32::from(e.port)),
            None => {
                let (h, p) = leader.first_address();
                (h.to_string(), p)
            }
        };
        let epoch = image.broker(self.context.node_id).map_or(-1, |b| b.epoch);
        Ok((format!("{host}:{port}"), epoch))
    }

    fn fetch_once(&mut self, due: &[Followed]) -> Result<(), LeaderConnectionError> {
        let settings = &self.context.settings;
        let (addr, broker_epoch) = self.leader_address()?;
        if self.connection.is_none() {
            let response_max = (settings
                .response_bytes_max
                .max(settings.partition_bytes_max) as usize)
                .saturating_add(RESPONSE_FRAME_SLACK_BYTES);
            let io_timeout =
                settings.socket_timeout + Duration::from_millis(settings.wait_max_ms as u64);
            self.connection = Some(LeaderConnection::connect(
                &addr,
                self.context.inter_broker_tls.as_ref(),
                self.context.inter_broker_sasl.as_ref(),
                &self.client_id,
                settings.socket_timeout,
                io_timeout,
                response_max,
            )?);
        }
        let mut by_key: BTreeMap<(uuid::Uuid, i32), &Followed> = BTreeMap::new();
        let mut topics: BTreeMap<uuid::Uuid, Vec<FetchPartition>> = BTreeMap::new();
        for f in due {
            let (fetch_offset, log_start, last_epoch) = {
                let log = f.partition.log.read();
                (
                    log.log_end_offset(),
                    log.log_start_offset(),
                    log.latest_epoch().unwrap_or(-1),
                )
            };
            by_key.insert((f.topic_id, f.partition.tp.partition), f);
            topics.entry(f.topic_id).or_default().push(
                FetchPartition::default()
                    .with_partition(f.partition.tp.partition)
                    .with_current_leader_epoch(f.leader_epoch)
                    .with_fetch_offset(fetch_offset)
                    .with_last_fetched_epoch(last_epoch)
                    .with_log_start_offset(log_start)
                    .with_partition_max_bytes(settings.partition_bytes_max),
            );
        }
        let request = FetchRequest::default()
            .with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(self.context.node_id))
                    .with_replica_epoch(broker_epoch),
            )
            .with_max_wait_ms(settings.wait_max_ms)
            .with_min_bytes(settings.min_bytes)
            .with_max_bytes(settings.response_bytes_max)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(SESSIONLESS_EPOCH)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(id, partitions)| {
                        FetchTopic::default()
                            .with_topic_id(id)
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let Some(connection) = self.connection.as_mut() else {
            return Ok(());
        };
        let response: FetchResponse =
            connection.call(ApiKey::Fetch, REPLICA_FETCH_VERSION, &request)?;
        if response.error_code != 0 {
            return Err(LeaderConnectionError::Codec(format!(
                "Fetch error {:?}",
                ResponseError::try_from_code(response.error_code)
            )));
        }
        for topic in response.responses {
            for data in topic.partitions {
                if let Some(f) = by_key.get(&(topic.topic_id, data.partition_index)) {
                    self.apply(f, data);
                }
            }
        }
        Ok(())
    }

    /// Applies one partition's answer: truncate, append, or back off.
    fn apply(&self, f: &Followed, data: PartitionData) {
        let tp = &f.partition.tp;
        let backoff = || {
            self.shared.back_off(
                tp,
                f.leader_epoch,
                Instant::now() + self.context.settings.backoff,
            )
        };
        if !self.shared.still_follows(tp, f.leader_epoch) {
            return;
        }
        let result = match ResponseError::try_from_code(data.error_code) {
            None if data.diverging_epoch.epoch >= 0 && data.diverging_epoch.end_offset >= 0 => self
                .truncate_diverged(
                    f,
                    data.diverging_epoch.epoch,
                    data.diverging_epoch.end_offset,
                ),
            None => {
                let records = data.records.unwrap_or_default();
                f.partition
                    .append_as_follower(&records, data.high_watermark, f.leader_epoch)
            }
            Some(ResponseError::OffsetOutOfRange) => {
                let end = f.partition.log_end_offset();
                if end < data.log_start_offset {
                    tracing::info!(partition = %tp, from = data.log_start_offset, "the leader's log starts later: restarting the log there");
                    f.partition
                        .truncate_fully_and_start_at(data.log_start_offset, f.leader_epoch)
                } else {
                    tracing::info!(partition = %tp, to = data.high_watermark, "ahead of the leader: truncating to its high watermark");
                    f.partition
                        .truncate_to(data.high_watermark.max(0), f.leader_epoch)
                }
            }
            Some(error) => {
                tracing::debug!(partition = %tp, ?error, "replica fetch refused");
                backoff();
                return;
            }
        };
        if let Err(e) = result {
            tracing::warn!(partition = %tp, error = %e, "replicating failed; backing off");
            backoff();
        }
    }

    /// The leader's log holds epoch `epoch` only up to `end_offset` (below what this
    /// replica has): remove what this replica wrote beyond it.
    fn truncate_diverged(
        &self,
        f: &Followed,
        epoch: i32,
        end_offset: i64,
    ) -> Result<(), crate::error::BrokerError> {
        let local = f.partition.log.read().end_offset_for_epoch(epoch);
        let to = match local {
            Some((_, local_end)) => end_offset.min(local_end),
            None => end_offset,
        };
        tracing::info!(partition = %f.partition.tp, epoch, leader_end = end_offset, to, "log diverged from the leader's: truncating");
        f.partition.truncate_to(to, f.leader_epoch)
    }
}
