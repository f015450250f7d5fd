//! Per-partition state of idempotent producers, as Kafka's ProducerStateManager keeps
//! it: per producer id its epoch and the last five batches' sequence and offset
//! ranges. The leader checks every produced batch against it (under the log's write
//! lock, so two retries of one batch cannot both be appended) and answers a retried
//! batch with the offsets it was stored at.
//!
//! Transactions: a transactional batch opens the producer's transaction (its first
//! offset is kept), a COMMIT or ABORT marker closes it. The partition's first
//! unstable offset is the smallest first offset of an open transaction; the last
//! stable offset (LSO) is that, capped by the high watermark.
//!
//! Pure logic: no I/O. Snapshots are in `producer_state_file`, rebuilding from the
//! log in `producer_state_load`.

use std::collections::{BTreeSet, HashMap, VecDeque};

use moldau_protocol::batch::BatchView;
use moldau_protocol::control_record::EndTxnMarker;
use thiserror::Error;

/// Batches remembered per producer (Kafka's NUM_BATCHES_TO_RETAIN; clients keep at
/// most five requests in flight per partition).
pub const RETAINED_BATCHES_MAX: usize = 5;
/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Epoch of a producer whose epoch is not known.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Sequence of a batch written without idempotence, or of a producer with no batch.
pub const NO_SEQUENCE: i32 = -1;

/// Who asks for an append, as Kafka's AppendOrigin. A client's batches are checked
/// for retries and sequence gaps; a coordinator's own transactional batches (the
/// offsets of a TxnOffsetCommit, written under the client's producer id and epoch)
/// carry no sequence, so only their epoch is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOrigin {
    Client,
    Coordinator,
}

/// One stored batch of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

/// What the broker knows about one producer on this partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerStateEntry {
    pub producer_id: i64,
    pub epoch: i16,
    /// The last batches, oldest first, at most [`RETAINED_BATCHES_MAX`], all of `epoch`.
    pub batches: VecDeque<BatchMetadata>,
    /// Max timestamp of the producer's last batch (expiration counts from it).
    pub last_timestamp: i64,
    /// Epoch of the transaction coordinator that wrote the last marker (-1: none).
    pub coordinator_epoch: i32,
    /// First offset of the producer's open transaction (an open transaction never
    /// expires).
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerStateEntry {
    fn new(producer_id: i64) -> Self {
        ProducerStateEntry {
            producer_id,
            epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
            last_timestamp: -1,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }

    /// Sequence of the last stored batch's last record, or [`NO_SEQUENCE`].
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Offset of the last stored batch's last record, or -1.
    pub fn last_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    /// The stored batch a retry of `batch` would be: same epoch, same sequence range.
    fn find_duplicate(&self, batch: &ProducerBatch) -> Option<BatchMetadata> {
        if batch.epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq)
            .copied()
    }

    /// A new epoch restarts the sequence: the old epoch's batches mean nothing.
    fn update_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.batches.clear();
            self.epoch = epoch;
        }
    }

    fn add(&mut self, batch: &ProducerBatch) {
        self.update_epoch(batch.epoch);
        if batch.is_transactional && self.current_txn_first_offset.is_none() {
            self.current_txn_first_offset = Some(batch.first_offset);
        }
        self.batches.push_back(BatchMetadata {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            first_offset: batch.first_offset,
            last_offset: batch.last_offset,
            timestamp: batch.max_timestamp,
        });
        while self.batches.len() > RETAINED_BATCHES_MAX {
            self.batches.pop_front();
        }
        self.last_timestamp = batch.max_timestamp;
    }

    /// Closes the open transaction, if any, as `marker` says (Kafka writes a marker
    /// for a producer with no open transaction too; it closes nothing).
    fn end_txn(&mut self, marker: &TxnMarker) -> Option<CompletedTxn> {
        self.update_epoch(marker.epoch);
        let completed = self.current_txn_first_offset.map(|first| CompletedTxn {
            producer_id: self.producer_id,
            first_offset: first,
            last_offset: marker.offset,
            aborted: !marker.marker.commit,
        });
        self.coordinator_epoch = marker.marker.coordinator_epoch;
        self.current_txn_first_offset = None;
        self.last_timestamp = marker.timestamp;
        completed
    }
}

