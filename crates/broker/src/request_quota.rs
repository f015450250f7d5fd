//! Kafka's request quota (KIP-124): `request_percentage` bounds the share of a
//! handler thread a (user, client id)'s requests may keep busy over the quota window
//! (100 is one thread). A request's handler time is the time spent inside its
//! futures' polls (the in-order part and the part that may wait), not the time it
//! waits for data, durability or a rebalance. Once a request is answered its time is
//! counted; over the quota, the answer reports the throttle in `throttle_time_ms`
//! (raised, so a longer byte-rate or mutation throttle stays) and the connection is
//! muted, as Kafka does for every request, including ApiVersions. Produce, Fetch and
//! ApiVersions count their time so far themselves and put the larger throttle in their
//! answer (a throttled Fetch is answered empty); the rest of their time is counted
//! when they are answered, without throttling them again. Exempt, as in Kafka:
//! cluster actions (inter-broker requests) and a follower's replication fetches.

use crate::broker::Broker;
use crate::channel_mute::ChannelMute;
use crate::client_quota_manager::QuotaKind;
use crate::request::{Deferred, Frame, ResponseFrame};
use moldau_protocol::kafka::messages::ApiKey;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Kafka's cluster actions: requests between brokers and controllers, which no
/// client quota limits.
pub fn is_exempt(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::WriteTxnMarkers
            | ApiKey::Vote
            | ApiKey::BeginQuorumEpoch
            | ApiKey::EndQuorumEpoch
            | ApiKey::AlterPartition
            | ApiKey::Envelope
            | ApiKey::FetchSnapshot
            | ApiKey::BrokerRegistration
            | ApiKey::BrokerHeartbeat
            | ApiKey::AllocateProducerIds
            | ApiKey::ControllerRegistration
            | ApiKey::AssignReplicasToDirs
            | ApiKey::UpdateRaftVoter
            | ApiKey::InitializeShareGroupState
            | ApiKey::ReadShareGroupState
            | ApiKey::WriteShareGroupState
            | ApiKey::DeleteShareGroupState
            | ApiKey::ReadShareGroupStateSummary
    )
}

/// The handler time of one request, and how much of it is counted already.
#[derive(Debug, Default)]
pub struct RequestTime {
    /// Nanoseconds the request's futures spent being polled.
    nanos: AtomicU64,
    /// Nanoseconds already counted against the client's request quota.
    counted: AtomicU64,
    /// The handler decided the request's throttle itself: what remains is counted
    /// without throttling.
    settled: AtomicBool,
    /// Not a client's request (a follower's fetch): not counted at all.
    exempt: AtomicBool,
}

impl RequestTime {
    pub fn new() -> Self {
        Self::default()
    }

    /// Nanoseconds spent being polled so far.
    pub fn nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }

    fn add(&self, spent: Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::AcqRel);
    }

    /// The nanoseconds not counted yet, now counted.
    pub fn take_uncounted(&self) -> u64 {
        let now = self.nanos();
        let before = self.counted.swap(now, Ordering::AcqRel);
        now.saturating_sub(before)
    }

    /// The handler reports the throttle in its answer itself.
    pub fn settle(&self) {
        self.settled.store(true, Ordering::Release);
    }

    pub fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }

    /// Not a client's request: its time is not counted.
    pub fn exempt(&self) {
        self.exempt.store(true, Ordering::Release);
        self.settle();
    }

    pub fn is_exempt(&self) -> bool {
        self.exempt.load(Ordering::Acquire)
    }
}

/// A future whose poll time goes on a [`RequestTime`].
pub struct Timed<F> {
    inner: F,
    time: Arc<RequestTime>,
}

impl<F> Timed<F> {
    pub fn new(inner: F, time: Arc<RequestTime>) -> Self {
        Timed { inner, time }
    }
}

impl<F: Future + Unpin> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let polled = Pin::new(&mut self.inner).poll(cx);
        self.time.add(started.elapsed());
        polled
    }
}

/// What the request quota needs to know about the request it limits.
pub struct LimitedRequest {
    pub broker: Arc<Broker>,
    pub user: String,
    pub client_id: String,
    pub api_key: ApiKey,
    pub version: i16,
    pub mute: Arc<ChannelMute>,
    pub time: Arc<RequestTime>,
}

/// The handler time so far of `time`'s request counted against (user, client id)'s
/// request quota; the throttle (ms) it earns, 0 within the quota or when exempt.
pub fn count(broker: &Broker, user: &str, client_id: &str, time: &RequestTime) -> u64 {
    if time.is_exempt() {
        return 0;
    }
    let nanos = time.take_uncounted();
    let image = broker.metadata.image();
    broker
        .client_quotas
        .record_request(&image, QuotaKind::Request, user, client_id, nanos)
}

