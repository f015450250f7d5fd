//! The producer's background task: drains ready batches, groups them by partition
//! leader into Produce requests, and handles the answers (offsets to the waiting
//! records, retriable errors back to the accumulator, metadata refresh on moved
//! leaders).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moldau_protocol::kafka::error::ResponseError;
use moldau_protocol::kafka::messages::{ApiKey, InitProducerIdRequest, ProduceResponse};
use tokio::sync::Semaphore;

use super::accumulator::ProducerBatch;
use super::config::Acks;
use super::request::{encode_produce, TopicBatches};
use super::sequence::ProducerIdentity;
use super::Shared;
use crate::cluster::Lane;
use crate::error::{check_code, BrokerError, Error, Result};

/// Longest the sender sleeps when nothing is due, so closing is noticed promptly.
const IDLE_WAKE: Duration = Duration::from_millis(500);

/// Runs until the producer is closed and everything queued is done.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut node_slots: HashMap<i32, Arc<Semaphore>> = HashMap::new();
    loop {
        let wants_id = shared
            .accumulator
            .lock()
            .map(|a| a.wants_producer_id())
            .unwrap_or(false);
        // A transactional producer gets its id from `init_transactions`.
        if wants_id && shared.txn.is_none() {
            init_producer_id(&shared).await;
        }
        let closing = shared.is_closing();
        let force = closing || shared.flushing();
        let md = shared.cluster.metadata();
        let drained = match shared.accumulator.lock() {
            Ok(mut acc) => acc.drain(
                Instant::now(),
                force,
                shared.config.max_request_size_bytes,
                |t, p| md.leader(t, p),
            ),
            Err(_) => return,
        };
        for batch in drained.expired {
            let err = Error::Timeout(format!(
                "{}-{} not delivered within delivery.timeout.ms",
                batch.topic, batch.partition
            ));
            // Never in flight: only its records are told.
            if let Some(txn) = &shared.txn {
                txn.record_failure(&err);
            }
            batch.fail(&err);
            if let Ok(acc) = shared.accumulator.lock() {
                shared.publish_progress(acc.lowest_incomplete());
            }
        }
        let mut next_wake = drained.next_wake;
        if !drained.leaderless.is_empty() {
            refresh_in_background(&shared, drained.leaderless);
            let retry = Instant::now() + shared.config.client.retry_backoff;
            next_wake = Some(next_wake.map_or(retry, |w| w.min(retry)));
        }
        for (node, batches) in drained.by_node {
            let slots = node_slots
                .entry(node)
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(shared.config.max_in_flight_per_connection))
                })
                .clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                send_request(&shared, node, batches).await;
            });
        }
        if closing && shared.is_idle() {
            shared.idle.notify_waiters();
            return;
        }
        let sleep = match next_wake {
            Some(at) => tokio::time::sleep_until(at.into()),
            None => tokio::time::sleep(IDLE_WAKE),
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

fn refresh_in_background(shared: &Arc<Shared>, topics: Vec<String>) {
    let cluster = shared.cluster.clone();
    tokio::spawn(async move {
        if let Err(e) = cluster.refresh(Some(&topics)).await {
            tracing::debug!(error = %e, "metadata refresh failed");
        }
    });
}

async fn send_request(shared: &Arc<Shared>, node: i32, mut batches: Vec<ProducerBatch>) {
    let conn = match shared.cluster.connection(node, Lane::Data).await {
        Ok(c) => c,
        Err(e) => {
            for b in batches {
                retry_or_fail(shared, b, e.clone());
            }
            return;
        }
    };
    let version = match conn.version_for(ApiKey::Produce) {
        Ok(v) => v,
        Err(e) => {
            for b in batches {
                finish(shared, b, Err(e.clone()));
            }
            return;
        }
    };
    let mut topics: Vec<TopicBatches> = Vec::new();
    let mut keep = Vec::with_capacity(batches.len());
    for mut b in batches.drain(..) {
        let bytes = match b.bytes() {
            Ok(bytes) => bytes,
            Err(e) => {
                finish(shared, b, Err(e));
                continue;
            }
        };
        match topics.iter_mut().find(|t| t.0 == b.topic) {
            Some(t) => t.1.push((b.partition, bytes)),
            None => topics.push((b.topic.clone(), vec![(b.partition, bytes)])),
        }
        keep.push(b);
    }
    if keep.is_empty() {
        return;
    }
    let request_timeout = shared.config.client.connection.request_timeout;
    let timeout_ms = request_timeout.as_millis().min(i32::MAX as u128) as i32;
    let body = encode_produce(
        version,
        shared.config.transactional_id.as_deref(),
        shared.config.acks.wire(),
        timeout_ms,
        &topics,
    );
    // Only the batches keep their bytes now, so they can be recycled when done.
    drop(topics);
    let expect_response = shared.config.acks != Acks::None;
    let header_version = ApiKey::Produce.request_header_version(version);
    let sent = conn
        .send_encoded::<ProduceResponse>(
            ApiKey::Produce,
            version,
            header_version,
            body,
            expect_response,
            request_timeout,
        )
        .await;
    let resp = match sent {
        Ok(Some(r)) => r,
        Ok(None) => {
            // acks=0: no answer, no offsets.
            for b in keep {
                finish(shared, b, Ok((-1, None)));
            }
            return;
        }
        Err(e) => {
            for b in keep {
                retry_or_fail(shared, b, e.clone());
            }
            return;
        }
    };
    let mut results: HashMap<(String, i32), _> = HashMap::new();
    for t in resp.responses {
        let name = t.name.0.to_string();
        for p in t.partition_responses {
            results.insert((name.clone(), p.index), p);
        }
    }
    for b in keep {
        match results.remove(&(b.topic.to_string(), b.partition)) {
            None => {
                let e = Error::Protocol(format!(
                    "produce response lacks {}-{}",
                    b.topic, b.partition
                ));
                retry_or_fail(shared, b, e);
            }
            Some(p) => {
                let message = p.error_message.map(|m| m.to_string()).or_else(|| {
                    p.record_errors
                        .first()
                        .and_then(|r| r.batch_index_error_message.as_ref())
                        .map(|m| m.to_string())
                });
                match BrokerError::from_code(p.error_code, message) {
                    None => {
                        let log_append =
                            (p.log_append_time_ms >= 0).then_some(p.log_append_time_ms);
                        finish(shared, b, Ok((p.base_offset, log_append)));
                    }
                    Some(err) => retry_or_fail(shared, b, Error::Broker(err)),
                }
            }
        }
    }
}

/// Gets a producer id for idempotent producing (again, after a reset). A broker
/// that cannot give one turns idempotence off; other failures are retried later.
async fn init_producer_id(shared: &Arc<Shared>) {
    let result = shared
        .cluster
        .send_any_with(ApiKey::InitProducerId, |_| {
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX)
        })
        .await
        .and_then(|r| check_code(r.error_code, None).map(|()| r));
    match result {
        Ok(r) => {
            let identity = ProducerIdentity {
                id: r.producer_id.0,
                epoch: r.producer_epoch,
            };
            tracing::debug!(id = identity.id, epoch = identity.epoch, "producer id");
            if let Ok(mut acc) = shared.accumulator.lock() {
                acc.set_producer(identity);
            }
        }
        Err(e) if e.is_retriable() => {
            tracing::debug!(error = %e, "InitProducerId failed; retrying");
            tokio::time::sleep(shared.config.client.retry_backoff).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "no producer id; sending without idempotence");
            if let Ok(mut acc) = shared.accumulator.lock() {
                acc.disable_idempotence();
            }
        }
    }
}