/// A transaction marker (control batch) at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub epoch: i16,
    pub offset: i64,
    pub marker: EndTxnMarker,
    pub timestamp: i64,
}

/// A transaction a marker closed: its data lies in `[first_offset, last_offset]`
/// (the marker is at `last_offset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub aborted: bool,
}

/// The header fields of one batch that producer state needs (read from the batch
/// view or the on-disk header, never copied out of the batch body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    /// Part of a transaction: opens one if the producer has none open.
    pub is_transactional: bool,
    /// Control batches (transaction markers) carry no sequence: they go through
    /// [`ProducerAppend::check_marker`] / [`ProducerStateManager::apply_marker`].
    pub is_control: bool,
}

impl ProducerBatch {
    /// The producer fields of a batch whose first offset is `first_offset`; `None`
    /// for a batch written without a producer id.
    pub fn from_view(view: &BatchView<'_>, first_offset: i64) -> Option<Self> {
        if view.producer_id() < 0 {
            return None;
        }
        Some(ProducerBatch {
            producer_id: view.producer_id(),
            epoch: view.producer_epoch(),
            first_seq: view.base_sequence(),
            last_seq: view.last_sequence(),
            first_offset,
            last_offset: first_offset + view.last_offset_delta() as i64,
            max_timestamp: view.max_timestamp(),
            is_transactional: view.is_transactional(),
            is_control: view.is_control(),
        })
    }
}

/// Why a produced batch was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProducerStateError {
    /// The batch does not continue the producer's sequence (Kafka's
    /// OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("out of order sequence number for producer {producer_id} (epoch {epoch}): found {found}, last stored {last_stored}")]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        found: i32,
        last_stored: i32,
    },
    /// The batch's epoch is older than the producer's (Kafka's INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id} epoch {found} is older than its current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        found: i16,
        current: i16,
    },
    /// A non-transactional batch from a producer with an open transaction (Kafka's
    /// INVALID_TXN_STATE).
    #[error("producer {producer_id} sent a non-transactional batch during its open transaction")]
    InvalidTxnState { producer_id: i64 },
    /// A marker from a coordinator older than the one that wrote the producer's last
    /// marker (Kafka's TRANSACTION_COORDINATOR_FENCED).
    #[error(
        "marker for producer {producer_id} from coordinator epoch {found}, older than {current}"
    )]
    CoordinatorFenced {
        producer_id: i64,
        found: i32,
        current: i32,
    },
}

/// What the check of one batch decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchCheck {
    /// New data: append it.
    Append,
    /// A retry of a batch already stored there: answer with its offsets, append nothing.
    Duplicate(BatchMetadata),
}

/// Whether `next` follows `last` (sequences wrap from i32::MAX to 0, as Kafka's do).
fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

/// Kafka's rules for a batch from a client, against the producer's current entry.
fn check_against(
    entry: Option<&ProducerStateEntry>,
    batch: &ProducerBatch,
) -> Result<BatchCheck, ProducerStateError> {
    // A producer with no state here (new, or all its state expired) is accepted at
    // any sequence: since Kafka 2.5 (KIP-360) the broker no longer answers
    // UNKNOWN_PRODUCER_ID, because a client that resets its sequence after that
    // error resends what may already be stored.
    let Some(entry) = entry else {
        return Ok(BatchCheck::Append);
    };
    if batch.epoch < entry.epoch {
        return Err(ProducerStateError::InvalidProducerEpoch {
            producer_id: batch.producer_id,
            found: batch.epoch,
            current: entry.epoch,
        });
    }
    if let Some(duplicate) = entry.find_duplicate(batch) {
        return Ok(BatchCheck::Duplicate(duplicate));
    }
    let out_of_order = || ProducerStateError::OutOfOrderSequence {
        producer_id: batch.producer_id,
        epoch: batch.epoch,
        found: batch.first_seq,
        last_stored: entry.last_seq(),
    };
    if batch.epoch != entry.epoch {
        // A new epoch starts at sequence 0.
        if batch.first_seq != 0 && entry.epoch != NO_PRODUCER_EPOCH {
            return Err(out_of_order());
        }
        return Ok(BatchCheck::Append);
    }
    if entry.epoch != NO_PRODUCER_EPOCH && !in_sequence(entry.last_seq(), batch.first_seq) {
        return Err(out_of_order());
    }
    Ok(BatchCheck::Append)
}

