//! Drives the group coordinator state machine: one task owns it, feeds it requests
//! and time, appends the records it emits to `__consumer_offsets`, and releases its
//! replies once those records are durable. It holds the offsets partitions this node
//! leads: on start, and whenever their leadership changes, it replays the newly led
//! ones (so groups and offsets survive restarts and move with leadership) and drops
//! the ones led elsewhere (their groups then answer NOT_COORDINATOR).

use crate::broker::Broker;
use crate::controller::OFFSETS_TOPIC;
use crate::offsets_leadership::CoordinatorSync;
use crate::request::CloseConnection;
use bytes::{Bytes, BytesMut};
use moldau_coordinator::{
    AppendId, Effect, GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, ReplyId,
    RequestContext as GroupContext, TopicCatalog, TxnProducer,
};
use moldau_log::AppendOrigin;
use moldau_metadata::MetadataImage;
use moldau_protocol::batch::BatchView;
use moldau_protocol::batch_encode::{encode_plain_batch, encode_transactional_batch, KeyValue};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::control_record::read_control_batch;
use moldau_protocol::record::{parse_records, record_data};
use moldau_protocol::ResponseError;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Bound on queued group requests before callers wait.
const GROUP_REQUESTS_QUEUED_MAX: usize = 4096;
/// How often timers are checked at the latest, in case no deadline is known.
const TICK_INTERVAL_MAX: Duration = Duration::from_millis(500);

enum Command {
    Request {
        ctx: GroupContext,
        /// Boxed: requests are large and the other commands tiny.
        request: Box<GroupRequest>,
        reply: oneshot::Sender<GroupResponse>,
    },
    /// Load any offsets partition not loaded yet (after the topic was created).
    LoadPartitions,
    AppendDone {
        id: AppendId,
        error_code: i16,
    },
    /// A transaction marker of `producer_id` is durable on offsets partition
    /// `partition`: the offsets its transaction committed there become visible.
    TxnCompleted {
        partition: i32,
        producer_id: i64,
        commit: bool,
    },
}

/// Handle to the coordinator task.
#[derive(Clone)]
pub struct GroupService {
    tx: mpsc::Sender<Command>,
}

impl GroupService {
    /// Starts the coordinator task. It holds the broker weakly, so it ends with it.
    pub fn start(broker: &Arc<Broker>) -> Self {
        let (tx, rx) = mpsc::channel(GROUP_REQUESTS_QUEUED_MAX);
        let config = group_config(broker);
        let worker = Worker {
            broker: Arc::downgrade(broker),
            coordinator: GroupCoordinator::new(config),
            loaded: HashSet::new(),
            pending_replies: HashMap::new(),
            next_reply: 0,
            self_tx: tx.clone(),
            topics_seen: None,
        };
        tokio::spawn(worker.run(rx));
        let service = GroupService { tx: tx.clone() };
        let _ = tx.try_send(Command::LoadPartitions);
        service
    }

    /// Queues a request for the coordinator (callers submit in request order); the
    /// receiver resolves with its response, which may come much later (JoinGroup).
    pub async fn submit(
        &self,
        ctx: GroupContext,
        request: GroupRequest,
    ) -> Result<oneshot::Receiver<GroupResponse>, CloseConnection> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Request {
                ctx,
                request: Box::new(request),
                reply,
            })
            .await
            .map_err(|_| CloseConnection("group coordinator stopped".into()))?;
        Ok(rx)
    }

    /// Reports a durable COMMIT (`commit`) or ABORT marker of `producer_id` on offsets
    /// partition `partition` (queued behind the requests submitted before it).
    pub async fn complete_transaction(
        &self,
        partition: i32,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), CloseConnection> {
        self.tx
            .send(Command::TxnCompleted {
                partition,
                producer_id,
                commit,
            })
            .await
            .map_err(|_| CloseConnection("group coordinator stopped".into()))
    }

    /// Asks the coordinator to load offsets partitions it has not loaded yet.
    pub fn load_partitions(&self) {
        let _ = self.tx.try_send(Command::LoadPartitions);
    }
}

