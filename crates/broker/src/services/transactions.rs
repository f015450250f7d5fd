//! The transaction coordinator runtime and what transactional requests need beside
//! it: producer ids and the implicit partition adds of transaction version 2.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::txn_partition_adder::{self, ImplicitAdd};
use crate::txn_service::TxnService;
use moldau_coordinator::txn::TxnPartition;
use moldau_protocol::ResponseError;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

#[derive(Clone)]
pub struct Transactions {
    broker: Arc<Broker>,
}

impl Transactions {
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }

    /// The coordinator task; None only while the broker is still starting.
    pub fn service(&self) -> Option<TxnService> {
        self.broker.txns.get().cloned()
    }

    /// A fresh producer id, from the block this broker claimed in the metadata log.
    pub async fn next_producer_id(&self) -> Result<i64, BrokerError> {
        self.broker.producer_ids.next_id(&self.broker).await
    }

    /// Partitions transactional ids are hashed over (`__transaction_state`'s count).
    pub fn transaction_state_partitions(&self) -> i32 {
        crate::txn_service::transaction_state_partitions(&self.broker)
    }

    /// Adds `add`'s partitions to their transaction (KIP-890), retrying until
    /// `deadline`; the partitions that could not be added, with their error.
    pub async fn add_partitions(
        &self,
        add: ImplicitAdd,
        deadline: Instant,
    ) -> HashMap<TxnPartition, ResponseError> {
        txn_partition_adder::add_partitions(&self.broker, add, deadline).await
    }
}