/// Kafka's checks of a marker against the producer's entry: not an older producer
/// epoch, not an older coordinator epoch.
fn check_marker_against(
    entry: Option<&ProducerStateEntry>,
    marker: &TxnMarker,
) -> Result<(), ProducerStateError> {
    let Some(entry) = entry else {
        return Ok(());
    };
    if marker.epoch < entry.epoch {
        return Err(ProducerStateError::InvalidProducerEpoch {
            producer_id: marker.producer_id,
            found: marker.epoch,
            current: entry.epoch,
        });
    }
    if marker.marker.coordinator_epoch < entry.coordinator_epoch {
        return Err(ProducerStateError::CoordinatorFenced {
            producer_id: marker.producer_id,
            found: marker.marker.coordinator_epoch,
            current: entry.coordinator_epoch,
        });
    }
    Ok(())
}

/// Every producer's state on one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerStateEntry>,
    /// (first offset, producer id) of every open transaction, oldest first.
    ongoing: BTreeSet<(i64, i64)>,
    /// The offset after the last batch applied: the state describes `[.., end)`.
    map_end_offset: i64,
}

impl ProducerStateManager {
    /// Empty state describing the log up to `end_offset`.
    pub fn new(end_offset: i64) -> Self {
        ProducerStateManager {
            producers: HashMap::new(),
            ongoing: BTreeSet::new(),
            map_end_offset: end_offset,
        }
    }

    /// State loaded from a snapshot taken at `end_offset`.
    pub fn from_entries(entries: Vec<ProducerStateEntry>, end_offset: i64) -> Self {
        let mut state = ProducerStateManager::new(end_offset);
        for e in entries {
            state.put(e);
        }
        state
    }

    /// Stores `entry`, keeping the open-transaction set in step.
    fn put(&mut self, entry: ProducerStateEntry) {
        let id = entry.producer_id;
        if let Some(old) = self.producers.get(&id) {
            if let Some(first) = old.current_txn_first_offset {
                self.ongoing.remove(&(first, id));
            }
        }
        if let Some(first) = entry.current_txn_first_offset {
            self.ongoing.insert((first, id));
        }
        self.producers.insert(id, entry);
    }

    fn entry_or_new(&self, producer_id: i64) -> ProducerStateEntry {
        self.producers
            .get(&producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerStateEntry::new(producer_id))
    }

    /// First offset of the oldest open transaction: nothing at or after it is
    /// stable. `None` when no transaction is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first().map(|(first, _)| *first)
    }

    /// The open transactions as (first offset, producer id), oldest first.
    pub fn ongoing_txns(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().copied()
    }

    /// The LSO to record with a transaction that just completed (Kafka's
    /// `lastStableOffset(completedTxn)`): the oldest other open transaction's start,
    /// else the offset after the marker.
    pub fn last_stable_offset_after(&self, completed: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|(_, id)| *id != completed.producer_id)
            .map_or(completed.last_offset + 1, |(first, _)| *first)
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &ProducerStateEntry> {
        self.producers.values()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The offset after the last batch applied.
    pub fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }

    /// Starts checking an append of one or more batches (see [`ProducerAppend`]).
    pub fn begin_append(&self) -> ProducerAppend<'_> {
        ProducerAppend {
            state: self,
            staged: HashMap::new(),
        }
    }

    /// Applies what an append staged, once its batches are written.
    pub fn commit(&mut self, staged: StagedProducers, end_offset: i64) {
        for (_, entry) in staged.0 {
            self.put(entry);
        }
        self.map_end_offset = self.map_end_offset.max(end_offset);
    }

    /// Records a batch already in the log (recovery, replicas) without checks, as
    /// Kafka does for appends that did not come from a client.
    pub fn apply(&mut self, batch: &ProducerBatch) {
        if !batch.is_control {
            let mut entry = self.entry_or_new(batch.producer_id);
            entry.add(batch);
            self.put(entry);
        }
        self.map_end_offset = self.map_end_offset.max(batch.last_offset + 1);
    }

    /// Records a marker already in the log (recovery, replicas) without checks;
    /// returns the transaction it closed.
    pub fn apply_marker(&mut self, marker: &TxnMarker) -> Option<CompletedTxn> {
        let mut entry = self.entry_or_new(marker.producer_id);
        let completed = entry.end_txn(marker);
        self.put(entry);
        self.map_end_offset = self.map_end_offset.max(marker.offset + 1);
        completed
    }

    /// Marks the state as describing the log up to `end_offset` (batches without a
    /// producer id change nothing but the end).
    pub fn advance_to(&mut self, end_offset: i64) {
        self.map_end_offset = self.map_end_offset.max(end_offset);
    }

    /// Forgets producers idle for `expiration_ms` (`producer.id.expiration.ms`) by
    /// their last batch's timestamp, as Kafka does; a producer with an open
    /// transaction stays. Returns how many were removed.
    /// When [`Self::remove_expired`] would next forget a producer: the earliest
    /// idle producer's last write plus `expiration_ms` (an open transaction never
    /// expires).
    pub fn next_expiry_ms(&self, expiration_ms: i64) -> Option<i64> {
        self.producers
            .values()
            .filter(|e| e.current_txn_first_offset.is_none())
            .map(|e| e.last_timestamp.saturating_add(expiration_ms))
            .min()
    }

    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }
}

