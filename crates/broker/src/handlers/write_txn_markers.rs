//! WriteTxnMarkers (api 27): a transaction coordinator asks the leader of each
//! partition of a transaction to append the COMMIT or ABORT marker (a control
//! batch with the producer's id and epoch and the coordinator's epoch). The log
//! checks the epochs (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED) and
//! closes the producer's open transaction, which moves the last stable offset. The
//! answer waits until every marker is durable, as an acks=all produce does. Only
//! brokers send it: it needs CLUSTER_ACTION (CLUSTER_AUTHORIZATION_FAILED on every
//! partition otherwise). A durable marker on a `__consumer_offsets` partition also
//! completes the offsets the transaction committed there (TxnOffsetCommit), before
//! the answer goes out.

use crate::controller::OFFSETS_TOPIC;
use crate::partition::DurableReceiver;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_log::TopicPartition;
use moldau_protocol::control_record::{build_marker_batch, EndTxnMarker};
use moldau_protocol::kafka::messages::write_txn_markers_request::WritableTxnMarker;
use moldau_protocol::kafka::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use moldau_protocol::kafka::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use moldau_protocol::ResponseError;

/// Every partition of every marker answered with `error`.
fn refused(request: &WriteTxnMarkersRequest, error: ResponseError) -> WriteTxnMarkersResponse {
    let markers = request
        .markers
        .iter()
        .map(|m| {
            let topics = m
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|p| {
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(*p)
                                .with_error_code(error.code())
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// One partition's outcome before durability is known.
struct PendingMarker {
    partition: i32,
    error: Option<ResponseError>,
    durable: Option<DurableReceiver>,
    /// Set on an offsets partition: (producer id, commit) to hand to the group
    /// coordinator once the marker is durable.
    completes_offsets: Option<(i64, bool)>,
}

impl PendingMarker {
    fn failed(partition: i32, error: ResponseError) -> Self {
        PendingMarker {
            partition,
            error: Some(error),
            durable: None,
            completes_offsets: None,
        }
    }
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: WriteTxnMarkersRequest = super::decode(&ctx, body)?;
    if !ctx
        .access()
        .cluster(moldau_protocol::acl::AclOperation::ClusterAction)
    {
        return ctx.ready(&refused(
            &request,
            ResponseError::ClusterAuthorizationFailed,
        ));
    }
    let now = crate::clock::now_ms();
    let mut markers = Vec::with_capacity(request.markers.len());
    // Appending writes the log (and fsyncs a transaction index on an abort): this
    // runs on the blocking pool (see `on_blocking_pool`).
    for marker in &request.markers {
        let mut topics = Vec::with_capacity(marker.topics.len());
        for topic in &marker.topics {
            let name = topic.name.0.to_string();
            let partitions: Vec<PendingMarker> = topic
                .partition_indexes
                .iter()
                .map(|&index| write_marker(&ctx, marker, &name, index, now))
                .collect();
            topics.push((topic.name.clone(), partitions));
        }
        markers.push((marker.producer_id, topics));
    }
    Ok(Box::pin(async move {
        let mut results = Vec::with_capacity(markers.len());
        for (producer_id, topics) in markers {
            let mut topic_results = Vec::with_capacity(topics.len());
            for (name, partitions) in topics {
                let mut partition_results = Vec::with_capacity(partitions.len());
                for p in partitions {
                    let error = match p.durable {
                        None => p.error,
                        Some(rx) => match rx.await {
                            Ok(Ok(_)) => p.error,
                            Ok(Err(e)) => {
                                tracing::error!("flushing a transaction marker failed: {e}");
                                Some(ResponseError::KafkaStorageError)
                            }
                            Err(_) => Some(ResponseError::KafkaStorageError),
                        },
                    };
                    if let (None, Some((producer_id, commit))) = (error, p.completes_offsets) {
                        on_marker_durable(&ctx, p.partition, producer_id, commit).await?;
                    }
                    partition_results.push(
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(p.partition)
                            .with_error_code(error.map_or(0, |e| e.code())),
                    );
                }
                topic_results.push(
                    WritableTxnMarkerTopicResult::default()
                        .with_name(name)
                        .with_partitions(partition_results),
                );
            }
            results.push(
                WritableTxnMarkerResult::default()
                    .with_producer_id(producer_id)
                    .with_topics(topic_results),
            );
        }
        ctx.encode(&WriteTxnMarkersResponse::default().with_markers(results))
            .map(Some)
    }))
}

/// Appends one marker to partition `index` of `topic` if this broker leads it.
fn write_marker(
    ctx: &RequestContext,
    marker: &WritableTxnMarker,
    topic: &str,
    index: i32,
    now_ms: i64,
) -> PendingMarker {
    let image = ctx.metadata().image();
    if let Err(not_served) =
        crate::leadership::check_leader(&image, ctx.metadata().node_id(), topic, index, -1)
    {
        return PendingMarker::failed(index, not_served.error);
    }
    let Some(partition) = ctx.partitions().get_by_name(topic, index) else {
        let offline = ctx
            .partitions()
            .logs()
            .offline_reason(&TopicPartition::new(topic, index))
            .is_some();
        return PendingMarker::failed(
            index,
            if offline {
                ResponseError::KafkaStorageError
            } else {
                ResponseError::NotLeaderOrFollower
            },
        );
    };
    let end = EndTxnMarker {
        commit: marker.transaction_result,
        coordinator_epoch: marker.coordinator_epoch,
    };
    let mut batch =
        match build_marker_batch(marker.producer_id.0, marker.producer_epoch, end, now_ms) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("building a transaction marker failed: {e}");
                return PendingMarker::failed(index, ResponseError::UnknownServerError);
            }
        };
    match partition.append(&mut batch, now_ms, true) {
        Ok((_, durable)) => {
            // Closing a transaction can move the LSO before the high watermark moves:
            // read_committed fetches waiting for it look again.
            ctx.partitions().data_arrived.notify_waiters();
            let completes_offsets = (topic == OFFSETS_TOPIC)
                .then_some((marker.producer_id.0, marker.transaction_result));
            PendingMarker {
                partition: index,
                error: None,
                durable,
                completes_offsets,
            }
        }
        Err(e) => {
            let error = e.response_error();
            tracing::debug!(topic, partition = index, "transaction marker refused: {e}");
            PendingMarker::failed(index, error)
        }
    }
}

/// Where a marker's effect reaches beyond the log: a durable marker on a
/// `__consumer_offsets` partition completes the producer's pending transactional
/// offsets there. Queued to the group coordinator before the answer goes out, so
/// the producer's next transaction cannot overtake it. A node not coordinating the
/// partition has nothing pending: whoever loads it reads the marker from the log.
async fn on_marker_durable(
    ctx: &RequestContext,
    partition: i32,
    producer_id: i64,
    commit: bool,
) -> Result<(), CloseConnection> {
    match ctx.groups().service() {
        Some(groups) => {
            groups
                .complete_transaction(partition, producer_id, commit)
                .await
        }
        None => Ok(()),
    }
}
