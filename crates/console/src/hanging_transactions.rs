//! `GET /api/v1/transactions/hanging` and `POST /api/v1/transactions/abort`: open
//! transactions on the partitions this broker leads that no coordinator will finish
//! (as `moldau transactions find-hanging`), and aborting one by its start offset with
//! an ABORT marker, a WriteTxnMarkers to the partition's leader (as
//! `moldau transactions abort`). Each broker's console lists the partitions it leads.

use crate::caller::Caller;
use crate::console::{now_ms, Console};
use crate::error::{ApiError, ApiResult};
use crate::extract::{require_confirmation, JsonBody};
use axum::extract::State;
use axum::Json;
use moldau_broker::console_backend::ConsoleBackend;
use moldau_broker::inter_broker_client::InterBrokerConnection;
use moldau_broker::partition::Partition;
use moldau_coordinator::txn::TxnState;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use moldau_protocol::kafka::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use moldau_protocol::kafka::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

/// WriteTxnMarkers version sent (the one Kafka 4 brokers serve).
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// Most hanging transactions listed (all are counted).
pub const HANGING_LISTED_MAX: usize = 1000;

/// An open transaction on one partition, from the partition's producer state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpenTransaction {
    pub topic: String,
    pub partition: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Epoch of the coordinator that wrote the producer's last marker (-1: none).
    pub coordinator_epoch: i32,
    /// Offset of the transaction's first record.
    pub start_offset: i64,
    /// Max timestamp of the producer's last batch.
    pub last_timestamp: i64,
    /// Since that timestamp, in milliseconds.
    pub idle_ms: i64,
}

/// The answer of `GET /api/v1/transactions/hanging`.
#[derive(Debug, Serialize)]
pub struct HangingTransactions {
    pub transactions: Vec<OpenTransaction>,
    /// Every hanging transaction found (more than listed when over the limit).
    pub count: usize,
    /// `transaction.max.timeout.ms`: an open transaction idle longer than any
    /// producer may ask for, that no coordinator is finishing, hangs.
    pub max_timeout_ms: i64,
    /// Some coordinator partitions are still loading: a transaction they will
    /// finish may be listed.
    pub loading: bool,
}

/// The hanging ones among `open`: idle longer than `max_timeout_ms` and not part of
/// an open transaction of its producer that a coordinator is finishing (`finishing`
/// holds (producer id, topic, partition) of those).
pub fn hanging_among(
    open: Vec<OpenTransaction>,
    finishing: &HashSet<(i64, String, i32)>,
    max_timeout_ms: i64,
) -> Vec<OpenTransaction> {
    open.into_iter()
        .filter(|t| t.idle_ms > max_timeout_ms)
        .filter(|t| !finishing.contains(&(t.producer_id, t.topic.clone(), t.partition)))
        .collect()
}

/// The open transactions of one hosted partition, in offset order.
fn open_on(hosted: &Partition, now: i64) -> Vec<OpenTransaction> {
    let log = hosted.log.read();
    let mut out: Vec<OpenTransaction> = log
        .producer_state()
        .entries()
        .filter_map(|e| {
            Some(OpenTransaction {
                topic: hosted.tp.topic.clone(),
                partition: hosted.tp.partition,
                producer_id: e.producer_id,
                producer_epoch: e.epoch,
                coordinator_epoch: e.coordinator_epoch,
                start_offset: e.current_txn_first_offset?,
                last_timestamp: e.last_timestamp,
                idle_ms: now.saturating_sub(e.last_timestamp).max(0),
            })
        })
        .collect();
    out.sort_by_key(|t| t.start_offset);
    out
}

/// Every open transaction on the partitions this broker leads, in topic,
/// partition and offset order.
fn open_transactions(backend: &ConsoleBackend, now: i64) -> Vec<OpenTransaction> {
    let mut hosted: Vec<Arc<Partition>> = backend
        .partitions()
        .all()
        .into_iter()
        .filter(|p| p.is_leader())
        .collect();
    hosted.sort_by(|a, b| (&a.tp.topic, a.tp.partition).cmp(&(&b.tp.topic, b.tp.partition)));
    hosted.iter().flat_map(|p| open_on(p, now)).collect()
}

/// (producer id, topic, partition) of every transaction this broker's coordinator
/// is still finishing, and whether its partitions are still loading.
async fn finishing(console: &Console) -> ApiResult<(HashSet<(i64, String, i32)>, bool)> {
    let Some(service) = console.backend.transactions().service() else {
        return Ok((HashSet::new(), false));
    };
    service
        .inspect(|c| {
            let (all, loading) = c.list();
            let open = all
                .filter(|t| {
                    matches!(
                        t.state,
                        TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
                    )
                })
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |(topic, p)| (t.producer_id, topic.clone(), *p))
                })
                .collect();
            (open, loading)
        })
        .await
        .map_err(|e| ApiError::Unavailable(e.0))
}

/// `GET /api/v1/transactions/hanging`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<HangingTransactions>> {
    // Reads every partition's producer state (DescribeProducers across the
    // cluster): DESCRIBE on the cluster.
    caller.require_cluster(AclOperation::Describe)?;
    let max_timeout_ms = i64::from(console.backend.config().settings.transaction_max_timeout_ms);
    let (finishing, loading) = finishing(&console).await?;
    let open = open_transactions(&console.backend, now_ms());
    let mut transactions = hanging_among(open, &finishing, max_timeout_ms);
    let count = transactions.len();
    transactions.truncate(HANGING_LISTED_MAX);
    Ok(Json(HangingTransactions {
        transactions,
        count,
        max_timeout_ms,
        loading,
    }))
}