/// Producer entries changed by an append, applied only once the append is written.
#[derive(Debug, Default)]
pub struct StagedProducers(HashMap<i64, ProducerStateEntry>);

/// The checks of one append: each batch is checked against the state as the
/// earlier batches of the same append leave it.
pub struct ProducerAppend<'a> {
    state: &'a ProducerStateManager,
    staged: HashMap<i64, ProducerStateEntry>,
}

impl ProducerAppend<'_> {
    /// Checks a client's batch (with the offsets it would get) and stages it.
    pub fn check(&mut self, batch: &ProducerBatch) -> Result<BatchCheck, ProducerStateError> {
        self.check_from(batch, AppendOrigin::Client)
    }

    /// Checks a batch from `origin` and stages it: a coordinator's batch is never a
    /// retry and has no sequence, only its epoch is checked (Kafka's
    /// `maybeValidateDataBatch` checks the sequence of client batches alone).
    pub fn check_from(
        &mut self,
        batch: &ProducerBatch,
        origin: AppendOrigin,
    ) -> Result<BatchCheck, ProducerStateError> {
        if batch.is_control {
            return Ok(BatchCheck::Append);
        }
        let current = self.current(batch.producer_id);
        let decision = match origin {
            AppendOrigin::Client => check_against(current, batch)?,
            AppendOrigin::Coordinator => match current {
                Some(e) if batch.epoch < e.epoch => {
                    return Err(ProducerStateError::InvalidProducerEpoch {
                        producer_id: batch.producer_id,
                        found: batch.epoch,
                        current: e.epoch,
                    })
                }
                _ => BatchCheck::Append,
            },
        };
        // After the epoch and sequence checks, as Kafka: a plain batch cannot join
        // the producer's open transaction.
        if decision == BatchCheck::Append
            && !batch.is_transactional
            && current.is_some_and(|e| e.current_txn_first_offset.is_some())
        {
            return Err(ProducerStateError::InvalidTxnState {
                producer_id: batch.producer_id,
            });
        }
        if decision == BatchCheck::Append {
            let mut entry = current
                .cloned()
                .unwrap_or_else(|| ProducerStateEntry::new(batch.producer_id));
            entry.add(batch);
            self.staged.insert(batch.producer_id, entry);
        }
        Ok(decision)
    }

    /// Checks a marker the coordinator asked for and stages it; returns the
    /// transaction it closes.
    pub fn check_marker(
        &mut self,
        marker: &TxnMarker,
    ) -> Result<Option<CompletedTxn>, ProducerStateError> {
        let current = self.current(marker.producer_id);
        check_marker_against(current, marker)?;
        let mut entry = current
            .cloned()
            .unwrap_or_else(|| ProducerStateEntry::new(marker.producer_id));
        let completed = entry.end_txn(marker);
        self.staged.insert(marker.producer_id, entry);
        Ok(completed)
    }

    fn current(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.staged
            .get(&producer_id)
            .or_else(|| self.state.entry(producer_id))
    }

    /// The staged entries, to [`ProducerStateManager::commit`] after the write.
    pub fn finish(self) -> StagedProducers {
        StagedProducers(self.staged)
    }
}
