//! The transaction coordinator (Kafka's TransactionCoordinator) as a deterministic
//! state machine: the state of each `transactional.id` in `__transaction_state`,
//! InitProducerId with fencing, AddPartitionsToTxn (with KIP-890 verification),
//! AddOffsetsToTxn, EndTxn, the markers that complete a transaction, timeouts and id
//! expiry. No I/O and no clock, like the group coordinator beside it.

pub mod config;
pub mod coordinator;
pub mod id_pattern;
pub mod metadata;
pub mod records;
pub mod request;
pub mod state;

pub use config::TxnConfig;
pub use coordinator::TransactionCoordinator;
pub use metadata::{TxnMetadata, TxnPartition};
pub use records::{TransactionLogKey, TransactionLogValue};
pub use request::{
    AddOffsets, AddPartitions, EndTxn, InitProducerId, MarkerJob, TxnEffect, TxnRequest,
    TxnResponse,
};
pub use state::TxnState;

#[cfg(test)]
mod tests;