fn group_config(broker: &Broker) -> GroupConfig {
    let c = &broker.config;
    GroupConfig {
        group_min_session_timeout_ms: c.int("group.min.session.timeout.ms"),
        group_max_session_timeout_ms: c.int("group.max.session.timeout.ms"),
        group_initial_rebalance_delay_ms: c.int("group.initial.rebalance.delay.ms"),
        group_max_size: c.int("group.max.size"),
        offsets_retention_minutes: c.long("offsets.retention.minutes"),
        offsets_retention_check_interval_ms: c.long("offsets.retention.check.interval.ms"),
        offsets_topic_num_partitions: offsets_topic_partitions(broker),
        consumer_heartbeat_interval_ms: c.int("group.consumer.heartbeat.interval.ms"),
        consumer_session_timeout_ms: c.int("group.consumer.session.timeout.ms"),
        consumer_max_size: c.int("group.consumer.max.size"),
        consumer_assignors: c.consumer_assignors(),
        consumer_migration_policy: c.consumer_migration_policy(),
        ..GroupConfig::default()
    }
}

/// Partitions group ids are hashed over: the offsets topic's actual count once it
/// exists (changing `offsets.topic.num.partitions` later must not move groups), else
/// the count it will be created with.
pub(crate) fn offsets_topic_partitions(broker: &Broker) -> i32 {
    match broker.metadata.image().topic(OFFSETS_TOPIC) {
        Some(t) => t.partitions.len() as i32,
        None => broker.config.settings.offsets_topic_num_partitions,
    }
}

