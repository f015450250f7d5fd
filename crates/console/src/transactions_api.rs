//! `GET /api/v1/transactions`: the transactional ids this broker's transaction
//! coordinator keeps, as `kafka-transactions.sh list` and `describe` show them, with
//! how long an open transaction has been open and whether it outlived its timeout.

use crate::caller::Caller;
use crate::console::{now_ms, Console};
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::Json;
use moldau_coordinator::txn::TxnState;
use moldau_protocol::acl::AclOperation;
use serde::Serialize;
use std::sync::Arc;

/// One transactional id.
#[derive(Debug, Serialize)]
pub struct TransactionView {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Kafka's state names: `Ongoing`, `PrepareCommit`, `CompleteAbort`, …
    pub state: &'static str,
    pub timeout_ms: i32,
    /// When the open transaction started; -1 when none is open.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// How long the open transaction has been open; `None` when none is.
    pub open_ms: Option<i64>,
    /// Open longer than its timeout: the coordinator should have aborted it.
    pub overdue: bool,
    /// `topic-partition` of each partition in the transaction.
    pub partitions: Vec<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Transactions {
    pub transactions: Vec<TransactionView>,
    /// Some of the coordinator's partitions are still loading: the list may be short.
    pub loading: bool,
}

/// `GET /api/v1/transactions`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<Transactions>> {
    // Transaction states of every transactional id: DESCRIBE on the cluster.
    caller.require_cluster(AclOperation::Describe)?;
    let Some(service) = console.backend.transactions().service() else {
        return Err(ApiError::Unavailable(
            "the transaction coordinator is not running".into(),
        ));
    };
    let now = now_ms();
    let (mut transactions, loading) = service
        .inspect(move |c| {
            let (all, loading) = c.list();
            let listed: Vec<TransactionView> = all
                .map(|t| {
                    let open = t.start_ms >= 0
                        && matches!(
                            t.state,
                            TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
                        );
                    let open_ms = open.then(|| now.saturating_sub(t.start_ms).max(0));
                    TransactionView {
                        transactional_id: t.transactional_id.clone(),
                        producer_id: t.producer_id,
                        producer_epoch: t.producer_epoch,
                        state: t.state.name(),
                        timeout_ms: t.timeout_ms,
                        start_ms: t.start_ms,
                        last_update_ms: t.last_update_ms,
                        overdue: open_ms.is_some_and(|o| o > i64::from(t.timeout_ms)),
                        open_ms,
                        partitions: t
                            .partitions
                            .iter()
                            .map(|(topic, p)| format!("{topic}-{p}"))
                            .collect(),
                    }
                })
                .collect();
            (listed, loading)
        })
        .await
        .map_err(|e| ApiError::Unavailable(e.0))?;
    transactions.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    Ok(Json(Transactions {
        transactions,
        loading,
    }))
}
