//! ListTransactions: the transactional ids this node coordinates, filtered by state,
//! producer id, (v1) how long their transaction has been open and (v2, KIP-1152) a
//! regular expression on the id, as `kafka-transactions.sh list` and `find-hanging`
//! ask every broker.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::id_pattern::TransactionalIdPattern;
use moldau_coordinator::txn::TxnState;
use moldau_protocol::kafka::messages::list_transactions_response::TransactionState;
use moldau_protocol::kafka::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId,
};
use moldau_protocol::ResponseError;
use std::collections::HashSet;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ListTransactionsRequest = super::decode(&ctx, body)?;
    let Some(service) = ctx.transactions().service() else {
        return Err(CloseConnection(
            "transaction coordinator not running".into(),
        ));
    };
    let mut states: HashSet<TxnState> = HashSet::new();
    let mut unknown = Vec::new();
    for name in &request.state_filters {
        match TxnState::ALL
            .into_iter()
            .find(|s| s.name() == name.as_str())
        {
            Some(s) => {
                states.insert(s);
            }
            None => unknown.push(name.clone()),
        }
    }
    let producers: HashSet<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let duration_ms = if ctx.version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let pattern = if ctx.version >= 2 {
        request.transactional_id_pattern.as_deref()
    } else {
        None
    };
    let pattern = match TransactionalIdPattern::compile(pattern) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!("ListTransactions refused: {e}");
            return ctx.ready(
                &ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code()),
            );
        }
    };
    let now = crate::clock::now_ms();
    let (listed, loading) = service
        .inspect(move |c| {
            let (all, loading) = c.list();
            let listed: Vec<(String, i64, TxnState)> = all
                .filter(|t| states.is_empty() || states.contains(&t.state))
                .filter(|t| producers.is_empty() || producers.contains(&t.producer_id))
                .filter(|t| pattern.matches(&t.transactional_id))
                // Only open transactions have a duration: older than the filter.
                .filter(|t| {
                    duration_ms < 0
                        || (t.start_ms >= 0 && now.saturating_sub(t.start_ms) >= duration_ms)
                })
                .map(|t| (t.transactional_id.clone(), t.producer_id, t.state))
                .collect();
            (listed, loading)
        })
        .await?;
    let error = if loading {
        ResponseError::CoordinatorLoadInProgress.code()
    } else {
        0
    };
    // Only the ids the principal may DESCRIBE are listed, as in Kafka.
    let access = ctx.access();
    let transaction_states = listed
        .into_iter()
        .filter(|(id, _, _)| {
            access.transactional_id(moldau_protocol::acl::AclOperation::Describe, id)
        })
        .map(|(id, pid, state)| {
            TransactionState::default()
                .with_transactional_id(super::str_bytes(&id).into())
                .with_producer_id(ProducerId(pid))
                .with_transaction_state(super::str_bytes(state.name()))
        })
        .collect();
    ctx.ready(
        &ListTransactionsResponse::default()
            .with_error_code(error)
            .with_unknown_state_filters(unknown)
            .with_transaction_states(transaction_states),
    )
}
