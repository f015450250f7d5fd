//! What a handler knows about the request it serves, and how it encodes its answer.

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::metrics::Metrics;
use crate::services::{
    Controller, FetchSessions, Groups, MetadataView, Partitions, Quotas, Transactions,
};
use bytes::{BufMut, Bytes, BytesMut};
use moldau_protocol::kafka::messages::{ApiKey, RequestHeader, ResponseHeader};
use moldau_protocol::kafka::protocol::Encodable;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::response_frame::{FileRegion, Frame, FrameChunk};

/// The response to write, encoded with its size prefix and header (chunks of bytes
/// and file regions); None when the request gets no response (Produce with acks=0).
pub type ResponseFrame = Option<Frame>;

/// The part of handling that may wait (for durability, new data, a rebalance). It runs
/// concurrently with later requests of the same connection, but responses are written
/// in request order.
pub type Deferred = Pin<Box<dyn Future<Output = Result<ResponseFrame, CloseConnection>> + Send>>;

/// Why a connection must be closed instead of answered.
#[derive(Debug)]
pub struct CloseConnection(pub String);

/// A decoded request header plus where it came from.
#[derive(Clone)]
pub struct RequestContext {
    /// Private: handlers reach the broker only through the services below.
    broker: Arc<Broker>,
    pub api_key: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub client_host: String,
    /// The listener the connection came in on; Metadata answers with its addresses.
    pub listener: Arc<str>,
    /// Who the connection authenticated as (`User:ANONYMOUS` without SASL or a
    /// client certificate), for the authorizer.
    pub principal: Arc<moldau_security::KafkaPrincipal>,
    /// The connection's quota throttle (KIP-219).
    pub mute: Arc<crate::channel_mute::ChannelMute>,
    /// This request's handler time, for the request quota (KIP-124).
    pub request_time: Arc<crate::request_quota::RequestTime>,
}

/// The services a handler is given (see [`crate::services`]).
impl RequestContext {
    /// The context of one request on a connection (one argument per field).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        broker: Arc<Broker>,
        api_key: ApiKey,
        header: RequestHeader,
        client_host: String,
        listener: Arc<str>,
        principal: Arc<moldau_security::KafkaPrincipal>,
        mute: Arc<crate::channel_mute::ChannelMute>,
        request_time: Arc<crate::request_quota::RequestTime>,
    ) -> Self {
        Self {
            broker,
            api_key,
            version: header.request_api_version,
            header,
            client_host,
            listener,
            principal,
            mute,
            request_time,
        }
    }

    /// Hosted partitions: append, read, leader checks, log directories.
    pub fn partitions(&self) -> Partitions {
        Partitions::new(Arc::clone(&self.broker))
    }

    /// The metadata image, this node's identity and the typed configuration.
    pub fn metadata(&self) -> MetadataView {
        MetadataView::new(Arc::clone(&self.broker))
    }

    /// The resolved broker configuration (fields, not string lookups, on hot paths).
    pub fn config(&self) -> &BrokerConfig {
        &self.broker.config
    }

    /// The group coordinator runtime.
    pub fn groups(&self) -> Groups {
        Groups::new(Arc::clone(&self.broker))
    }

    /// The transaction coordinator runtime and producer ids.
    pub fn transactions(&self) -> Transactions {
        Transactions::new(Arc::clone(&self.broker))
    }

    /// Incremental fetch sessions.
    pub fn fetch_sessions(&self) -> FetchSessions {
        FetchSessions::new(Arc::clone(&self.broker))
    }

    /// Metadata changes through the active controller.
    pub fn controller(&self) -> Controller {
        Controller::new(Arc::clone(&self.broker))
    }

    /// Client quotas.
    pub fn quotas(&self) -> Quotas {
        Quotas::new(Arc::clone(&self.broker))
    }

    /// Request, traffic and telemetry metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.broker.metrics
    }
}

impl RequestContext {
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    pub fn client_id(&self) -> String {
        self.header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    /// Applies a quota's throttle as Kafka does for this request's version: a
    /// KIP-219 client is answered at once and its connection muted afterwards; an
    /// older one gets its answer held back for the returned time.
    pub fn throttle(&self, throttle_ms: u64) -> std::time::Duration {
        if throttle_ms == 0 {
            return std::time::Duration::ZERO;
        }
        if moldau_protocol::throttle_versions::client_honours_throttle(self.api_key, self.version) {
            self.mute.mute_after_answer(throttle_ms);
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_millis(throttle_ms)
    }

    /// The request quota's throttle (ms) for this request's handler time so far, for
    /// a handler that reports it in its answer itself (the larger of it and a
    /// byte-rate throttle, as Kafka's Produce and Fetch do); the rest of the request's
    /// time is counted when it is answered, without throttling it again.
    pub fn request_quota_throttle(&self) -> u64 {
        self.request_time.settle();
        self.quotas()
            .request_throttle(&self.principal.name, &self.client_id(), &self.request_time)
    }

    /// [`Self::ready`] for a response that carries `throttle_ms` (set in it by the
    /// caller): held back that long for a version older than KIP-219, else answered
    /// at once with the connection muted afterwards.
    pub fn ready_throttled<R: Encodable>(
        &self,
        response: &R,
        throttle_ms: u64,
    ) -> Result<Deferred, CloseConnection> {
        let frame = self.encode(response)?;
        let hold_back = self.throttle(throttle_ms);
        if hold_back.is_zero() {
            return Ok(ready_frame(Some(frame)));
        }
        Ok(Box::pin(async move {
            tokio::time::sleep(hold_back).await;
            Ok(Some(frame))
        }))
    }

    /// Milliseconds now, for quotas.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(crate::clock::now_ms()).unwrap_or(0)
    }

    /// Encodes a response with this request's header version and correlation id.
    pub fn encode<R: Encodable>(&self, response: &R) -> Result<Frame, CloseConnection> {
        encode_frame(
            self.correlation_id(),
            self.api_key.response_header_version(self.version),
            response,
            self.version,
        )
    }

    /// A deferred that is already done.
    pub fn ready<R: Encodable>(&self, response: &R) -> Result<Deferred, CloseConnection> {
        let frame = self.encode(response)?;
        Ok(Box::pin(std::future::ready(Ok(Some(frame)))))
    }
}

/// A deferred that resolves to `frame` at once.
pub fn ready_frame(frame: ResponseFrame) -> Deferred {
    Box::pin(std::future::ready(Ok(frame)))
}

/// Size prefix, response header, body.
pub fn encode_frame<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    response: &R,
    version: i16,
) -> Result<Frame, CloseConnection> {
    encode_frame_bytes(correlation_id, header_version, response, version).map(Frame::from)
}

/// [`encode_frame`] as one buffer.
pub fn encode_frame_bytes<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    response: &R,
    version: i16,
) -> Result<Bytes, CloseConnection> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| CloseConnection(format!("encoding response header: {e}")))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| CloseConnection(format!("encoding response v{version}: {e}")))?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}
