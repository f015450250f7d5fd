//! DescribeTransactions: the state of each transactional id this node coordinates
//! (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or TRANSACTIONAL_ID_NOT_FOUND for
//! the others), as `kafka-transactions.sh describe` shows it.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::TxnMetadata;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::describe_transactions_response::{
    TopicData, TransactionState,
};
use moldau_protocol::kafka::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;

/// Most ids one request may ask about.
const DESCRIBED_IDS_MAX: usize = 10_000;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: DescribeTransactionsRequest = super::decode(&ctx, body)?;
    if request.transactional_ids.len() > DESCRIBED_IDS_MAX {
        return Err(CloseConnection(format!(
            "DescribeTransactions for {} ids (at most {DESCRIBED_IDS_MAX})",
            request.transactional_ids.len()
        )));
    }
    let Some(service) = ctx.transactions().service() else {
        return Err(CloseConnection(
            "transaction coordinator not running".into(),
        ));
    };
    let ids: Vec<String> = request
        .transactional_ids
        .iter()
        .map(|id| id.0.to_string())
        .collect();
    let found = service
        .inspect(move |c| {
            ids.into_iter()
                .map(|id| {
                    let state = c.describe(&id).cloned();
                    (id, state)
                })
                .collect::<Vec<_>>()
        })
        .await?;
    // Each id needs DESCRIBE on it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
    let access = ctx.access();
    let states = found
        .into_iter()
        .map(|(id, state)| {
            let described = access.transactional_id(AclOperation::Describe, &id);
            let code = ResponseError::TransactionalIdAuthorizationFailed.code();
            (id, if described { state } else { Err(code) })
        })
        .map(|(id, state)| match state {
            Ok(t) => describe(&t),
            Err(code) => TransactionState::default()
                .with_error_code(code)
                .with_transactional_id(super::str_bytes(&id).into())
                .with_transaction_state(super::str_bytes(""))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1),
        })
        .collect();
    ctx.ready(&DescribeTransactionsResponse::default().with_transaction_states(states))
}

fn describe(t: &TxnMetadata) -> TransactionState {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, p) in &t.partitions {
        topics.entry(topic.as_str()).or_default().push(*p);
    }
    TransactionState::default()
        .with_error_code(0)
        .with_transactional_id(super::str_bytes(&t.transactional_id).into())
        .with_transaction_state(super::str_bytes(t.state.name()))
        .with_transaction_timeout_ms(t.timeout_ms)
        .with_transaction_start_time_ms(t.start_ms)
        .with_producer_id(ProducerId(t.producer_id))
        .with_producer_epoch(t.producer_epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicData::default()
                        .with_topic(TopicName(super::str_bytes(topic)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}
