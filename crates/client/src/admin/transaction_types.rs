//! What the transaction admin calls return (`kafka-transactions.sh`'s columns).

/// One transactional id as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// The broker coordinating it.
    pub coordinator_id: i32,
    /// Its current producer id.
    pub producer_id: i64,
    /// `Empty`, `Ongoing`, `PrepareCommit`, `CompleteAbort`, ...
    pub state: String,
}

/// One transactional id as its coordinator describes it (DescribeTransactions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// The broker coordinating it.
    pub coordinator_id: i32,
    /// State name, as Kafka spells it.
    pub state: String,
    /// Current producer id.
    pub producer_id: i64,
    /// Current producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// When the open transaction started (ms since the epoch), -1 when none is open.
    pub start_time_ms: i64,
    /// The partitions in the open transaction.
    pub partitions: Vec<crate::record::TopicPartition>,
}

/// One active producer of a partition (DescribeProducers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStateDescription {
    /// Producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i32,
    /// Sequence of its last stored record, -1 when none.
    pub last_sequence: i32,
    /// Max timestamp of its last batch (ms).
    pub last_timestamp: i64,
    /// Epoch of the coordinator that wrote its last marker, -1 when none.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction, `None` when none is open.
    pub current_txn_start_offset: Option<i64>,
}

/// The ABORT marker `abort_transaction` writes to one partition, as Kafka's
/// `AbortTransactionSpec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    /// The partition holding the open transaction.
    pub partition: crate::record::TopicPartition,
    /// The producer whose transaction it is.
    pub producer_id: i64,
    /// Its epoch (the marker must not be older than the producer's).
    pub producer_epoch: i16,
    /// The coordinator epoch the marker claims (not older than the last marker's).
    pub coordinator_epoch: i32,
}
