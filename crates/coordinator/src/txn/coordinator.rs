//! The transaction coordinator: owns the transactional ids of the
//! `__transaction_state` partitions this node leads and moves them through Kafka's
//! states. Every transition is written as one record; the in-memory state changes
//! (and the client is answered) only once that record is durable, and while it is in
//! flight the id takes no other transition (CONCURRENT_TRANSACTIONS).
//!
//! Driven from outside like the group coordinator: requests with [`TransactionCoordinator::handle`],
//! durability with [`TransactionCoordinator::append_completed`], finished markers with
//! [`TransactionCoordinator::markers_written`], and time with [`TransactionCoordinator::tick`].

use std::collections::{BTreeMap, HashMap};

use crate::codes;
use crate::effect::{AppendId, ReplyId};
use crate::partitioner::partition_for_group;
use crate::txn::config::TxnConfig;
use crate::txn::metadata::{
    TxnMetadata, TxnPartition, TRANSACTION_VERSION_0, TRANSACTION_VERSION_2,
};
use crate::txn::records::{TransactionLogKey, TransactionLogValue};
use crate::txn::request::{
    AddOffsets, AddPartitions, EndTxn, InitProducerId, MarkerJob, TxnEffect, TxnRequest,
    TxnResponse,
};
use crate::txn::state::TxnState;
use crate::wire::STRING_BYTES_MAX;

/// The group offsets topic, whose partitions AddOffsetsToTxn adds.
pub const OFFSETS_TOPIC_NAME: &str = "__consumer_offsets";
/// Longest a request waits for its transactional id's completing transaction
/// (markers being written) before it is answered CONCURRENT_TRANSACTIONS. Waiting
/// here instead of answering at once spares the client its retry backoff (100 ms in
/// librdkafka): back-to-back transactions no longer pay it each time.
pub const COMPLETION_WAIT_MS_MAX: i64 = 1_000;
/// Most requests one transactional id may have waiting.
const WAITING_PER_ID_MAX: usize = 16;
/// An epoch at or above this is exhausted: the next bump takes a new producer id
/// (Kafka keeps the last value free so that a fence can still bump once).
const PRODUCER_EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// Kafka's error codes for transactions (not used by the group coordinator).
mod txn_codes {
    use moldau_protocol::kafka::error::ResponseError as E;
    pub const INVALID_REQUEST: i16 = E::InvalidRequest.code();
    pub const INVALID_PRODUCER_EPOCH: i16 = E::InvalidProducerEpoch.code();
    pub const INVALID_TXN_STATE: i16 = E::InvalidTxnState.code();
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = E::InvalidProducerIdMapping.code();
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = E::InvalidTransactionTimeout.code();
    pub const CONCURRENT_TRANSACTIONS: i16 = E::ConcurrentTransactions.code();
    pub const PRODUCER_FENCED: i16 = E::ProducerFenced.code();
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = E::TransactionalIdNotFound.code();
}
pub use txn_codes::*;

/// Whether this node serves a `__transaction_state` partition yet.
enum PartitionStatus {
    /// Replaying; the last value of each id so far (`None` = removed).
    Loading {
        coordinator_epoch: i32,
        ids: BTreeMap<String, Option<TransactionLogValue>>,
    },
    Active {
        coordinator_epoch: i32,
    },
}

/// What to do once a written transition is durable.
#[derive(Debug)]
enum AfterWrite {
    /// Answer the client.
    Reply(ReplyId, TxnResponse),
    /// Nothing to answer (a timeout abort, an expiry).
    Nothing,
    /// A completion (CompleteCommit / CompleteAbort) after every marker is durable:
    /// the id takes the state at once and its next transition is not held for this
    /// record. Nothing depends on it being durable first: the id's next record is
    /// appended after it to the same partition, so that record's durability covers
    /// this one; and should it be lost, the PrepareCommit before it makes a new
    /// coordinator resend the (idempotent) markers and complete again. This saves a
    /// sequential fsync round per transaction.
    InBackground,
}

/// A transition written and not yet durable.
#[derive(Debug)]
struct PendingWrite {
    partition: i32,
    transactional_id: String,
    /// The state once durable; `None` removes the id (expiry).
    target: Option<TxnMetadata>,
    /// The id did not exist before this write (dropped again if it fails).
    created: bool,
    after: AfterWrite,
}

/// A request held until its id's transition completes (see
/// [`COMPLETION_WAIT_MS_MAX`]).
#[derive(Debug)]
struct Waiting {
    reply: ReplyId,
    request: TxnRequest,
    deadline_ms: i64,
}