/// Body of `POST /api/v1/transactions/abort`: the transaction that starts at
/// `start_offset` of the partition.
#[derive(Debug, Deserialize)]
pub struct AbortBody {
    pub topic: String,
    pub partition: i32,
    pub start_offset: i64,
    #[serde(default)]
    pub confirm: bool,
}

/// `POST /api/v1/transactions/abort`
pub async fn abort(
    State(console): State<Arc<Console>>,
    caller: Caller,
    JsonBody(body): JsonBody<AbortBody>,
) -> ApiResult<Json<OpenTransaction>> {
    // The abort writes markers as the broker itself (WriteTxnMarkers needs
    // CLUSTER_ACTION, which no user should hold); ALTER on the cluster is the
    // operator's right that kafka-transactions.sh's abort amounts to.
    caller.require_cluster(AclOperation::Alter)?;
    let backend = &console.backend;
    let node_id = backend.metadata().node_id();
    let image = backend.metadata().image();
    let Some(topic) = image.topic(&body.topic) else {
        return Err(ApiError::UnknownTopic(body.topic));
    };
    let Some(assigned) = topic.partitions.get(&body.partition) else {
        return Err(ApiError::UnknownPartition {
            topic: body.topic,
            partition: body.partition,
        });
    };
    let tp = format!("{}-{}", body.topic, body.partition);
    let Some(hosted) = backend
        .partitions()
        .get_by_name(&body.topic, body.partition)
        .filter(|p| p.is_leader())
    else {
        return Err(ApiError::Conflict(format!(
            "broker {} does not lead {tp} (its leader is {}): abort it from the leader's \
             console or with moldau transactions abort",
            node_id, assigned.leader
        )));
    };
    let found = open_on(&hosted, now_ms())
        .into_iter()
        .find(|t| t.start_offset == body.start_offset);
    let Some(txn) = found else {
        return Err(ApiError::Conflict(format!(
            "no open transaction starts at offset {} of {tp}",
            body.start_offset
        )));
    };
    require_confirmation(
        body.confirm,
        &format!(
            "aborting the transaction of producer {} on {tp} hides its records from \
             read_committed consumers for good",
            txn.producer_id
        ),
    )?;
    write_abort_marker(backend, &txn).await?;
    tracing::info!(
        partition = %tp,
        producer_id = txn.producer_id,
        start_offset = txn.start_offset,
        "transaction aborted from the console"
    );
    Ok(Json(txn))
}

/// Sends WriteTxnMarkers(ABORT) for `txn` to this broker, its leader, over the
/// inter-broker listener: the path (and the checks) of a coordinator's markers.
async fn write_abort_marker(backend: &ConsoleBackend, txn: &OpenTransaction) -> ApiResult<()> {
    let metadata = backend.metadata();
    let node_id = metadata.node_id();
    let image = metadata.image();
    let Some(me) = image.broker(node_id) else {
        return Err(ApiError::Unavailable(format!(
            "broker {node_id} is not registered yet"
        )));
    };
    let (host, port) = metadata.address_on(me, backend.inter_broker_listener());
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.producer_epoch)
        .with_transaction_result(false)
        // A partition that never saw a marker has no coordinator epoch yet.
        .with_coordinator_epoch(txn.coordinator_epoch.max(0))
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(TopicName(StrBytes::from_string(txn.topic.clone())))
            .with_partition_indexes(vec![txn.partition])]);
    let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let tls = backend.inter_broker_tls();
    let unreachable = |e| ApiError::Unavailable(format!("writing the abort marker: {e}"));
    let mut connection =
        InterBrokerConnection::connect(&host, port, node_id, tls, backend.inter_broker_sasl())
            .await
            .map_err(unreachable)?;
    let response: WriteTxnMarkersResponse = connection
        .send(ApiKey::WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION, &request)
        .await
        .map_err(unreachable)?;
    let code = response
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == txn.partition)
        .map(|p| p.error_code)
        .ok_or_else(|| ApiError::Internal("no answer for the partition".into()))?;
    match code {
        0 => Ok(()),
        code => Err(ApiError::from_code(
            code,
            &format!(
                "writing the abort marker to {}-{}",
                txn.topic, txn.partition
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(producer_id: i64, partition: i32, idle_ms: i64) -> OpenTransaction {
        OpenTransaction {
            topic: "t".into(),
            partition,
            producer_id,
            producer_epoch: 0,
            coordinator_epoch: -1,
            start_offset: 5,
            last_timestamp: 1_000,
            idle_ms,
        }
    }

    #[test]
    fn only_idle_transactions_no_coordinator_finishes_hang() {
        let finishing: HashSet<_> = [(2, "t".to_string(), 0)].into_iter().collect();
        let hanging = hanging_among(
            vec![
                open(1, 0, 60_000),  // young: its producer may still end it
                open(2, 0, 120_000), // old, but its coordinator is finishing it
                open(2, 1, 120_000), // the same producer on a partition it never added
                open(3, 0, 120_000),
            ],
            &finishing,
            90_000,
        );
        let ids: Vec<_> = hanging
            .iter()
            .map(|t| (t.producer_id, t.partition))
            .collect();
        assert_eq!(ids, vec![(2, 1), (3, 0)]);
    }
}