struct Worker {
    broker: Weak<Broker>,
    coordinator: GroupCoordinator,
    loaded: HashSet<i32>,
    pending_replies: HashMap<u64, oneshot::Sender<GroupResponse>>,
    next_reply: u64,
    self_tx: mpsc::Sender<Command>,
    /// The metadata image the coordinator's topic catalog was last built from.
    topics_seen: Option<Arc<MetadataImage>>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let now = crate::clock::now_ms();
            let sleep_for = self
                .coordinator
                .next_deadline_ms()
                .map(|d| Duration::from_millis((d - now).max(0) as u64))
                .unwrap_or(TICK_INTERVAL_MAX)
                .min(TICK_INTERVAL_MAX);
            self.sync_topics();
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
                _ = tokio::time::sleep(sleep_for) => {
                    let effects = self.coordinator.tick(crate::clock::now_ms());
                    self.apply(effects);
                }
            }
            if self.broker.strong_count() == 0 {
                return;
            }
        }
    }

    /// Hands the coordinator the topics of a new metadata image, so consumer groups
    /// follow created, grown and deleted topics (checked at every wake-up, at least
    /// every `TICK_INTERVAL_MAX`).
    fn sync_topics(&mut self) {
        let Some(broker) = self.broker.upgrade() else {
            return;
        };
        let image = broker.metadata.image();
        if self
            .topics_seen
            .as_ref()
            .is_some_and(|seen| Arc::ptr_eq(seen, &image))
        {
            return;
        }
        let mut catalog = TopicCatalog::default();
        for t in image.topics().filter(|t| !t.internal) {
            // Racks of each partition's replicas, for rack-aware assignment.
            let racks: Vec<BTreeSet<String>> = t
                .partitions
                .values()
                .map(|p| {
                    p.replicas
                        .iter()
                        .filter_map(|id| image.broker(*id)?.rack.clone())
                        .collect()
                })
                .collect();
            catalog.insert_with_racks(&t.name, t.id.as_uuid(), t.partitions.len() as i32, racks);
        }
        self.topics_seen = Some(image);
        let effects = self
            .coordinator
            .update_topics(crate::clock::now_ms(), catalog);
        self.apply(effects);
    }

    fn on_command(&mut self, cmd: Command) {
        let now = crate::clock::now_ms();
        match cmd {
            Command::Request {
                ctx,
                request,
                reply,
            } => {
                // The publisher queues a sync when offsets leadership changes; a request
                // racing that (or a sync dropped on a full queue) syncs here first.
                self.load_partitions();
                self.sync_topics();
                self.next_reply += 1;
                let id = self.next_reply;
                self.pending_replies.insert(id, reply);
                let effects = self.coordinator.handle(now, ctx, ReplyId(id), *request);
                self.apply(effects);
            }
            Command::LoadPartitions => self.load_partitions(),
            Command::AppendDone { id, error_code } => {
                let effects = self.coordinator.append_completed(now, id, error_code);
                self.apply(effects);
            }
            Command::TxnCompleted {
                partition,
                producer_id,
                commit,
            } => {
                let effects =
                    self.coordinator
                        .complete_transaction(now, partition, producer_id, commit);
                self.apply(effects);
            }
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Reply { id, response } => {
                    if let Some(broker) = self.broker.upgrade() {
                        broker.metrics.observe_group_response(&response);
                    }
                    if let Some(tx) = self.pending_replies.remove(&id.0) {
                        let _ = tx.send(response);
                    }
                }
                Effect::Append {
                    id,
                    partition,
                    records,
                    transaction,
                } => self.append(id, partition, records, transaction),
            }
        }
    }

    /// Appends in the coordinator's order; durability is awaited off the task.
    fn append(
        &mut self,
        id: AppendId,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        transaction: Option<TxnProducer>,
    ) {
        let done = self.self_tx.clone();
        let fail = |code: i16| {
            let done = done.clone();
            tokio::spawn(async move {
                let _ = done
                    .send(Command::AppendDone {
                        id,
                        error_code: code,
                    })
                    .await;
            });
        };
        let Some(broker) = self.broker.upgrade() else {
            return;
        };
        // Only the partition's leader writes it: a follower's copy is not the log.
        let image = broker.metadata.image();
        let led_here =
            crate::leadership::check_leader(&image, broker.node_id, OFFSETS_TOPIC, partition, -1)
                .is_ok();
        let target = broker.replicas.get_by_name(OFFSETS_TOPIC, partition);
        let Some(target) = target.filter(|_| led_here) else {
            fail(ResponseError::NotCoordinator.code());
            return;
        };
        let mut batch = match encode_records(&records, transaction) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("encoding group records: {e}");
                fail(ResponseError::UnknownServerError.code());
                return;
            }
        };
        // Transactional offsets carry the client's producer id and epoch but no
        // sequence: the log checks only their epoch (Kafka's COORDINATOR origin).
        let origin = match transaction {
            Some(_) => AppendOrigin::Coordinator,
            None => AppendOrigin::Client,
        };
        // Acks=all, as Kafka's coordinator writes: an acknowledged commit is on every
        // in-sync replica, so it survives this broker.
        let timeout =
            Duration::from_millis(broker.config.settings.offsets_commit_timeout_ms.max(1) as u64);
        match crate::coordinator_write::append_replicated(&target, &mut batch, origin, timeout) {
            Ok(replicated) => {
                tokio::spawn(async move {
                    let code = replicated.await;
                    let _ = done
                        .send(Command::AppendDone {
                            id,
                            error_code: code,
                        })
                        .await;
                });
            }
            Err(e) => {
                let error = e.response_error();
                // A fenced producer's offsets or too few in-sync replicas are answered
                // to the client; only a storage fault is the broker's.
                if error == ResponseError::KafkaStorageError {
                    tracing::error!("appending group records: {e}");
                } else {
                    tracing::debug!("group records refused: {e}");
                }
                fail(error.code());
            }
        }
    }

    /// Holds exactly the offsets partitions this node leads: resigns the ones led
    /// elsewhere now (their waiting requests get NOT_COORDINATOR, and requests for
    /// their groups from then on), and replays the newly led ones that are hosted.
    fn load_partitions(&mut self) {
        let Some(broker) = self.broker.upgrade() else {
            return;
        };
        let image = broker.metadata.image();
        let sync = CoordinatorSync::new(&image, broker.node_id, &self.loaded);
        if sync.is_empty() {
            return;
        }
        // One line per change of leadership, not one per partition (50 by default).
        let resigned = sync.resign.len();
        for p in sync.resign {
            let effects = self.coordinator.resign(p);
            self.loaded.remove(&p);
            tracing::debug!(
                partition = p,
                "unloaded __consumer_offsets partition led elsewhere"
            );
            self.apply(effects);
        }
        if resigned > 0 {
            tracing::info!(
                partitions = resigned,
                "unloaded __consumer_offsets partitions led elsewhere"
            );
        }
        let now = crate::clock::now_ms();
        let started = std::time::Instant::now();
        let mut partitions_loaded = 0usize;
        let mut records_total = 0u64;
        for p in sync.load {
            let Some(partition) = broker.replicas.get_by_name(OFFSETS_TOPIC, p) else {
                continue;
            };
            self.coordinator.begin_loading(p);
            let mut records_loaded = 0u64;
            crate::coordinator_replay::replay_batches(
                &partition.log.read(),
                OFFSETS_TOPIC,
                p,
                |view| records_loaded += self.replay_batch(p, view),
            );
            let effects = self.coordinator.finish_loading(p, now);
            self.loaded.insert(p);
            self.apply(effects);
            partitions_loaded += 1;
            records_total += records_loaded;
            tracing::debug!(
                partition = p,
                records = records_loaded,
                "loaded group metadata"
            );
        }
        if partitions_loaded > 0 {
            tracing::info!(
                partitions = partitions_loaded,
                records = records_total,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded __consumer_offsets partitions"
            );
        }
    }
}

