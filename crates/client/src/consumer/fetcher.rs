//! The consumer's background fetcher: keeps one Fetch in flight per leader for the
//! assigned, positioned, unpaused partitions whose prefetch buffer has room, decodes
//! the answers off the application's task, and buffers the records.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use moldau_protocol::kafka::error::ResponseError;
use moldau_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use moldau_protocol::kafka::messages::{ApiKey, FetchRequest};
use moldau_protocol::kafka::protocol::StrBytes;

use super::state::{FetchTarget, FetchedPartition};
use super::Inner;
use crate::batch_decoder::{decode_partition, AbortedTxn, DecodeOptions};
use crate::cluster::{is_network, topic_name, Lane};
use crate::error::{BrokerError, Error};
use crate::record::TopicPartition;

/// How many `max.partition.fetch.bytes` worth of records may wait in a partition's
/// buffer before its fetching pauses.
const PREFETCH_FETCHES: usize = 2;
/// Longest the fetcher sleeps without a wake-up, so it notices new leaders.
const IDLE_WAKE: Duration = Duration::from_millis(200);
/// Long-poll time of a fetch while other partitions wait for buffer room: short, so
/// they are fetched again soon after the application drains them.
const HELD_BACK_FETCH_WAIT: Duration = Duration::from_millis(10);
/// Extra time a fetch may take beyond `fetch.max.wait.ms` before it times out.
const FETCH_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// Runs until the consumer is dropped or closed.
pub(super) async fn run(weak: Weak<Inner>) {
    let busy: Arc<Mutex<HashSet<i32>>> = Arc::new(Mutex::new(HashSet::new()));
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let wait = inner.fetch_wake.notified();
        tokio::pin!(wait);
        wait.as_mut().enable();
        let mut sleep = IDLE_WAKE;
        if let Some(backoff) = plan_and_send(&inner, &busy) {
            sleep = backoff;
        }
        // Dropping the consumer aborts this task, so holding `inner` here is fine.
        tokio::select! {
            _ = wait => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Starts fetches for every idle leader; returns a shorter sleep when some leader is
/// unknown (metadata is being refreshed).
fn plan_and_send(inner: &Arc<Inner>, busy: &Arc<Mutex<HashSet<i32>>>) -> Option<Duration> {
    let prefetch = inner.config.max_partition_fetch_bytes.max(1) as usize * PREFETCH_FETCHES;
    let md = inner.cluster.metadata();
    let busy_now: HashSet<i32> = busy.lock().map(|b| b.clone()).unwrap_or_default();
    let mut by_node: HashMap<i32, Vec<FetchTarget>> = HashMap::new();
    let mut leaderless: Vec<String> = Vec::new();
    let short_wait = {
        let Ok(mut st) = inner.state.lock() else {
            return None;
        };
        let (targets, held_back) = st.take_fetch_targets(prefetch);
        for t in targets {
            match md.leader(&t.tp.topic, t.tp.partition) {
                Some(node) if !busy_now.contains(&node) => by_node.entry(node).or_default().push(t),
                Some(_) => st.fetch_failed(&t),
                None => {
                    if !leaderless.contains(&t.tp.topic) {
                        leaderless.push(t.tp.topic.clone());
                    }
                    st.fetch_failed(&t);
                }
            }
        }
        held_back
    };
    for (node, targets) in by_node {
        if let Ok(mut b) = busy.lock() {
            b.insert(node);
        }
        let inner = inner.clone();
        let busy = busy.clone();
        tokio::spawn(async move {
            fetch_from(&inner, node, targets, short_wait).await;
            if let Ok(mut b) = busy.lock() {
                b.remove(&node);
            }
            inner.fetch_wake.notify_one();
        });
    }
    if leaderless.is_empty() {
        return None;
    }
    let cluster = inner.cluster.clone();
    tokio::spawn(async move {
        if let Err(e) = cluster.refresh(Some(&leaderless)).await {
            tracing::debug!(error = %e, "metadata refresh for fetch failed");
        }
    });
    Some(inner.cluster.config().retry_backoff)
}

async fn fetch_from(inner: &Arc<Inner>, node: i32, targets: Vec<FetchTarget>, short_wait: bool) {
    let cfg = &inner.config;
    let max_wait = if short_wait {
        HELD_BACK_FETCH_WAIT.min(cfg.fetch_max_wait)
    } else {
        cfg.fetch_max_wait
    };
    let mut topics: Vec<FetchTopic> = Vec::new();
    for t in &targets {
        let part = FetchPartition::default()
            .with_partition(t.tp.partition)
            .with_fetch_offset(t.offset)
            .with_partition_max_bytes(cfg.max_partition_fetch_bytes);
        match topics.iter_mut().find(|x| *x.topic.0 == *t.tp.topic) {
            Some(x) => x.partitions.push(part),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(&t.tp.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    let rack = cfg.client_rack.clone().unwrap_or_default();
    let build = |version: i16| {
        FetchRequest::default()
            .with_max_wait_ms(max_wait.as_millis() as i32)
            .with_min_bytes(cfg.fetch_min_bytes)
            .with_max_bytes(cfg.fetch_max_bytes)
            .with_isolation_level(cfg.isolation_level.wire())
            // Session id 0, epoch -1: a full fetch that opens no fetch session.
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_rack_id(if version >= 11 {
                StrBytes::from_string(rack.clone())
            } else {
                StrBytes::default()
            })
            .with_topics(topics.clone())
    };
    let timeout =
        cfg.fetch_max_wait + FETCH_TIMEOUT_MARGIN.max(cfg.client.connection.request_timeout);
    let resp = inner
        .cluster
        .send_to_with(node, Lane::Data, ApiKey::Fetch, Some(timeout), build)
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            if let Ok(mut st) = inner.state.lock() {
                for t in &targets {
                    st.fetch_failed(t);
                }
            }
            if is_network(&e) {
                tracing::debug!(node, error = %e, "fetch failed");
                let _ = inner.cluster.refresh(None).await;
                tokio::time::sleep(inner.cluster.config().retry_backoff).await;
            } else {
                inner.set_error(e);
            }
            return;
        }
    };
    if let Some(e) = BrokerError::from_code(resp.error_code, None) {
        if let Ok(mut st) = inner.state.lock() {
            for t in &targets {
                st.fetch_failed(t);
            }
        }
        tracing::debug!(node, error = %e, "fetch refused");
        tokio::time::sleep(inner.cluster.config().retry_backoff).await;
        return;
    }
    let opts = DecodeOptions {
        check_crcs: cfg.check_crcs,
        decompressed_batch_bytes_max: cfg.decompressed_batch_bytes_max,
    };
    let mut answered: HashMap<TopicPartition, _> = HashMap::new();
    for t in resp.responses {
        for p in t.partitions {
            answered.insert(
                TopicPartition::new(t.topic.0.to_string(), p.partition_index),
                p,
            );
        }
    }
    let mut refresh = false;
    for t in &targets {
        let Some(p) = answered.remove(&t.tp) else {
            if let Ok(mut st) = inner.state.lock() {
                st.fetch_failed(t);
            }
            continue;
        };
        if let Some(err) = BrokerError::from_code(p.error_code, None) {
            let mut st = match inner.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            st.fetch_failed(t);
            match err.kind() {
                ResponseError::OffsetOutOfRange => {
                    tracing::info!(tp = %t.tp, offset = t.offset, "offset out of range; resetting");
                    st.request_reset(&t.tp);
                }
                ResponseError::NotLeaderOrFollower
                | ResponseError::LeaderNotAvailable
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
                | ResponseError::KafkaStorageError
                | ResponseError::OffsetNotAvailable => refresh = true,
                _ => {
                    drop(st);
                    inner.set_error(Error::Broker(err));
                }
            }
            continue;
        }
        let data = p.records.unwrap_or_default();
        let aborted: Vec<AbortedTxn> = p
            .aborted_transactions
            .unwrap_or_default()
            .iter()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id.0,
                first_offset: a.first_offset,
            })
            .collect();
        let topic: Arc<str> = Arc::from(t.tp.topic.as_str());
        let decoded = decode_partition(&topic, t.tp.partition, &data, t.offset, &aborted, opts);
        let fetched = match decoded {
            Ok(d) => FetchedPartition {
                records: d.records,
                next_offset: d.next_offset,
                high_watermark: p.high_watermark,
                last_stable_offset: p.last_stable_offset,
                log_start_offset: p.log_start_offset,
            },
            Err(e) => {
                if let Ok(mut st) = inner.state.lock() {
                    st.fetch_failed(t);
                }
                inner.set_error(e);
                continue;
            }
        };
        let got_records = !fetched.records.is_empty();
        let applied = inner
            .state
            .lock()
            .map(|mut st| st.apply_fetch(t, fetched))
            .unwrap_or(false);
        if applied && got_records {
            inner.poll_wake.notify_one();
        }
    }
    if refresh {
        let topics: Vec<String> = targets.iter().map(|t| t.tp.topic.clone()).collect();
        let _ = inner.cluster.refresh(Some(&topics)).await;
        tokio::time::sleep(inner.cluster.config().retry_backoff).await;
    }
}