/// Transaction coordinator (see the module docs).
pub struct TransactionCoordinator {
    config: TxnConfig,
    partitions: HashMap<i32, PartitionStatus>,
    txns: BTreeMap<String, TxnMetadata>,
    pending: HashMap<AppendId, PendingWrite>,
    next_append: u64,
    next_abort_check_ms: Option<i64>,
    next_expiry_check_ms: Option<i64>,
    /// Effects from calls that return none, handed out by the next call.
    deferred: Vec<TxnEffect>,
    /// Requests waiting for their id's transition, by transactional id.
    waiting: BTreeMap<String, Vec<Waiting>>,
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TransactionCoordinator {
            config,
            partitions: HashMap::new(),
            txns: BTreeMap::new(),
            pending: HashMap::new(),
            next_append: 0,
            next_abort_check_ms: None,
            next_expiry_check_ms: None,
            deferred: Vec::new(),
            waiting: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// The `__transaction_state` partition of `transactional_id`.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_for_group(
            transactional_id,
            self.config.transaction_state_num_partitions,
        )
    }

    /// Starts replaying `partition`, led here at `coordinator_epoch`; its ids answer
    /// COORDINATOR_LOAD_IN_PROGRESS until [`Self::finish_loading`].
    pub fn begin_loading(&mut self, partition: i32, coordinator_epoch: i32) {
        let dropped = self.resign(partition);
        self.deferred.extend(dropped);
        self.partitions.insert(
            partition,
            PartitionStatus::Loading {
                coordinator_epoch,
                ids: BTreeMap::new(),
            },
        );
    }

    /// Feeds one record of `partition` in log order. Records that do not decode are
    /// skipped (returns false), as Kafka skips them.
    pub fn load_record(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> bool {
        let Some(PartitionStatus::Loading { ids, .. }) = self.partitions.get_mut(&partition) else {
            return true;
        };
        let Ok(key) = TransactionLogKey::decode(key) else {
            return false;
        };
        match value.map(TransactionLogValue::decode) {
            None => {
                ids.insert(key.transactional_id, None);
            }
            Some(Ok(v)) => {
                ids.insert(key.transactional_id, Some(v));
            }
            Some(Err(_)) => return false,
        }
        true
    }

    /// Ends the replay of `partition`: its ids go live, and transactions found
    /// half-completed (PrepareCommit/PrepareAbort) get their markers written again.
    pub fn finish_loading(&mut self, partition: i32, now_ms: i64) -> Vec<TxnEffect> {
        let mut out = std::mem::take(&mut self.deferred);
        let Some(PartitionStatus::Loading {
            coordinator_epoch,
            ids,
        }) = self.partitions.remove(&partition)
        else {
            return out;
        };
        self.partitions
            .insert(partition, PartitionStatus::Active { coordinator_epoch });
        for (id, value) in ids {
            let Some(value) = value else { continue };
            let meta = TxnMetadata::from_value(id.clone(), partition, value);
            if meta.state == TxnState::Dead {
                continue;
            }
            if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                out.push(TxnEffect::WriteMarkers(marker_job(
                    &meta,
                    coordinator_epoch,
                )));
            }
            self.txns.insert(id, meta);
        }
        self.next_abort_check_ms
            .get_or_insert(now_ms.saturating_add(self.config.abort_timed_out_interval_ms));
        self.next_expiry_check_ms
            .get_or_insert(now_ms.saturating_add(self.config.remove_expired_interval_ms));
        self.run_timers(now_ms, &mut out);
        out
    }

    /// Stops serving `partition`: its ids are dropped; requests waiting on their
    /// writes are answered NOT_COORDINATOR.
    pub fn resign(&mut self, partition: i32) -> Vec<TxnEffect> {
        let mut out = std::mem::take(&mut self.deferred);
        self.partitions.remove(&partition);
        self.txns.retain(|_, t| t.partition != partition);
        let count = self.config.transaction_state_num_partitions;
        let moved: Vec<String> = self
            .waiting
            .keys()
            .filter(|id| partition_for_group(id, count) == partition)
            .cloned()
            .collect();
        for id in moved {
            for w in self.waiting.remove(&id).unwrap_or_default() {
                out.push(refusal(w.reply, &w.request, codes::NOT_COORDINATOR));
            }
        }
        let stale: Vec<AppendId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.partition == partition)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(p) = self.pending.remove(&id) {
                if let AfterWrite::Reply(reply, response) = p.after {
                    out.push(reply_with_error(reply, response, codes::NOT_COORDINATOR));
                }
            }
        }
        if !self
            .partitions
            .values()
            .any(|p| matches!(p, PartitionStatus::Active { .. }))
        {
            self.next_abort_check_ms = None;
            self.next_expiry_check_ms = None;
        }
        out
    }

    /// Answers one request; the answer may come with a later call (after a write).
    pub fn handle(&mut self, now_ms: i64, reply: ReplyId, request: TxnRequest) -> Vec<TxnEffect> {
        let mut out = std::mem::take(&mut self.deferred);
        let deadline_ms = now_ms.saturating_add(COMPLETION_WAIT_MS_MAX);
        self.dispatch(now_ms, reply, request, deadline_ms, &mut out);
        self.run_timers(now_ms, &mut out);
        out
    }

    /// Answers `request`, or holds it while its id's transaction completes.
    fn dispatch(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        request: TxnRequest,
        deadline_ms: i64,
        out: &mut Vec<TxnEffect>,
    ) {
        if self.must_wait(&request) {
            let id = request_id(&request).to_string();
            let waiting = self.waiting.entry(id).or_default();
            if now_ms < deadline_ms && waiting.len() < WAITING_PER_ID_MAX {
                waiting.push(Waiting {
                    reply,
                    request,
                    deadline_ms,
                });
                return;
            }
            return out.push(refusal(reply, &request, CONCURRENT_TRANSACTIONS));
        }
        match request {
            TxnRequest::InitProducerId(r) => self.init_producer_id(now_ms, reply, r, out),
            TxnRequest::AddPartitions(r) => self.add_partitions(now_ms, reply, r, out),
            TxnRequest::AddOffsets(r) => self.add_offsets(now_ms, reply, r, out),
            TxnRequest::EndTxn(r) => self.end_txn(now_ms, reply, r, out),
        }
    }

    /// True for an AddPartitionsToTxn (not a verification) or AddOffsetsToTxn of the
    /// id's current producer (or the producer id a version 2 transaction moves to)
    /// while a transition of the id is in flight or its markers are being written:
    /// the answer would be CONCURRENT_TRANSACTIONS, and shortly it will not be.
    fn must_wait(&self, request: &TxnRequest) -> bool {
        let (id, producer_id, producer_epoch) = match request {
            TxnRequest::AddPartitions(r) if !r.verify_only => {
                (&r.transactional_id, r.producer_id, r.producer_epoch)
            }
            TxnRequest::AddOffsets(r) => (&r.transactional_id, r.producer_id, r.producer_epoch),
            _ => return false,
        };
        if self.check_coordinator(id).is_err() {
            return false;
        }
        let Some(t) = self.txns.get(id) else {
            return false;
        };
        let completing =
            t.pending || matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
        let current = t.producer_id == producer_id && t.producer_epoch == producer_epoch;
        let next = t.next_producer_id >= 0 && t.next_producer_id == producer_id;
        completing && (current || next)
    }

    /// Hands the requests waiting on `transactional_id` back to [`Self::dispatch`]
    /// once a transition of the id completed.
    fn wake(&mut self, now_ms: i64, transactional_id: &str, out: &mut Vec<TxnEffect>) {
        let Some(waiting) = self.waiting.remove(transactional_id) else {
            return;
        };
        for w in waiting {
            self.dispatch(now_ms, w.reply, w.request, w.deadline_ms, out);
        }
    }

    /// The broker reports that append `id` is durable (`error_code` 0) or failed.
    pub fn append_completed(
        &mut self,
        now_ms: i64,
        id: AppendId,
        error_code: i16,
    ) -> Vec<TxnEffect> {
        let mut out = std::mem::take(&mut self.deferred);
        if let Some(p) = self.pending.remove(&id) {
            let transactional_id = p.transactional_id.clone();
            self.complete_write(p, error_code, &mut out);
            self.wake(now_ms, &transactional_id, &mut out);
        }
        self.run_timers(now_ms, &mut out);
        out
    }

    /// The broker reports that every marker of the transaction completing under
    /// (`producer_id`, `producer_epoch`) is written: the transaction completes.
    pub fn markers_written(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Vec<TxnEffect> {
        let mut out = std::mem::take(&mut self.deferred);
        let current = self.txns.get(transactional_id).filter(|t| {
            t.producer_id == producer_id && t.producer_epoch == producer_epoch && !t.pending
        });
        if let Some(t) = current {
            let complete = match t.state {
                TxnState::PrepareCommit => Some(TxnState::CompleteCommit),
                TxnState::PrepareAbort => Some(TxnState::CompleteAbort),
                _ => None,
            };
            if let Some(state) = complete {
                let mut target = t.clone();
                target.state = state;
                target.partitions.clear();
                target.last_update_ms = now_ms;
                if target.next_producer_id >= 0 {
                    // Transaction version 2 exhausted the epoch: the producer goes on
                    // with the id it was handed in the EndTxn answer.
                    target.previous_producer_id = target.producer_id;
                    target.producer_id = target.next_producer_id;
                    target.next_producer_id = -1;
                    target.producer_epoch = 0;
                    target.last_producer_epoch = -1;
                }
                self.write(target, false, AfterWrite::InBackground, &mut out);
                // Requests held for the completion go on now.
                self.wake(now_ms, transactional_id, &mut out);
            }
        }
        self.run_timers(now_ms, &mut out);
        out
    }

    /// Fires due timers: aborting timed-out transactions, removing expired ids.
    pub fn tick(&mut self, now_ms: i64) -> Vec<TxnEffect> {
        let mut out = std::mem::take(&mut self.deferred);
        self.run_timers(now_ms, &mut out);
        out
    }

    /// When [`Self::tick`] next has something to do, if ever.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        if !self.deferred.is_empty() {
            return Some(0);
        }
        let waiting = self
            .waiting
            .values()
            .flat_map(|w| w.iter().map(|w| w.deadline_ms))
            .min();
        self.next_abort_check_ms
            .into_iter()
            .chain(self.next_expiry_check_ms)
            .chain(waiting)
            .min()
    }

    /// The state of `transactional_id` if this node coordinates it, else the error
    /// to answer (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Result<&TxnMetadata, i16> {
        self.check_coordinator(transactional_id)?;
        self.txns
            .get(transactional_id)
            .ok_or(TRANSACTIONAL_ID_NOT_FOUND)
    }

    /// Every id this node coordinates (ListTransactions), and whether a partition is
    /// still loading (then the list is incomplete: COORDINATOR_LOAD_IN_PROGRESS).
    pub fn list(&self) -> (impl Iterator<Item = &TxnMetadata>, bool) {
        let loading = self
            .partitions
            .values()
            .any(|p| matches!(p, PartitionStatus::Loading { .. }));
        (self.txns.values(), loading)
    }

    fn init_producer_id(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        r: InitProducerId,
        out: &mut Vec<TxnEffect>,
    ) {
        let answer = |out: &mut Vec<TxnEffect>, error: i16, id: i64, epoch: i16| {
            out.push(TxnEffect::Reply {
                id: reply,
                response: TxnResponse::InitProducerId {
                    error,
                    producer_id: id,
                    producer_epoch: epoch,
                },
            })
        };
        if let Err(e) = self.check_coordinator(&r.transactional_id) {
            return answer(out, e, -1, -1);
        }
        if r.timeout_ms <= 0 || r.timeout_ms > self.config.transaction_max_timeout_ms {
            return answer(out, INVALID_TRANSACTION_TIMEOUT, -1, -1);
        }
        let partition = self.partition_for(&r.transactional_id);
        let Some(current) = self.txns.get(&r.transactional_id) else {
            // A new id: a fresh producer id at epoch 0.
            let meta = TxnMetadata {
                transactional_id: r.transactional_id.clone(),
                partition,
                producer_id: r.fresh_producer_id,
                previous_producer_id: -1,
                producer_epoch: 0,
                next_producer_id: -1,
                client_transaction_version: TRANSACTION_VERSION_0,
                last_producer_epoch: -1,
                timeout_ms: r.timeout_ms,
                state: TxnState::Empty,
                partitions: Default::default(),
                start_ms: -1,
                last_update_ms: now_ms,
                pending: false,
            };
            let response = init_response(&meta);
            self.write(meta, true, AfterWrite::Reply(reply, response), out);
            return;
        };
        if current.pending {
            return answer(out, CONCURRENT_TRANSACTIONS, -1, -1);
        }
        if let Some((pid, epoch)) = r.expected {
            let is_current = pid == current.producer_id && epoch == current.producer_epoch;
            // The bump answering this very request was durable but its reply lost.
            let is_retry = pid == current.producer_id
                && epoch == current.last_producer_epoch
                && current.state == TxnState::Empty;
            let is_previous_id = pid == current.previous_producer_id
                && current.state == TxnState::Empty
                && current.producer_epoch == 0;
            if is_retry || is_previous_id {
                return answer(
                    out,
                    codes::NONE,
                    current.producer_id,
                    current.producer_epoch,
                );
            }
            if !is_current {
                return answer(out, PRODUCER_FENCED, -1, -1);
            }
        }
        match current.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                answer(out, CONCURRENT_TRANSACTIONS, -1, -1)
            }
            TxnState::Dead | TxnState::PrepareEpochFence => {
                answer(out, CONCURRENT_TRANSACTIONS, -1, -1)
            }
            TxnState::Ongoing => {
                // Fence the producer of the open transaction (bump the epoch) and abort
                // it; this producer retries once the abort completes.
                let target = fenced_abort(current, now_ms);
                self.write(target, false, AfterWrite::Nothing, out);
                answer(out, CONCURRENT_TRANSACTIONS, -1, -1)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut target = current.clone();
                bump_epoch(&mut target, r.fresh_producer_id);
                target.timeout_ms = r.timeout_ms;
                target.state = TxnState::Empty;
                target.partitions.clear();
                target.start_ms = -1;
                target.last_update_ms = now_ms;
                let response = init_response(&target);
                self.write(target, false, AfterWrite::Reply(reply, response), out);
            }
        }
    }

    fn add_partitions(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        r: AddPartitions,
        out: &mut Vec<TxnEffect>,
    ) {
        let respond = |out: &mut Vec<TxnEffect>, errors: Vec<(TxnPartition, i16)>| {
            out.push(TxnEffect::Reply {
                id: reply,
                response: TxnResponse::AddPartitions { errors },
            })
        };
        let all = |code: i16| -> Vec<(TxnPartition, i16)> {
            r.partitions.iter().map(|p| (p.clone(), code)).collect()
        };
        // A transaction version 2 producer whose epoch ran out starts its next
        // transaction with the producer id the completing one only makes current.
        let completing_into = self.txns.get(&r.transactional_id).is_some_and(|t| {
            t.next_producer_id >= 0
                && t.next_producer_id == r.producer_id
                && (t.pending
                    || matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
        });
        if completing_into && self.check_coordinator(&r.transactional_id).is_ok() {
            return respond(out, all(CONCURRENT_TRANSACTIONS));
        }
        let current =
            match self.check_producer(&r.transactional_id, r.producer_id, r.producer_epoch) {
                Ok(t) => t,
                Err(e) => return respond(out, all(e)),
            };
        if r.verify_only {
            let errors = r
                .partitions
                .iter()
                .map(|p| {
                    let ok = current.state == TxnState::Ongoing && current.partitions.contains(p);
                    (p.clone(), if ok { codes::NONE } else { INVALID_TXN_STATE })
                })
                .collect();
            return respond(out, errors);
        }
        if let Err(e) = Self::check_can_add(current) {
            return respond(out, all(e));
        }
        if current.state == TxnState::Ongoing
            && r.partitions.iter().all(|p| current.partitions.contains(p))
        {
            return respond(out, all(codes::NONE));
        }
        let mut target = current.clone();
        if target.state.is_idle() {
            target.start_ms = now_ms;
        }
        target.state = TxnState::Ongoing;
        // A transaction keeps the version it began with, whatever adds to it.
        if r.transaction_version_2 {
            target.client_transaction_version = TRANSACTION_VERSION_2;
        } else if current.state != TxnState::Ongoing {
            target.client_transaction_version = TRANSACTION_VERSION_0;
        }
        target.partitions.extend(r.partitions.iter().cloned());
        target.last_update_ms = now_ms;
        let response = TxnResponse::AddPartitions {
            errors: all(codes::NONE),
        };
        self.write(target, false, AfterWrite::Reply(reply, response), out);
    }

    fn add_offsets(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        r: AddOffsets,
        out: &mut Vec<TxnEffect>,
    ) {
        let partition = partition_for_group(&r.group_id, self.config.offsets_topic_num_partitions);
        let mut inner = Vec::new();
        self.add_partitions(
            now_ms,
            reply,
            AddPartitions {
                transactional_id: r.transactional_id,
                producer_id: r.producer_id,
                producer_epoch: r.producer_epoch,
                partitions: vec![(OFFSETS_TOPIC_NAME.to_string(), partition)],
                verify_only: false,
                transaction_version_2: false,
            },
            &mut inner,
        );
        // Same checks and transition as AddPartitionsToTxn; only the answer differs.
        let to_offsets = |response: TxnResponse| match response {
            TxnResponse::AddPartitions { errors } => TxnResponse::AddOffsets {
                error: errors.first().map_or(codes::NONE, |(_, e)| *e),
            },
            other => other,
        };
        for effect in inner {
            match effect {
                TxnEffect::Reply { id, response } => out.push(TxnEffect::Reply {
                    id,
                    response: to_offsets(response),
                }),
                other => out.push(other),
            }
        }
        for p in self.pending.values_mut() {
            if let AfterWrite::Reply(id, response) = &mut p.after {
                if *id == reply {
                    *response = to_offsets(response.clone());
                }
            }
        }
    }

    fn end_txn(&mut self, now_ms: i64, reply: ReplyId, r: EndTxn, out: &mut Vec<TxnEffect>) {
        if r.transaction_version_2 {
            return self.end_txn_v2(now_ms, reply, r, out);
        }
        let answer = |out: &mut Vec<TxnEffect>, error: i16| {
            out.push(end_txn_reply(reply, error, r.producer_id, r.producer_epoch))
        };
        let current =
            match self.check_producer(&r.transactional_id, r.producer_id, r.producer_epoch) {
                Ok(t) => t,
                Err(e) => return answer(out, e),
            };
        if current.pending {
            return answer(out, CONCURRENT_TRANSACTIONS);
        }
        let error = match (current.state, r.commit) {
            (TxnState::Ongoing, _) => None,
            // A retried EndTxn whose transaction already completed the same way.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Some(codes::NONE)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Some(CONCURRENT_TRANSACTIONS)
            }
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => Some(CONCURRENT_TRANSACTIONS),
            _ => Some(INVALID_TXN_STATE),
        };
        if let Some(e) = error {
            return answer(out, e);
        }
        let mut target = current.clone();
        target.client_transaction_version = TRANSACTION_VERSION_0;
        target.state = if r.commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        target.last_update_ms = now_ms;
        let response = end_txn_response(codes::NONE, target.producer_id, target.producer_epoch);
        self.write(target, false, AfterWrite::Reply(reply, response), out);
    }

    /// EndTxn v5+ (KIP-890 part 2): the epoch is bumped with every transaction, so
    /// the markers carry an epoch no batch of the finished transaction has and a
    /// late batch of it is fenced. The answer carries the epoch (or, once the epoch
    /// is exhausted, the new producer id at epoch 0) the producer continues with. A
    /// retry is recognised by its epoch being one below the stored one; an abort is
    /// allowed with no partition added (the producer cannot know whether a partition
    /// leader added one).
    fn end_txn_v2(&mut self, now_ms: i64, reply: ReplyId, r: EndTxn, out: &mut Vec<TxnEffect>) {
        let answer = |out: &mut Vec<TxnEffect>, error: i16, id: i64, epoch: i16| {
            out.push(end_txn_reply(reply, error, id, epoch))
        };
        if let Err(e) = self.check_coordinator(&r.transactional_id) {
            return answer(out, e, -1, -1);
        }
        let Some(current) = self.txns.get(&r.transactional_id) else {
            return answer(out, INVALID_PRODUCER_ID_MAPPING, -1, -1);
        };
        // The transition in flight completes first: with an exhausted epoch the
        // producer may already hold the producer id it only makes current.
        if current.pending {
            return answer(out, CONCURRENT_TRANSACTIONS, -1, -1);
        }
        let retry_on_overflow = current.previous_producer_id == r.producer_id
            && r.producer_epoch == PRODUCER_EPOCH_EXHAUSTED
            && current.producer_epoch == 0;
        let retry_on_bump = current.producer_id == r.producer_id
            && r.producer_epoch < i16::MAX
            && current.producer_epoch == r.producer_epoch + 1;
        if current.producer_id != r.producer_id && !retry_on_overflow {
            return answer(out, INVALID_PRODUCER_ID_MAPPING, -1, -1);
        }
        let valid_epoch = match current.state {
            TxnState::Ongoing | TxnState::Empty | TxnState::Dead | TxnState::PrepareEpochFence => {
                r.producer_epoch == current.producer_epoch
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                retry_on_bump || retry_on_overflow || r.producer_epoch == current.producer_epoch
            }
        };
        if !valid_epoch {
            return answer(out, PRODUCER_FENCED, -1, -1);
        }
        let is_retry = retry_on_bump || retry_on_overflow;
        let (continue_id, continue_epoch) = (current.producer_id, current.producer_epoch);
        let no_partition_added = match (current.state, r.commit) {
            (TxnState::Ongoing, _) => false,
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if is_retry => {
                return answer(out, codes::NONE, continue_id, continue_epoch);
            }
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false)
                if !is_retry =>
            {
                true
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                return answer(out, CONCURRENT_TRANSACTIONS, -1, -1);
            }
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => {
                return answer(out, CONCURRENT_TRANSACTIONS, -1, -1);
            }
            _ => return answer(out, INVALID_TXN_STATE, -1, -1),
        };
        let mut target = current.clone();
        target.client_transaction_version = TRANSACTION_VERSION_2;
        if target.producer_epoch >= PRODUCER_EPOCH_EXHAUSTED {
            target.next_producer_id = r.fresh_producer_id;
        }
        // The markers take the bumped epoch (i16::MAX at most: an exhausted epoch
        // moves to the next producer id once the markers are written).
        target.last_producer_epoch = target.producer_epoch;
        target.producer_epoch = target.producer_epoch.saturating_add(1);
        target.state = if r.commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        if no_partition_added {
            target.partitions.clear();
            target.start_ms = now_ms;
        }
        target.last_update_ms = now_ms;
        let response = if target.next_producer_id >= 0 {
            end_txn_response(codes::NONE, target.next_producer_id, 0)
        } else {
            end_txn_response(codes::NONE, target.producer_id, target.producer_epoch)
        };
        self.write(target, false, AfterWrite::Reply(reply, response), out);
    }

    /// Whether this node coordinates `transactional_id` now.
    fn check_coordinator(&self, transactional_id: &str) -> Result<i32, i16> {
        if transactional_id.is_empty() || transactional_id.len() > STRING_BYTES_MAX {
            return Err(INVALID_REQUEST);
        }
        let partition = self.partition_for(transactional_id);
        match self.partitions.get(&partition) {
            Some(PartitionStatus::Active { .. }) => Ok(partition),
            Some(PartitionStatus::Loading { .. }) => Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
            None => Err(codes::NOT_COORDINATOR),
        }
    }

    /// The id's state if the request's producer id and epoch are its current ones.
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TxnMetadata, i16> {
        self.check_coordinator(transactional_id)?;
        let t = self
            .txns
            .get(transactional_id)
            .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if t.producer_id != producer_id {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if t.producer_epoch != producer_epoch {
            return Err(PRODUCER_FENCED);
        }
        Ok(t)
    }

    fn check_can_add(t: &TxnMetadata) -> Result<(), i16> {
        if t.pending {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        match t.state {
            TxnState::PrepareCommit
            | TxnState::PrepareAbort
            | TxnState::Dead
            | TxnState::PrepareEpochFence => Err(CONCURRENT_TRANSACTIONS),
            _ => Ok(()),
        }
    }

    /// Writes `target` as the id's next state; the id is pending until durable.
    fn write(
        &mut self,
        target: TxnMetadata,
        created: bool,
        after: AfterWrite,
        out: &mut Vec<TxnEffect>,
    ) {
        self.write_record(
            target.transactional_id.clone(),
            target.partition,
            Some(target),
            created,
            after,
            out,
        );
    }

    fn write_record(
        &mut self,
        transactional_id: String,
        partition: i32,
        target: Option<TxnMetadata>,
        created: bool,
        after: AfterWrite,
        out: &mut Vec<TxnEffect>,
    ) {
        let key = TransactionLogKey {
            transactional_id: transactional_id.clone(),
        }
        .encode();
        let value = target.as_ref().map(|t| t.to_value().encode()).transpose();
        let (key, value) = match (key, value) {
            (Ok(k), Ok(v)) => (k, v),
            _ => {
                // Unreachable for checked ids and topic names; answered, never panics.
                if let AfterWrite::Reply(reply, response) = after {
                    out.push(reply_with_error(
                        reply,
                        response,
                        codes::UNKNOWN_SERVER_ERROR,
                    ));
                }
                return;
            }
        };
        if created {
            if let Some(t) = &target {
                self.txns.insert(transactional_id.clone(), t.clone());
            }
        }
        if let Some(t) = self.txns.get_mut(&transactional_id) {
            assert!(!t.pending, "one transition at a time per transactional id");
            match (&after, &target) {
                (AfterWrite::InBackground, Some(target)) => *t = target.clone(),
                _ => t.pending = true,
            }
        }
        self.next_append += 1;
        let id = AppendId(self.next_append);
        self.pending.insert(
            id,
            PendingWrite {
                partition,
                transactional_id,
                target,
                created,
                after,
            },
        );
        out.push(TxnEffect::Append {
            id,
            partition,
            key,
            value,
        });
    }

    fn complete_write(&mut self, p: PendingWrite, error: i16, out: &mut Vec<TxnEffect>) {
        let coordinator_epoch = match self.partitions.get(&p.partition) {
            Some(PartitionStatus::Active { coordinator_epoch }) => *coordinator_epoch,
            _ => return,
        };
        if matches!(p.after, AfterWrite::InBackground) {
            // The state was taken when the write was issued; a later transition of
            // the id may have followed it already.
            if error != codes::NONE {
                tracing::warn!(
                    transactional_id = p.transactional_id,
                    error,
                    "a transaction's completion record was not written; a new coordinator will resend its markers"
                );
            }
            return;
        }
        if error != codes::NONE {
            if p.created {
                self.txns.remove(&p.transactional_id);
            } else if let Some(t) = self.txns.get_mut(&p.transactional_id) {
                t.pending = false;
            }
            if let AfterWrite::Reply(reply, response) = p.after {
                out.push(reply_with_error(reply, response, append_error(error)));
            }
            return;
        }
        let Some(mut target) = p.target else {
            self.txns.remove(&p.transactional_id);
            return;
        };
        target.pending = false;
        if matches!(
            target.state,
            TxnState::PrepareCommit | TxnState::PrepareAbort
        ) {
            out.push(TxnEffect::WriteMarkers(marker_job(
                &target,
                coordinator_epoch,
            )));
        }
        self.txns.insert(p.transactional_id, target);
        if let AfterWrite::Reply(reply, response) = p.after {
            out.push(TxnEffect::Reply {
                id: reply,
                response,
            });
        }
    }

    fn run_timers(&mut self, now_ms: i64, out: &mut Vec<TxnEffect>) {
        for waiting in self.waiting.values_mut() {
            let (expired, kept): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(waiting)
                .into_iter()
                .partition(|w| w.deadline_ms <= now_ms);
            *waiting = kept;
            for w in expired {
                out.push(refusal(w.reply, &w.request, CONCURRENT_TRANSACTIONS));
            }
        }
        self.waiting.retain(|_, w| !w.is_empty());
        if self.next_abort_check_ms.is_some_and(|d| d <= now_ms) {
            self.next_abort_check_ms =
                Some(now_ms.saturating_add(self.config.abort_timed_out_interval_ms.max(1)));
            let expired: Vec<TxnMetadata> = self
                .txns
                .values()
                .filter(|t| t.has_timed_out(now_ms))
                .map(|t| fenced_abort(t, now_ms))
                .collect();
            for target in expired {
                tracing::info!(
                    transactional_id = target.transactional_id,
                    "aborting a transaction past its timeout"
                );
                self.write(target, false, AfterWrite::Nothing, out);
            }
        }
        if self.next_expiry_check_ms.is_some_and(|d| d <= now_ms) {
            self.next_expiry_check_ms =
                Some(now_ms.saturating_add(self.config.remove_expired_interval_ms.max(1)));
            let expiration = self.config.transactional_id_expiration_ms;
            let idle: Vec<(String, i32)> = self
                .txns
                .values()
                .filter(|t| {
                    t.state.is_idle()
                        && !t.pending
                        && t.last_update_ms.saturating_add(expiration) < now_ms
                })
                .map(|t| (t.transactional_id.clone(), t.partition))
                .collect();
            for (id, partition) in idle {
                self.write_record(id, partition, None, false, AfterWrite::Nothing, out);
            }
        }
    }
}

/// The next state of an open transaction aborted by the coordinator (a timeout, or a
/// new producer of the same id): the epoch is bumped so the old producer is fenced.
fn fenced_abort(current: &TxnMetadata, now_ms: i64) -> TxnMetadata {
    let mut target = current.clone();
    if target.producer_epoch < PRODUCER_EPOCH_EXHAUSTED {
        target.last_producer_epoch = target.producer_epoch;
        target.producer_epoch += 1;
    }
    target.state = TxnState::PrepareAbort;
    target.last_update_ms = now_ms;
    target.pending = false;
    target
}

/// The epoch after InitProducerId: one more, or a new producer id at epoch 0 once
/// the epoch is exhausted.
fn bump_epoch(target: &mut TxnMetadata, fresh_producer_id: i64) {
    target.next_producer_id = -1;
    if target.producer_epoch >= PRODUCER_EPOCH_EXHAUSTED {
        target.previous_producer_id = target.producer_id;
        target.producer_id = fresh_producer_id;
        target.last_producer_epoch = -1;
        target.producer_epoch = 0;
    } else {
        target.last_producer_epoch = target.producer_epoch;
        target.producer_epoch += 1;
    }
}

fn init_response(t: &TxnMetadata) -> TxnResponse {
    TxnResponse::InitProducerId {
        error: codes::NONE,
        producer_id: t.producer_id,
        producer_epoch: t.producer_epoch,
    }
}

fn marker_job(t: &TxnMetadata, coordinator_epoch: i32) -> MarkerJob {
    MarkerJob {
        transactional_id: t.transactional_id.clone(),
        producer_id: t.producer_id,
        producer_epoch: t.producer_epoch,
        commit: t.state == TxnState::PrepareCommit,
        coordinator_epoch,
        partitions: t.partitions.iter().cloned().collect(),
    }
}

fn end_txn_response(error: i16, producer_id: i64, producer_epoch: i16) -> TxnResponse {
    TxnResponse::EndTxn {
        error,
        producer_id,
        producer_epoch,
    }
}

/// An EndTxn answer; failed ones carry no producer id and epoch (-1).
fn end_txn_reply(reply: ReplyId, error: i16, producer_id: i64, producer_epoch: i16) -> TxnEffect {
    let (producer_id, producer_epoch) = if error == codes::NONE {
        (producer_id, producer_epoch)
    } else {
        (-1, -1)
    };
    TxnEffect::Reply {
        id: reply,
        response: end_txn_response(error, producer_id, producer_epoch),
    }
}

/// How Kafka answers a client whose transition could not be written.
fn append_error(error: i16) -> i16 {
    match error {
        codes::NOT_LEADER_OR_FOLLOWER | codes::KAFKA_STORAGE_ERROR | codes::NOT_COORDINATOR => {
            codes::NOT_COORDINATOR
        }
        _ => codes::COORDINATOR_NOT_AVAILABLE,
    }
}

/// The transactional id a request is about.
fn request_id(request: &TxnRequest) -> &str {
    match request {
        TxnRequest::InitProducerId(r) => &r.transactional_id,
        TxnRequest::AddPartitions(r) => &r.transactional_id,
        TxnRequest::AddOffsets(r) => &r.transactional_id,
        TxnRequest::EndTxn(r) => &r.transactional_id,
    }
}

/// `request` answered with `error` alone (every partition of an AddPartitions).
fn refusal(reply: ReplyId, request: &TxnRequest, error: i16) -> TxnEffect {
    let response = match request {
        TxnRequest::InitProducerId(_) => TxnResponse::InitProducerId {
            error,
            producer_id: -1,
            producer_epoch: -1,
        },
        TxnRequest::AddPartitions(r) => TxnResponse::AddPartitions {
            errors: r.partitions.iter().map(|p| (p.clone(), error)).collect(),
        },
        TxnRequest::AddOffsets(_) => TxnResponse::AddOffsets { error },
        TxnRequest::EndTxn(_) => end_txn_response(error, -1, -1),
    };
    TxnEffect::Reply {
        id: reply,
        response,
    }
}

fn reply_with_error(reply: ReplyId, response: TxnResponse, error: i16) -> TxnEffect {
    let response = match response {
        TxnResponse::InitProducerId { .. } => TxnResponse::InitProducerId {
            error,
            producer_id: -1,
            producer_epoch: -1,
        },
        TxnResponse::AddPartitions { errors } => TxnResponse::AddPartitions {
            errors: errors.into_iter().map(|(p, _)| (p, error)).collect(),
        },
        TxnResponse::AddOffsets { .. } => TxnResponse::AddOffsets { error },
        TxnResponse::EndTxn { .. } => end_txn_response(error, -1, -1),
    };
    TxnEffect::Reply {
        id: reply,
        response,
    }
}
