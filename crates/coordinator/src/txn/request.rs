//! The transaction requests the coordinator answers, its answers, and what it asks
//! the broker to do. The broker decodes the wire messages into these and encodes the
//! answers in the request's version.

use bytes::Bytes;

use crate::effect::{AppendId, ReplyId};
use crate::txn::metadata::TxnPartition;

/// InitProducerId with a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerId {
    pub transactional_id: String,
    /// The producer's `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// The producer id and epoch the producer holds (v3+, KIP-360), if any.
    pub expected: Option<(i64, i16)>,
    /// An unused producer id from the broker's block, taken if a new one is needed.
    pub fresh_producer_id: i64,
}

/// AddPartitionsToTxn for one transaction (v0–v3 carry one; v4+ several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitions {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TxnPartition>,
    /// KIP-890 verification (from a partition leader): only check that the
    /// partitions are in the open transaction, add nothing.
    pub verify_only: bool,
    /// Sent for a transaction version 2 producer (a partition leader adding the
    /// partition of a Produce v12+ batch, AddPartitionsToTxn v5+).
    pub transaction_version_2: bool,
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsets {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub group_id: String,
}

/// EndTxn: commit or abort the open transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    /// EndTxn v5+ (KIP-890 part 2): the epoch is bumped with every transaction.
    pub transaction_version_2: bool,
    /// An unused producer id from the broker's block, taken when the bump exhausts
    /// the epoch (transaction version 2 only).
    pub fresh_producer_id: i64,
}

/// A transaction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRequest {
    InitProducerId(InitProducerId),
    AddPartitions(AddPartitions),
    AddOffsets(AddOffsets),
    EndTxn(EndTxn),
}

/// The answer to a [`TxnRequest`], same variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResponse {
    InitProducerId {
        error: i16,
        producer_id: i64,
        producer_epoch: i16,
    },
    /// One error per requested partition, in request order.
    AddPartitions {
        errors: Vec<(TxnPartition, i16)>,
    },
    AddOffsets {
        error: i16,
    },
    /// The producer id and epoch the producer continues with (v5: bumped under
    /// transaction version 2; -1 on error).
    EndTxn {
        error: i16,
        producer_id: i64,
        producer_epoch: i16,
    },
}

/// Markers to write for a transaction that is being completed. When every partition
/// has its marker the broker calls `markers_written`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// COMMIT (true) or ABORT markers.
    pub commit: bool,
    /// Leader epoch of the `__transaction_state` partition: partitions refuse markers
    /// from an older coordinator.
    pub coordinator_epoch: i32,
    pub partitions: Vec<TxnPartition>,
}

/// One thing for the broker to do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnEffect {
    /// Send this response to the request registered under `id`.
    Reply { id: ReplyId, response: TxnResponse },
    /// Append this record (`None` value = tombstone) to `__transaction_state`
    /// partition `partition`; when durable the broker calls `append_completed(id, ..)`.
    Append {
        id: AppendId,
        partition: i32,
        key: Bytes,
        value: Option<Bytes>,
    },
    /// Write these markers (WriteTxnMarkers to each partition's leader).
    WriteMarkers(MarkerJob),
}
