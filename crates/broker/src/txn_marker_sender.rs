//! Writes a completing transaction's markers: WriteTxnMarkers to the leader of each
//! of its partitions over the inter-broker listener (to this very broker on one
//! node), as Kafka's coordinator does. Partitions whose leader is unknown, moving or
//! not answering are retried with a growing pause; once every partition has its
//! marker the coordinator is told, and the transaction completes. The job is dropped
//! when this node stops coordinating the transactional id (or its coordinator epoch
//! changes) (the new coordinator
//! resends the markers when it loads the partition).

use crate::broker::Broker;
use crate::controller::TRANSACTION_STATE_TOPIC;
use moldau_coordinator::txn::{MarkerJob, TxnPartition};
use moldau_metadata::MetadataImage;
use moldau_protocol::kafka::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use moldau_protocol::kafka::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// WriteTxnMarkers version sent (Kafka 4.x brokers serve only v1).
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// First pause before a retry; doubled up to [`RETRY_BACKOFF_MAX`].
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(20);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Starts writing the markers of `job` in the background.
pub fn send_markers(broker: &Arc<Broker>, job: MarkerJob) {
    let broker = Arc::downgrade(broker);
    tokio::spawn(deliver(broker, job));
}

async fn deliver(broker: Weak<Broker>, job: MarkerJob) {
    let mut remaining: BTreeSet<TxnPartition> = job.partitions.iter().cloned().collect();
    let mut backoff = RETRY_BACKOFF_MIN;
    loop {
        let Some(b) = broker.upgrade() else { return };
        let image = b.metadata.image();
        if !coordinates(&b, &image, &job) {
            tracing::info!(
                transactional_id = job.transactional_id,
                "no longer the coordinator; leaving the markers to the new one"
            );
            return;
        }
        // A partition deleted since it joined the transaction needs no marker.
        remaining.retain(|(t, p)| image.topic(t).is_some_and(|t| t.partitions.contains_key(p)));
        let mut by_leader: BTreeMap<i32, Vec<TxnPartition>> = BTreeMap::new();
        for tp in &remaining {
            let leader = image
                .topic(&tp.0)
                .and_then(|t| t.partitions.get(&tp.1))
                .map_or(-1, |p| p.leader);
            by_leader.entry(leader).or_default().push(tp.clone());
        }
        for (leader, partitions) in by_leader {
            let Some(endpoint) = image.broker(leader).filter(|_| leader >= 0) else {
                continue;
            };
            let (host, port) = b.address_on(endpoint, &b.advertised.inter_broker().name);
            match write_to(&b, &host, port, &job, &partitions).await {
                Ok(done) => {
                    for tp in done {
                        remaining.remove(&tp);
                    }
                }
                Err(e) => tracing::debug!(
                    transactional_id = job.transactional_id,
                    leader,
                    "writing transaction markers: {e}"
                ),
            }
        }
        if remaining.is_empty() {
            if let Some(txns) = b.txns.get() {
                txns.markers_done(
                    job.transactional_id.clone(),
                    job.producer_id,
                    job.producer_epoch,
                )
                .await;
            }
            return;
        }
        drop(b);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
    }
}

/// True while this node leads the `__transaction_state` partition of the job's id at
/// the job's coordinator epoch.
fn coordinates(broker: &Broker, image: &MetadataImage, job: &MarkerJob) -> bool {
    let partitions = crate::txn_service::transaction_state_partitions(broker);
    let p = moldau_coordinator::partition_for_group(&job.transactional_id, partitions);
    image
        .topic(TRANSACTION_STATE_TOPIC)
        .and_then(|t| t.partitions.get(&p))
        .is_some_and(|p| p.leader == broker.node_id && p.leader_epoch == job.coordinator_epoch)
}

/// Sends one WriteTxnMarkers for `partitions` to one leader; returns the partitions
/// that need nothing more.
async fn write_to(
    broker: &Broker,
    host: &str,
    port: i32,
    job: &MarkerJob,
    partitions: &[TxnPartition],
) -> Result<Vec<TxnPartition>, String> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(job.producer_id))
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ids)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partition_indexes(ids)
                })
                .collect(),
        );
    let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let mut connection = broker
        .connect_inter_broker(host, port)
        .await
        .map_err(|e| e.to_string())?;
    let response: WriteTxnMarkersResponse = connection
        .send(ApiKey::WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION, &request)
        .await
        .map_err(|e| e.to_string())?;
    let mut done = Vec::new();
    for result in response.markers {
        for topic in result.topics {
            for p in topic.partitions {
                let tp = (topic.name.0.to_string(), p.partition_index);
                if !partitions.contains(&tp) {
                    continue;
                }
                match marker_outcome(p.error_code) {
                    Outcome::Done => done.push(tp),
                    Outcome::Retry => tracing::debug!(
                        topic = tp.0,
                        partition = tp.1,
                        error = p.error_code,
                        "transaction marker not written yet; retrying"
                    ),
                }
            }
        }
    }
    Ok(done)
}

enum Outcome {
    Done,
    Retry,
}

/// What a partition's answer means for its marker: written, or superseded (the
/// partition saw a newer producer epoch already), else retried (leadership moving,
/// partition not hosted yet, storage trouble). TRANSACTION_COORDINATOR_FENCED is
/// retried too: the job ends once this node's coordinator epoch is out of date.
fn marker_outcome(error_code: i16) -> Outcome {
    const NONE: i16 = 0;
    if error_code == NONE || error_code == ResponseError::InvalidProducerEpoch.code() {
        Outcome::Done
    } else {
        Outcome::Retry
    }
}
