//! Transactions for operators: list and describe transactional ids, the active
//! producers of a partition, and aborting a hanging transaction with an ABORT
//! marker (what `kafka-transactions.sh` does through Kafka's admin client).

use moldau_protocol::kafka::messages::describe_producers_request::TopicRequest;
use moldau_protocol::kafka::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use moldau_protocol::kafka::messages::{
    ApiKey, DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest,
    ProducerId, TransactionalId, WriteTxnMarkersRequest,
};
use moldau_protocol::ResponseError;

use super::{
    sb, AbortTransactionSpec, AdminClient, ProducerStateDescription, TransactionDescription,
    TransactionListing,
};
use crate::cluster::{topic_name, Lane};
use crate::coordinator::Coordinator;
use crate::error::{check_code, Error, Result};
use crate::record::TopicPartition;

/// Which transactions `list_transactions` returns; empty filters match all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// Only these states (`Ongoing`, `PrepareCommit`, ...).
    pub states: Vec<String>,
    /// Only these producer ids.
    pub producer_ids: Vec<i64>,
    /// Only transactions open at least this long (ms); needs ListTransactions v1.
    pub duration_ms: Option<i64>,
}

impl AdminClient {
    /// Every transactional id on every broker that matches `filter`, sorted by id.
    pub async fn list_transactions(
        &self,
        filter: &TransactionFilter,
    ) -> Result<Vec<TransactionListing>> {
        let md = self.cluster.refresh(Some(&[])).await?;
        let mut nodes: Vec<i32> = md.brokers.keys().copied().collect();
        nodes.sort_unstable();
        let mut out = Vec::new();
        for node in nodes {
            let resp = self
                .cluster
                .send_to_with(node, Lane::Data, ApiKey::ListTransactions, None, |_| {
                    ListTransactionsRequest::default()
                        .with_state_filters(filter.states.iter().map(|s| sb(s)).collect())
                        .with_producer_id_filters(
                            filter.producer_ids.iter().map(|&p| ProducerId(p)).collect(),
                        )
                        .with_duration_filter(filter.duration_ms.unwrap_or(-1))
                })
                .await?;
            check_code(resp.error_code, None)?;
            if let Some(unknown) = resp.unknown_state_filters.first() {
                return Err(Error::Config(format!(
                    "'{unknown}' is not a transaction state"
                )));
            }
            out.extend(
                resp.transaction_states
                    .into_iter()
                    .map(|t| TransactionListing {
                        transactional_id: t.transactional_id.0.to_string(),
                        coordinator_id: node,
                        producer_id: t.producer_id.0,
                        state: t.transaction_state.to_string(),
                    }),
            );
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// `transactional_id` as its coordinator sees it; TRANSACTIONAL_ID_NOT_FOUND
    /// when the coordinator does not know it.
    pub async fn describe_transaction(
        &self,
        transactional_id: &str,
    ) -> Result<TransactionDescription> {
        let coord = Coordinator::for_transaction(self.cluster.clone(), transactional_id);
        let (node, state) = coord
            .retry(|| async {
                let node = coord.node().await?;
                let resp = coord
                    .send_with(ApiKey::DescribeTransactions, None, |_| {
                        DescribeTransactionsRequest::default()
                            .with_transactional_ids(vec![TransactionalId(sb(transactional_id))])
                    })
                    .await?;
                let state = resp.transaction_states.into_iter().next().ok_or_else(|| {
                    Error::Protocol("DescribeTransactions answered no transaction".into())
                })?;
                check_code(state.error_code, None)?;
                Ok((node, state))
            })
            .await?;
        let mut partitions: Vec<TopicPartition> = state
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.topic.0.as_str(), p))
            })
            .collect();
        partitions.sort();
        Ok(TransactionDescription {
            transactional_id: state.transactional_id.0.to_string(),
            coordinator_id: node,
            state: state.transaction_state.to_string(),
            producer_id: state.producer_id.0,
            producer_epoch: state.producer_epoch,
            timeout_ms: state.transaction_timeout_ms,
            start_time_ms: state.transaction_start_time_ms,
            partitions,
        })
    }

    /// The active producers of `partition`, asked of its leader, or of `broker_id`
    /// when given (any replica keeps producer state).
    pub async fn describe_producers(
        &self,
        partition: &TopicPartition,
        broker_id: Option<i32>,
    ) -> Result<Vec<ProducerStateDescription>> {
        let node = match broker_id {
            Some(n) => n,
            None => self.leader_of(partition).await?,
        };
        let resp = self
            .cluster
            .send_to_with(node, Lane::Data, ApiKey::DescribeProducers, None, |_| {
                DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                    .with_name(topic_name(&partition.topic))
                    .with_partition_indexes(vec![partition.partition])])
            })
            .await?;
        let p = resp
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition.partition)
            .ok_or_else(|| Error::Protocol(format!("DescribeProducers lacks {partition}")))?;
        check_code(p.error_code, p.error_message.as_deref())?;
        Ok(p.active_producers
            .into_iter()
            .map(|s| ProducerStateDescription {
                producer_id: s.producer_id.0,
                producer_epoch: s.producer_epoch,
                last_sequence: s.last_sequence,
                last_timestamp: s.last_timestamp,
                coordinator_epoch: s.coordinator_epoch,
                current_txn_start_offset: (s.current_txn_start_offset >= 0)
                    .then_some(s.current_txn_start_offset),
            })
            .collect())
    }

    /// Aborts an open transaction on one partition by writing an ABORT marker
    /// through WriteTxnMarkers to the partition's leader, as Kafka's admin client
    /// does for a transaction its coordinator no longer knows (a hanging one).
    pub async fn abort_transaction(&self, spec: &AbortTransactionSpec) -> Result<()> {
        let leader = self.leader_of(&spec.partition).await?;
        let resp = self
            .cluster
            .send_to_with(leader, Lane::Data, ApiKey::WriteTxnMarkers, None, |_| {
                WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                    .with_producer_id(ProducerId(spec.producer_id))
                    .with_producer_epoch(spec.producer_epoch)
                    .with_transaction_result(false)
                    .with_coordinator_epoch(spec.coordinator_epoch)
                    .with_topics(vec![WritableTxnMarkerTopic::default()
                        .with_name(topic_name(&spec.partition.topic))
                        .with_partition_indexes(vec![spec.partition.partition])])])
            })
            .await?;
        let code = resp
            .markers
            .iter()
            .flat_map(|m| &m.topics)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == spec.partition.partition)
            .map(|p| p.error_code)
            .ok_or_else(|| Error::Protocol(format!("WriteTxnMarkers lacks {}", spec.partition)))?;
        check_code(code, None)
    }

    /// The leader of `partition` from fresh metadata.
    async fn leader_of(&self, partition: &TopicPartition) -> Result<i32> {
        let md = self
            .cluster
            .refresh(Some(std::slice::from_ref(&partition.topic)))
            .await?;
        if let Some(e) = md.topic_errors.get(&partition.topic) {
            return Err(Error::Broker(e.clone()));
        }
        let Some(topic) = md.topics.get(&partition.topic) else {
            return Err(Error::UnknownTopic(partition.topic.clone()));
        };
        match topic
            .partitions
            .iter()
            .find(|p| p.partition == partition.partition)
        {
            Some(p) if p.leader >= 0 => Ok(p.leader),
            Some(_) => check_code(ResponseError::LeaderNotAvailable.code(), None).map(|()| -1),
            None => Err(Error::Config(format!(
                "topic '{}' has no partition {}",
                partition.topic, partition.partition
            ))),
        }
    }
}
