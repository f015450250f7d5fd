//! What the coordinator asks the broker to do.

use bytes::Bytes;

use crate::request::GroupResponse;

/// Identifies a request whose response the broker is waiting for; chosen by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyId(pub u64);

/// Identifies an append to `__consumer_offsets`; chosen by the coordinator and handed
/// back in [`crate::GroupCoordinator::append_completed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppendId(pub u64);

/// The producer whose transaction an append belongs to (TxnOffsetCommit): the broker
/// writes the records as one transactional batch under this producer id and epoch,
/// which the transaction's COMMIT or ABORT marker later closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// One thing for the broker to do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this response to the request registered under `id`.
    Reply {
        id: ReplyId,
        response: GroupResponse,
    },
    /// Append these records (key, value; `None` value = tombstone) to `__consumer_offsets`
    /// partition `partition`; when durable the broker calls `append_completed(id, ..)`.
    Append {
        id: AppendId,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        /// Set for transactional offsets: the batch belongs to this transaction.
        transaction: Option<TxnProducer>,
    },
}
