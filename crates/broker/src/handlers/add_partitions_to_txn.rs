//! AddPartitionsToTxn: partitions join the producer's transaction (v0–v3, one
//! transaction from a client), or, in the batched v4+ form brokers send, several
//! transactions at once, each possibly `verify_only` (KIP-890: is this partition in
//! the open transaction?), or, from v5, adding the partition of a transaction
//! version 2 producer's batch (KIP-890 part 2). As Kafka's API layer does, partitions that do not exist
//! are answered UNKNOWN_TOPIC_OR_PARTITION and the rest of that transaction
//! OPERATION_NOT_ATTEMPTED, without asking the coordinator. ACLs as in Kafka: a
//! client (v0-v3) needs WRITE on the transactional id and on each topic; the batched
//! form is for brokers and needs CLUSTER_ACTION.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::{AddPartitions, TxnPartition, TxnRequest, TxnResponse};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use moldau_protocol::kafka::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use moldau_protocol::kafka::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId,
};
use moldau_protocol::ResponseError;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// Most transactions one batched (v4+) request may carry.
const BATCHED_TRANSACTIONS_MAX: usize = 10_000;

type Answer =
    Pin<Box<dyn Future<Output = Result<Vec<(TxnPartition, i16)>, CloseConnection>> + Send>>;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AddPartitionsToTxnRequest = super::decode(&ctx, body)?;
    if ctx.version <= 3 {
        let answer = add(
            &ctx,
            AddPartitions {
                transactional_id: request.v3_and_below_transactional_id.0.to_string(),
                producer_id: request.v3_and_below_producer_id.0,
                producer_epoch: request.v3_and_below_producer_epoch,
                partitions: partitions_of(&request.v3_and_below_topics),
                verify_only: false,
                transaction_version_2: false,
            },
            true,
        )
        .await?;
        return Ok(Box::pin(async move {
            let results = by_topic(answer.await?);
            ctx.encode(
                &AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results),
            )
            .map(Some)
        }));
    }
    if !ctx.access().cluster(AclOperation::ClusterAction) {
        return ctx.ready(
            &AddPartitionsToTxnResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    if request.transactions.len() > BATCHED_TRANSACTIONS_MAX {
        return ctx.ready(
            &AddPartitionsToTxnResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code()),
        );
    }
    let mut answers: Vec<(TransactionalId, Answer)> = Vec::new();
    for t in &request.transactions {
        let answer = add(
            &ctx,
            AddPartitions {
                transactional_id: t.transactional_id.0.to_string(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                partitions: partitions_of(&t.topics),
                verify_only: t.verify_only,
                // v5 adds come from a leader serving a transaction version 2
                // producer's Produce (KIP-890 part 2).
                transaction_version_2: ctx.version >= 5 && !t.verify_only,
            },
            false,
        )
        .await?;
        answers.push((t.transactional_id.clone(), answer));
    }
    Ok(Box::pin(async move {
        let mut results = Vec::with_capacity(answers.len());
        for (id, answer) in answers {
            results.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(id)
                    .with_topic_results(by_topic(answer.await?)),
            );
        }
        ctx.encode(
            &AddPartitionsToTxnResponse::default()
                .with_error_code(0)
                .with_results_by_transaction(results),
        )
        .map(Some)
    }))
}

/// One transaction's partitions: refused up front when the client may not write to
/// the transaction or some of its topics (`check_client`), or when some do not
/// exist; else handed to the coordinator.
async fn add(
    ctx: &RequestContext,
    request: AddPartitions,
    check_client: bool,
) -> Result<Answer, CloseConnection> {
    if check_client {
        let access = ctx.access();
        let all = |code: ResponseError| -> Answer {
            let errors = request
                .partitions
                .iter()
                .map(|tp| (tp.clone(), code.code()))
                .collect();
            Box::pin(std::future::ready(Ok(errors)))
        };
        if !access.transactional_id(AclOperation::Write, &request.transactional_id) {
            return Ok(all(ResponseError::TransactionalIdAuthorizationFailed));
        }
        let denied = |(t, _): &TxnPartition| !access.topic(AclOperation::Write, t);
        if request.partitions.iter().any(denied) {
            let errors = request
                .partitions
                .iter()
                .map(|tp| {
                    let code = if denied(tp) {
                        ResponseError::TopicAuthorizationFailed
                    } else {
                        ResponseError::OperationNotAttempted
                    };
                    (tp.clone(), code.code())
                })
                .collect();
            return Ok(Box::pin(std::future::ready(Ok(errors))));
        }
    }
    let image = ctx.metadata().image();
    let unknown = |(t, p): &TxnPartition| !super::txn::partition_exists(&image, t, *p);
    if request.partitions.iter().any(unknown) {
        let errors = request
            .partitions
            .iter()
            .map(|tp| {
                let code = if unknown(tp) {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::OperationNotAttempted
                };
                (tp.clone(), code.code())
            })
            .collect();
        return Ok(Box::pin(std::future::ready(Ok(errors))));
    }
    let pending = super::txn::submit(ctx, TxnRequest::AddPartitions(request)).await?;
    Ok(Box::pin(async move {
        match pending.await? {
            TxnResponse::AddPartitions { errors } => Ok(errors),
            _ => Err(CloseConnection("coordinator answered another API".into())),
        }
    }))
}

fn partitions_of(topics: &[AddPartitionsToTxnTopic]) -> Vec<TxnPartition> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect()
}

fn by_topic(errors: Vec<(TxnPartition, i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut topics: BTreeMap<String, Vec<AddPartitionsToTxnPartitionResult>> = BTreeMap::new();
    for ((topic, partition), code) in errors {
        topics.entry(topic).or_default().push(
            AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(partition)
                .with_partition_error_code(code),
        );
    }
    topics
        .into_iter()
        .map(|(name, results)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(super::str_bytes(&name)))
                .with_results_by_partition(results)
        })
        .collect()
}
