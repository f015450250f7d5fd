//! Adds partitions to a transaction for their leader (KIP-890 part 2), or checks
//! that they are in it (KIP-890 part 1, for TxnOffsetCommit of version 1 producers): a
//! transaction version 2 producer sends Produce v12+ without AddPartitionsToTxn,
//! and the leader of each partition asks the transaction coordinator to add it
//! before appending (AddPartitionsToTxn v5, `verifyOnly` false). The coordinator is
//! this broker's own transaction service when it leads the id's
//! `__transaction_state` partition, else the leader of that partition over the
//! inter-broker listener. While the previous transaction's markers are being written
//! the coordinator answers CONCURRENT_TRANSACTIONS; that is retried here, as Kafka's
//! leader does, until the produce request's timeout.

use crate::broker::Broker;
use crate::controller::TRANSACTION_STATE_TOPIC;
use crate::inter_broker_client::INTER_BROKER_REQUEST_TIMEOUT;
use moldau_coordinator::txn::{AddPartitions, TxnPartition, TxnRequest, TxnResponse};
use moldau_protocol::kafka::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use moldau_protocol::kafka::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ProducerId, TopicName,
    TransactionalId,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// AddPartitionsToTxn version a leader sends for a transaction version 2 producer.
const ADD_PARTITIONS_VERSION: i16 = 5;
/// AddPartitionsToTxn version of a verification (the batched form, KIP-890 part 1).
const VERIFY_PARTITIONS_VERSION: i16 = 4;
/// Pause before asking the coordinator again after a retriable answer.
const RETRY_BACKOFF: Duration = Duration::from_millis(10);

/// One producer's partitions to add to (or, `verify_only`, check in) its open
/// transaction.
#[derive(Debug, Clone)]
pub struct ImplicitAdd {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TxnPartition>,
    /// KIP-890 part 1 (version 1 producers): only check that the partitions are in
    /// the transaction; the producer added them itself.
    pub verify_only: bool,
}

/// Adds `add`'s partitions, retrying retriable answers until `deadline`; returns the
/// partitions that could not be added with the error their produce answer carries
/// (Kafka's mapping: a fenced producer is INVALID_PRODUCER_EPOCH, a coordinator
/// that cannot answer yet NOT_ENOUGH_REPLICAS so that every client retries).
pub async fn add_partitions(
    broker: &Arc<Broker>,
    add: ImplicitAdd,
    deadline: Instant,
) -> HashMap<TxnPartition, ResponseError> {
    let mut remaining = add.partitions.clone();
    let mut failed = HashMap::new();
    loop {
        let answers = match ask_coordinator(broker, &add, &remaining).await {
            Ok(answers) => answers,
            Err(e) => {
                tracing::debug!(
                    transactional_id = add.transactional_id,
                    "adding partitions to the transaction: {e}"
                );
                remaining
                    .iter()
                    .map(|tp| (tp.clone(), ResponseError::CoordinatorNotAvailable.code()))
                    .collect()
            }
        };
        let mut retry = Vec::new();
        for (tp, code) in answers {
            if code == 0 || !remaining.contains(&tp) {
                continue;
            }
            if is_retriable(code) {
                retry.push(tp);
            } else {
                failed.insert(tp, produce_error(code));
            }
        }
        if retry.is_empty() {
            return failed;
        }
        if Instant::now() + RETRY_BACKOFF >= deadline {
            for tp in retry {
                failed.insert(tp, ResponseError::NotEnoughReplicas);
            }
            return failed;
        }
        remaining = retry;
        tokio::time::sleep(RETRY_BACKOFF).await;
    }
}

