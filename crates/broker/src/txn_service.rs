//! Drives the transaction coordinator state machine: one task owns it, feeds it
//! requests and time, appends the records it emits to `__transaction_state`, answers
//! once they are durable, and hands marker jobs to the marker sender. Like the group
//! service it holds exactly the `__transaction_state` partitions this node leads,
//! replaying a partition when it becomes led here (so transactions survive restarts
//! and move with leadership).

use crate::broker::Broker;
use crate::controller::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
use crate::offsets_leadership::CoordinatorSync;
use crate::request::CloseConnection;
use bytes::{Bytes, BytesMut};
use moldau_coordinator::txn::TxnResponse;
use moldau_coordinator::txn::{TransactionCoordinator, TxnConfig, TxnEffect, TxnRequest};
use moldau_coordinator::{AppendId, ReplyId};
use moldau_log::AppendOrigin;
use moldau_protocol::batch_encode::encode_plain_batch;
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{parse_records, record_data};
use moldau_protocol::ResponseError;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Bound on queued transaction requests before callers wait.
const TXN_REQUESTS_QUEUED_MAX: usize = 4096;
/// How often timers are checked at the latest.
const TICK_INTERVAL_MAX: Duration = Duration::from_millis(500);
/// How long a `__transaction_state` write waits for the in-sync replicas: Kafka's
/// transaction coordinator waits `request.timeout.ms`, 30 s by default.
const TXN_STATE_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

enum Command {
    Request {
        request: TxnRequest,
        reply: oneshot::Sender<TxnResponse>,
    },
    /// A read of the coordinator's state (DescribeTransactions, ListTransactions).
    Inspect(Box<dyn FnOnce(&TransactionCoordinator) + Send>),
    LoadPartitions,
    AppendDone {
        id: AppendId,
        error_code: i16,
    },
    MarkersDone {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
    },
}

/// Handle to the transaction coordinator task.
#[derive(Clone)]
pub struct TxnService {
    tx: mpsc::Sender<Command>,
}

impl TxnService {
    /// Starts the coordinator task. It holds the broker weakly, so it ends with it.
    pub fn start(broker: &Arc<Broker>) -> Self {
        let (tx, rx) = mpsc::channel(TXN_REQUESTS_QUEUED_MAX);
        let worker = Worker {
            broker: Arc::downgrade(broker),
            coordinator: TransactionCoordinator::new(txn_config(broker)),
            loaded: HashSet::new(),
            pending_replies: HashMap::new(),
            next_reply: 0,
            self_tx: tx.clone(),
        };
        tokio::spawn(worker.run(rx));
        let _ = tx.try_send(Command::LoadPartitions);
        TxnService { tx }
    }

    /// Queues a request; the receiver resolves with its answer.
    pub async fn submit(
        &self,
        request: TxnRequest,
    ) -> Result<oneshot::Receiver<TxnResponse>, CloseConnection> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Request { request, reply })
            .await
            .map_err(|_| CloseConnection("transaction coordinator stopped".into()))?;
        Ok(rx)
    }

    /// Runs `read` on the coordinator's current state and returns what it returns.
    pub async fn inspect<T: Send + 'static>(
        &self,
        read: impl FnOnce(&TransactionCoordinator) -> T + Send + 'static,
    ) -> Result<T, CloseConnection> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Inspect(Box::new(move |c| {
                let _ = tx.send(read(c));
            })))
            .await
            .map_err(|_| CloseConnection("transaction coordinator stopped".into()))?;
        rx.await
            .map_err(|_| CloseConnection("transaction coordinator stopped".into()))
    }

    /// Asks the coordinator to follow `__transaction_state` leadership now.
    pub fn load_partitions(&self) {
        let _ = self.tx.try_send(Command::LoadPartitions);
    }

    /// The marker sender reports a transaction's markers all written.
    pub(crate) async fn markers_done(
        &self,
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
    ) {
        let _ = self
            .tx
            .send(Command::MarkersDone {
                transactional_id,
                producer_id,
                producer_epoch,
            })
            .await;
    }
}

/// Partitions transactional ids are hashed over: the topic's actual count once it
/// exists, else the count it will be created with.
pub fn transaction_state_partitions(broker: &Broker) -> i32 {
    match broker.metadata.image().topic(TRANSACTION_STATE_TOPIC) {
        Some(t) => t.partitions.len() as i32,
        None => broker.config.settings.transaction_state_num_partitions,
    }
}

fn txn_config(broker: &Broker) -> TxnConfig {
    let c = &broker.config;
    let image = broker.metadata.image();
    TxnConfig {
        transaction_max_timeout_ms: c.int("transaction.max.timeout.ms"),
        transactional_id_expiration_ms: i64::from(c.int("transactional.id.expiration.ms")),
        abort_timed_out_interval_ms: i64::from(
            c.int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
        ),
        remove_expired_interval_ms: i64::from(
            c.int("transaction.remove.expired.transaction.cleanup.interval.ms"),
        ),
        transaction_state_num_partitions: transaction_state_partitions(broker),
        offsets_topic_num_partitions: match image.topic(OFFSETS_TOPIC) {
            Some(t) => t.partitions.len() as i32,
            None => broker.config.settings.offsets_topic_num_partitions,
        },
    }
}

struct Worker {
    broker: Weak<Broker>,
    coordinator: TransactionCoordinator,
    loaded: HashSet<i32>,
    pending_replies: HashMap<u64, oneshot::Sender<TxnResponse>>,
    next_reply: u64,
    self_tx: mpsc::Sender<Command>,
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

