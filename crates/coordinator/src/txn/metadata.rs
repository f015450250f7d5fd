//! What the coordinator knows about one transactional id.

use std::collections::BTreeSet;

use crate::txn::records::TransactionLogValue;
use crate::txn::state::TxnState;

/// `ClientTransactionVersion` of a transaction version 2 producer (Kafka's TV_2).
pub const TRANSACTION_VERSION_2: i16 = 2;
/// `ClientTransactionVersion` of older producers (Kafka's TV_0).
pub const TRANSACTION_VERSION_0: i16 = 0;

/// A partition of a transaction: (topic, partition).
pub type TxnPartition = (String, i32);

/// The state of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    /// The `__transaction_state` partition that holds it.
    pub partition: i32,
    pub producer_id: i64,
    /// The producer id before the current one (epoch exhaustion), -1 if none.
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The producer id the id moves to when the completing transaction is done
    /// (transaction version 2 exhausted the epoch), -1 if none.
    pub next_producer_id: i64,
    /// The transaction version of the producer's last request: 2 bumps the epoch
    /// with every EndTxn, 0 (version 1 clients) never does.
    pub client_transaction_version: i16,
    /// The epoch before the last bump, so a retried InitProducerId is recognised
    /// (-1 when unknown; not persisted, as in Kafka).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TxnPartition>,
    /// When the open transaction began, -1 when none is.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// A transition written but not durable yet: no other may start meanwhile.
    pub pending: bool,
}

impl TxnMetadata {
    /// The value this state is written as.
    pub fn to_value(&self) -> TransactionLogValue {
        let mut partitions: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, p) in &self.partitions {
            match partitions.last_mut() {
                Some((t, ids)) if t == topic => ids.push(*p),
                _ => partitions.push((topic.clone(), vec![*p])),
            }
        }
        TransactionLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            client_transaction_version: self.client_transaction_version,
            producer_epoch: self.producer_epoch,
            transaction_timeout_ms: self.timeout_ms,
            state: self.state,
            partitions,
            last_update_timestamp_ms: self.last_update_ms,
            start_timestamp_ms: self.start_ms,
        }
    }

    /// The state a replayed value describes.
    pub fn from_value(transactional_id: String, partition: i32, v: TransactionLogValue) -> Self {
        TxnMetadata {
            transactional_id,
            partition,
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            next_producer_id: v.next_producer_id,
            client_transaction_version: v.client_transaction_version,
            last_producer_epoch: -1,
            timeout_ms: v.transaction_timeout_ms,
            state: v.state,
            partitions: v
                .partitions
                .into_iter()
                .flat_map(|(t, ids)| ids.into_iter().map(move |p| (t.clone(), p)))
                .collect(),
            start_ms: v.start_timestamp_ms,
            last_update_ms: v.last_update_timestamp_ms,
            pending: false,
        }
    }

    /// True when the producer uses transaction version 2 (an epoch per transaction).
    pub fn is_transaction_version_2(&self) -> bool {
        self.client_transaction_version >= TRANSACTION_VERSION_2
    }

    /// True when the open transaction has outlived its timeout at `now_ms`.
    pub fn has_timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing
            && !self.pending
            && self.start_ms.saturating_add(i64::from(self.timeout_ms)) < now_ms
    }
}