/// `deferred`, timed, then counted against the client's request quota when answered.
pub fn limit(deferred: Deferred, request: LimitedRequest) -> Deferred {
    Box::pin(async move {
        let answer = Timed::new(deferred, Arc::clone(&request.time)).await;
        let throttle_ms = count(
            &request.broker,
            &request.user,
            &request.client_id,
            &request.time,
        );
        if throttle_ms == 0 || request.time.is_settled() {
            return answer;
        }
        let answer =
            answer.map(|frame| report(frame, request.api_key, request.version, throttle_ms));
        if moldau_protocol::throttle_versions::client_honours_throttle(
            request.api_key,
            request.version,
        ) {
            request.mute.mute_after_answer(throttle_ms);
        } else {
            tokio::time::sleep(Duration::from_millis(throttle_ms)).await;
        }
        answer
    })
}

/// Bytes before a response body in its frame: the size prefix, the correlation id,
/// and a flexible header's empty tagged-field section.
fn body_offset(key: ApiKey, version: i16) -> usize {
    if key.response_header_version(version) >= 1 {
        9
    } else {
        8
    }
}

/// Writes the throttle into the answer's `throttle_time_ms` where it has one at a
/// fixed place; otherwise the muting alone tells (as for Kafka's SASL answers).
fn report(frame: ResponseFrame, key: ApiKey, version: i16, throttle_ms: u64) -> ResponseFrame {
    let frame: Frame = frame?;
    let Some(offset) = moldau_protocol::throttle_field::throttle_field_offset(key, version) else {
        return Some(frame);
    };
    let throttle = i32::try_from(throttle_ms).unwrap_or(i32::MAX);
    let at = body_offset(key, version) + offset;
    Some(frame.with_head_patched(|head| {
        moldau_protocol::throttle_field::raise_throttle(head, at, throttle)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use moldau_protocol::kafka::messages::MetadataResponse;

    #[test]
    fn only_time_spent_polling_is_counted() {
        let time = Arc::new(RequestTime::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(Timed::new(
            Box::pin(async {
                std::thread::sleep(Duration::from_millis(20));
                tokio::time::sleep(Duration::from_millis(300)).await;
            }),
            Arc::clone(&time),
        ));
        let spent = Duration::from_nanos(time.nanos());
        assert!(spent >= Duration::from_millis(20), "busy time counted");
        assert!(spent < Duration::from_millis(300), "waiting not counted");
        assert_eq!(time.take_uncounted(), time.nanos());
        assert_eq!(time.take_uncounted(), 0, "counted once");
    }

    #[test]
    fn an_exempt_request_is_settled_and_a_settled_one_is_not_exempt() {
        let time = RequestTime::new();
        time.settle();
        assert!(time.is_settled() && !time.is_exempt());
        let time = RequestTime::new();
        time.exempt();
        assert!(time.is_settled() && time.is_exempt());
        assert!(is_exempt(ApiKey::WriteTxnMarkers));
        assert!(
            !is_exempt(ApiKey::ApiVersions),
            "Kafka throttles ApiVersions too"
        );
        assert!(!is_exempt(ApiKey::Metadata));
    }

    #[test]
    fn the_throttle_is_written_into_the_encoded_answer() {
        for version in [3, 9, 12] {
            let response = MetadataResponse::default().with_throttle_time_ms(20);
            let bytes = crate::request::encode_frame_bytes(
                7,
                ApiKey::Metadata.response_header_version(version),
                &response,
                version,
            )
            .expect("encodes");
            let frame =
                report(Some(Frame::from(bytes)), ApiKey::Metadata, version, 750).expect("a frame");
            let bytes = Bytes::from(frame.materialize().expect("in memory"));
            let mut body = bytes.slice(body_offset(ApiKey::Metadata, version)..);
            let decoded: MetadataResponse =
                moldau_protocol::kafka::protocol::Decodable::decode(&mut body, version)
                    .expect("decodes");
            assert_eq!(decoded.throttle_time_ms, 750, "v{version}");
        }
        // A longer throttle already there stays.
        let response = MetadataResponse::default().with_throttle_time_ms(900);
        let bytes = crate::request::encode_frame_bytes(1, 0, &response, 3).expect("encodes");
        let frame = report(Some(Frame::from(bytes)), ApiKey::Metadata, 3, 750).expect("frame");
        let head = frame.materialize().expect("in memory");
        assert_eq!(&head[8..12], &900i32.to_be_bytes());
    }
}