    fn on_command(&mut self, cmd: Command) {
        let now = crate::clock::now_ms();
        match cmd {
            Command::Request { request, reply } => {
                self.load_partitions();
                self.next_reply += 1;
                let id = self.next_reply;
                self.pending_replies.insert(id, reply);
                let effects = self.coordinator.handle(now, ReplyId(id), request);
                self.apply(effects);
            }
            Command::Inspect(read) => {
                self.load_partitions();
                read(&self.coordinator);
            }
            Command::LoadPartitions => self.load_partitions(),
            Command::AppendDone { id, error_code } => {
                let effects = self.coordinator.append_completed(now, id, error_code);
                self.apply(effects);
            }
            Command::MarkersDone {
                transactional_id,
                producer_id,
                producer_epoch,
            } => {
                let effects = self.coordinator.markers_written(
                    now,
                    &transactional_id,
                    producer_id,
                    producer_epoch,
                );
                self.apply(effects);
            }
        }
    }

    fn apply(&mut self, effects: Vec<TxnEffect>) {
        for effect in effects {
            match effect {
                TxnEffect::Reply { id, response } => {
                    if let Some(tx) = self.pending_replies.remove(&id.0) {
                        let _ = tx.send(response);
                    }
                }
                TxnEffect::Append {
                    id,
                    partition,
                    key,
                    value,
                } => self.append(id, partition, key, value),
                TxnEffect::WriteMarkers(job) => {
                    if let Some(broker) = self.broker.upgrade() {
                        crate::txn_marker_sender::send_markers(&broker, job);
                    }
                }
            }
        }
    }

    /// Appends in the coordinator's order; durability is awaited off the task.
    fn append(&mut self, id: AppendId, partition: i32, key: Bytes, value: Option<Bytes>) {
        let done = self.self_tx.clone();
        let report = move |code: i16| {
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
        let image = broker.metadata.image();
        let led_here = crate::leadership::check_leader(
            &image,
            broker.node_id,
            TRANSACTION_STATE_TOPIC,
            partition,
            -1,
        )
        .is_ok();
        let target = broker
            .replicas
            .get_by_name(TRANSACTION_STATE_TOPIC, partition)
            .filter(|_| led_here);
        let Some(target) = target else {
            report(ResponseError::NotCoordinator.code());
            return;
        };
        let mut batch = match encode_record(key, value) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("encoding a transaction state record: {e}");
                report(ResponseError::UnknownServerError.code());
                return;
            }
        };
        // Acks=all, as Kafka's coordinator writes: the transaction's state is on every
        // in-sync replica before the client hears of it, so it survives this broker.
        let written = crate::coordinator_write::append_replicated(
            &target,
            &mut batch,
            AppendOrigin::Client,
            TXN_STATE_WRITE_TIMEOUT,
        );
        match written {
            Ok(replicated) => {
                let done = self.self_tx.clone();
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
                if e.response_error() == ResponseError::KafkaStorageError {
                    tracing::error!("appending a transaction state record: {e}");
                } else {
                    tracing::debug!("transaction state record refused: {e}");
                }
                report(e.response_error().code());
            }
        }
    }

    /// Holds exactly the `__transaction_state` partitions this node leads.
    fn load_partitions(&mut self) {
        let Some(broker) = self.broker.upgrade() else {
            return;
        };
        let image = broker.metadata.image();
        let sync = CoordinatorSync::for_topic(
            &image,
            TRANSACTION_STATE_TOPIC,
            broker.node_id,
            &self.loaded,
        );
        if sync.is_empty() {
            return;
        }
        for p in sync.resign {
            let effects = self.coordinator.resign(p);
            self.loaded.remove(&p);
            tracing::info!(
                partition = p,
                "unloaded __transaction_state partition led elsewhere"
            );
            self.apply(effects);
        }
        let now = crate::clock::now_ms();
        for p in sync.load {
            let Some(partition) = broker.replicas.get_by_name(TRANSACTION_STATE_TOPIC, p) else {
                continue;
            };
            let coordinator_epoch = image
                .topic(TRANSACTION_STATE_TOPIC)
                .and_then(|t| t.partitions.get(&p))
                .map_or(0, |p| p.leader_epoch);
            self.coordinator.begin_loading(p, coordinator_epoch);
            let skipped = self.replay(p, &partition.log.read());
            let effects = self.coordinator.finish_loading(p, now);
            self.loaded.insert(p);
            if skipped > 0 {
                tracing::warn!(
                    partition = p,
                    skipped,
                    "skipped undecodable __transaction_state records"
                );
            }
            self.apply(effects);
        }
    }

    /// Feeds the partition's records to the coordinator;
    /// returns how many could not be read.
    fn replay(&mut self, p: i32, log: &moldau_log::PartitionLog) -> u64 {
        let mut skipped = 0u64;
        crate::coordinator_replay::replay_batches(log, TRANSACTION_STATE_TOPIC, p, |view| {
            // Markers carry no transaction state.
            if view.is_control() {
                return;
            }
            let data = record_data(view, DECOMPRESSED_BATCH_BYTES_MAX);
            let records = data
                .as_ref()
                .ok()
                .and_then(|d| parse_records(d, view.records_count()).ok());
            let Some(records) = records else {
                skipped += 1;
                return;
            };
            for r in &records {
                let Some(key) = r.key else {
                    skipped += 1;
                    continue;
                };
                if !self.coordinator.load_record(p, key, r.value) {
                    skipped += 1;
                }
            }
        });
        skipped
    }
}

/// One uncompressed batch holding one coordinator record.
fn encode_record(key: Bytes, value: Option<Bytes>) -> Result<BytesMut, String> {
    encode_plain_batch(&[(Some(key), value)], crate::clock::now_ms())
}