/// Resends a batch after backoff when the error allows and time is left, else fails
/// its records. Errors that mean "leader moved" refresh metadata first; sequence
/// errors of idempotent batches are retried (after a producer reset if needed).
fn retry_or_fail(shared: &Arc<Shared>, batch: ProducerBatch, err: Error) {
    if shared.txn.is_some() {
        // Fenced: a newer producer owns the transactional id. A sequence error:
        // the transaction must abort, and the abort starts a new epoch.
        let fatal = Error::transactional(err.clone());
        let sequence_error = err.is(ResponseError::OutOfOrderSequenceNumber)
            || err.is(ResponseError::UnknownProducerId);
        if matches!(fatal, Error::Fenced(_)) || sequence_error {
            finish(shared, batch, Err(fatal));
            return;
        }
    }
    if batch.stamp.is_some() {
        if err.is(ResponseError::DuplicateSequenceNumber) {
            // The broker has it already; the offset is not known any more.
            finish(shared, batch, Ok((-1, None)));
            return;
        }
        let sequence_error = err.is(ResponseError::OutOfOrderSequenceNumber)
            || err.is(ResponseError::UnknownProducerId)
            || err.is(ResponseError::InvalidProducerEpoch);
        if sequence_error && batch.created.elapsed() < shared.config.delivery_timeout {
            if let Ok(mut acc) = shared.accumulator.lock() {
                // Only the echo of an earlier batch's failure, or a real gap?
                if !err.is(ResponseError::OutOfOrderSequenceNumber)
                    || !acc.has_earlier_unacked(&batch)
                {
                    acc.request_reset();
                }
                acc.reenqueue(batch, shared.config.client.retry_backoff);
            }
            shared.wake.notify_one();
            return;
        }
    }
    let expired = batch.created.elapsed() >= shared.config.delivery_timeout;
    let retriable = err.is_retriable() || matches!(err, Error::Protocol(_));
    if !retriable || expired || batch.attempts >= shared.config.retries {
        finish(shared, batch, Err(err));
        return;
    }
    tracing::debug!(topic = %batch.topic, partition = batch.partition, records = batch.record_count(), error = %err, "retrying batch");
    if needs_metadata(&err) {
        refresh_in_background(shared, vec![batch.topic.to_string()]);
    }
    let backoff = shared.config.client.retry_backoff;
    if let Ok(mut acc) = shared.accumulator.lock() {
        acc.reenqueue(batch, backoff);
    }
    shared.wake.notify_one();
}

fn needs_metadata(err: &Error) -> bool {
    match err {
        Error::Broker(b) => matches!(
            b.kind(),
            ResponseError::NotLeaderOrFollower
                | ResponseError::LeaderNotAvailable
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
                | ResponseError::KafkaStorageError
        ),
        Error::Io { .. } | Error::Disconnected(_) | Error::Timeout(_) => true,
        _ => false,
    }
}

/// Completes a batch: reports to its records and frees its partition and memory.
fn finish(shared: &Arc<Shared>, mut batch: ProducerBatch, outcome: Result<(i64, Option<i64>)>) {
    let buffer = batch.take_buffer();
    if let Ok(mut acc) = shared.accumulator.lock() {
        acc.complete(&batch, outcome.is_err());
        if let Some(buf) = buffer {
            acc.recycle(buf);
        }
        shared.publish_progress(acc.lowest_incomplete());
    }
    match outcome {
        Ok((base, log_append)) => batch.succeed(base, log_append),
        Err(e) => {
            if let Some(txn) = &shared.txn {
                txn.record_failure(&e);
            }
            batch.fail(&e)
        }
    }
    shared.wake.notify_one();
}