/// Answers the coordinator may change by itself: the previous transaction still
/// completing, the coordinator loading or moving.
fn is_retriable(code: i16) -> bool {
    [
        ResponseError::ConcurrentTransactions,
        ResponseError::CoordinatorLoadInProgress,
        ResponseError::CoordinatorNotAvailable,
        ResponseError::NotCoordinator,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// The error a produced partition is answered with when its add failed.
fn produce_error(code: i16) -> ResponseError {
    if code == ResponseError::ProducerFenced.code() {
        return ResponseError::InvalidProducerEpoch;
    }
    ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)
}

/// One round: the coordinator's answer per partition.
async fn ask_coordinator(
    broker: &Arc<Broker>,
    add: &ImplicitAdd,
    partitions: &[TxnPartition],
) -> Result<Vec<(TxnPartition, i16)>, String> {
    let image = broker.metadata.image();
    let count = crate::txn_service::transaction_state_partitions(broker);
    let state_partition = moldau_coordinator::partition_for_group(&add.transactional_id, count);
    let leader = image
        .topic(TRANSACTION_STATE_TOPIC)
        .and_then(|t| t.partitions.get(&state_partition))
        .map_or(-1, |p| p.leader);
    if leader < 0 {
        return Err("the transaction coordinator is not known".into());
    }
    if leader == broker.node_id {
        let service = broker
            .txns
            .get()
            .cloned()
            .ok_or("transaction coordinator not running")?;
        let rx = service
            .submit(TxnRequest::AddPartitions(AddPartitions {
                transactional_id: add.transactional_id.clone(),
                producer_id: add.producer_id,
                producer_epoch: add.producer_epoch,
                partitions: partitions.to_vec(),
                verify_only: add.verify_only,
                transaction_version_2: !add.verify_only,
            }))
            .await
            .map_err(|e| e.0)?;
        return match rx.await {
            Ok(TxnResponse::AddPartitions { errors }) => Ok(errors),
            Ok(_) => Err("coordinator answered another API".into()),
            Err(_) => Err("transaction coordinator stopped".into()),
        };
    }
    let endpoint = image
        .broker(leader)
        .ok_or_else(|| format!("coordinator {leader} has no endpoint"))?;
    let (host, port) = broker.address_on(endpoint, &broker.advertised.inter_broker().name);
    let mut connection = broker
        .connect_inter_broker(&host, port)
        .await
        .map_err(|e| e.to_string())?;
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(
                add.transactional_id.clone(),
            )))
            .with_producer_id(ProducerId(add.producer_id))
            .with_producer_epoch(add.producer_epoch)
            .with_verify_only(add.verify_only)
            .with_topics(by_topic(partitions)),
    ]);
    let version = if add.verify_only {
        VERIFY_PARTITIONS_VERSION
    } else {
        ADD_PARTITIONS_VERSION
    };
    let response: AddPartitionsToTxnResponse = connection
        .send(ApiKey::AddPartitionsToTxn, version, &request)
        .await
        .map_err(|e| e.to_string())?;
    if response.error_code != 0 {
        return Ok(partitions
            .iter()
            .map(|tp| (tp.clone(), response.error_code))
            .collect());
    }
    let mut answers = Vec::new();
    for result in response.results_by_transaction {
        for topic in result.topic_results {
            for p in topic.results_by_partition {
                answers.push((
                    (topic.name.0.to_string(), p.partition_index),
                    p.partition_error_code,
                ));
            }
        }
    }
    Ok(answers)
}

fn by_topic(partitions: &[TxnPartition]) -> Vec<AddPartitionsToTxnTopic> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    topics
        .into_iter()
        .map(|(t, ids)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(t.to_string())))
                .with_partitions(ids)
        })
        .collect()
}

/// How long a produce request may wait for its partitions to be added: its
/// `timeout.ms`, within the inter-broker request timeout.
pub fn add_deadline(timeout_ms: i32) -> Instant {
    let wait = Duration::from_millis(timeout_ms.max(0) as u64).min(INTER_BROKER_REQUEST_TIMEOUT);
    Instant::now() + wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_answers_map_to_kafkas_produce_errors() {
        assert_eq!(
            produce_error(ResponseError::ProducerFenced.code()),
            ResponseError::InvalidProducerEpoch
        );
        assert_eq!(
            produce_error(ResponseError::InvalidTxnState.code()),
            ResponseError::InvalidTxnState
        );
        assert!(is_retriable(ResponseError::ConcurrentTransactions.code()));
        assert!(!is_retriable(
            ResponseError::InvalidProducerIdMapping.code()
        ));
    }
}