impl Worker {
    /// Feeds one batch's records to the coordinator; a batch whose records cannot be
    /// read is skipped (and counted) so that the groups after it still load. A
    /// transaction's offsets wait for its marker (a control batch).
    fn replay_batch(&mut self, partition: i32, view: &BatchView<'_>) -> u64 {
        if view.is_control() {
            match read_control_batch(view) {
                Ok((_, Some(marker))) => {
                    self.coordinator
                        .load_txn_marker(partition, view.producer_id(), marker.commit)
                }
                Ok((_, None)) => {}
                Err(_) => self
                    .coordinator
                    .skip_undecodable_batch(partition, view.base_offset()),
            }
            return 0;
        }
        let data = record_data(view, DECOMPRESSED_BATCH_BYTES_MAX);
        let records = data
            .as_ref()
            .ok()
            .and_then(|d| parse_records(d, view.records_count()).ok());
        let records = match records {
            Some(r) => r,
            // Counted, and logged once per partition when its replay finishes.
            None => {
                self.coordinator
                    .skip_undecodable_batch(partition, view.base_offset());
                return 0;
            }
        };
        let transaction = view.is_transactional().then(|| view.producer_id());
        for r in &records {
            let offset = view.base_offset() + i64::from(r.offset_delta);
            match transaction {
                Some(producer_id) => self.coordinator.load_transactional_record(
                    partition,
                    producer_id,
                    offset,
                    r.key,
                    r.value,
                ),
                None => self
                    .coordinator
                    .load_record(partition, offset, r.key, r.value),
            }
        }
        records.len() as u64
    }
}

/// One uncompressed batch holding the coordinator's records, part of `transaction`
/// when set.
fn encode_records(
    records: &[(Bytes, Option<Bytes>)],
    transaction: Option<TxnProducer>,
) -> Result<BytesMut, String> {
    let records: Vec<KeyValue> = records
        .iter()
        .map(|(k, v)| (Some(k.clone()), v.clone()))
        .collect();
    let now = crate::clock::now_ms();
    match transaction {
        Some(t) => encode_transactional_batch(&records, now, t.producer_id, t.producer_epoch),
        None => encode_plain_batch(&records, now),
    }
}
