//! One TCP connection to one broker: size-prefixed frames, correlation ids, many
//! requests in flight at once (pipelining), and ApiVersions negotiation on connect.
//!
//! A writer task owns the socket's write half and a reader task its read half, so a
//! caller that drops its future mid-request never leaves half a frame on the wire:
//! requests are cancellation-safe, a late response is simply discarded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use moldau_protocol::kafka::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::api_versions::ApiVersionTable;
use crate::error::{Error, Result};
use crate::foreign_protocol::{foreign_protocol, FOREIGN_PROTOCOL_PREFIX_BYTES};

/// Default largest response frame accepted, in bytes (a fetch of 50 MiB plus headroom).
pub const RESPONSE_FRAME_BYTES_MAX_DEFAULT: usize = 128 * 1024 * 1024;
/// Bytes the writer task gathers from queued requests before one socket write.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// Size of the read buffer the reader task starts with, in bytes.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Error code a broker sends when the ApiVersions request version is too new.
const UNSUPPORTED_VERSION: i16 = 35;
/// The ApiVersions version tried first (flexible, carries the client software name).
const API_VERSIONS_FIRST_TRY: i16 = 3;

/// Settings every connection shares.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `client.id` sent in every request header.
    pub client_id: String,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// How long a request may wait for its response (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// Largest response frame accepted, in bytes.
    pub response_frame_bytes_max: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "moldau-client".to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            response_frame_bytes_max: RESPONSE_FRAME_BYTES_MAX_DEFAULT,
        }
    }
}

type Pending = HashMap<i32, oneshot::Sender<Result<Bytes>>>;

/// A frame to write: its pieces in order (large record batches travel as their own
/// pieces, so they are not copied into a request buffer).
type Frame = Vec<Bytes>;

struct Shared {
    addr: String,
    pending: Mutex<Pending>,
    closed: AtomicBool,
}

impl Shared {
    /// Fails every waiting request and refuses new ones.
    fn close(&self, why: Error) {
        self.closed.store(true, Ordering::Release);
        let drained: Vec<_> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => Vec::new(),
        };
        for (_, tx) in drained {
            let _ = tx.send(Err(why.clone()));
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Frame>,
    next_correlation_id: AtomicI32,
    versions: ApiVersionTable,
    config: ConnectionConfig,
    client_id: StrBytes,
    reader_task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader_task.abort();
        self.shared
            .close(Error::Disconnected(self.shared.addr.clone()));
    }
}

/// A connection to one broker. Cheap to clone; all clones share the socket.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.inner.shared.addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates API versions.
    pub async fn connect(addr: &str, config: &ConnectionConfig) -> Result<Connection> {
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout(format!("connecting to {addr}")))?
            .map_err(|e| Error::io(addr, &e))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(write, rx, shared.clone()));
        let reader_task = tokio::spawn(read_loop(
            read,
            shared.clone(),
            config.response_frame_bytes_max,
        ));
        let mut conn = Connection {
            inner: Arc::new(Inner {
                shared,
                writer: tx,
                next_correlation_id: AtomicI32::new(1),
                versions: ApiVersionTable::assume_client_ranges(),
                config: config.clone(),
                client_id: StrBytes::from_string(config.client_id.clone()),
                reader_task,
            }),
        };
        let versions = conn.negotiate_versions().await?;
        // Only this function holds the Arc yet, so the table can be filled in place.
        match Arc::get_mut(&mut conn.inner) {
            Some(inner) => inner.versions = versions,
            None => return Err(Error::Protocol("connection shared during setup".into())),
        }
        tracing::debug!(addr, "connected");
        Ok(conn)
    }

    /// The broker address this connection goes to.
    pub fn addr(&self) -> &str {
        &self.inner.shared.addr
    }

    /// True once the socket failed or closed; such a connection must be replaced.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Acquire)
    }

    /// The versions negotiated with this broker.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.inner.versions
    }

    /// The highest version of `key` both sides support.
    pub fn version_for(&self, key: ApiKey) -> Result<i16> {
        self.inner.versions.version_for(key)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub async fn send<R>(&self, req: &R) -> Result<R::Response>
    where
        R: Request,
    {
        let key = api_key::<R>()?;
        let version = self.version_for(key)?;
        self.send_version(req, version, self.inner.config.request_timeout)
            .await
    }

    /// Sends `req` at `version`, waiting at most `timeout` for the response. A timeout
    /// closes the connection, as the Java client does, since the broker is stuck.
    pub async fn send_version<R>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response>
    where
        R: Request,
    {
        let key = api_key::<R>()?;
        let (frame, correlation_id) = self.encode(req, key, version)?;
        let response = self
            .round_trip(key, correlation_id, vec![frame], timeout, OnTimeout::Close)
            .await?;
        decode_response::<R>(response, key, version, correlation_id)
    }

    /// Sends a request whose body the caller encoded as `body` pieces (header and
    /// size prefix are added here) and decodes the response as `Resp`. With
    /// `expect_response` false (Produce with acks=0) nothing is awaited and
    /// `Ok(None)` returned.
    pub async fn send_encoded<Resp: Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        header_version: i16,
        body: Vec<Bytes>,
        expect_response: bool,
        timeout: Duration,
    ) -> Result<Option<Resp>> {
        let correlation_id = self.next_correlation_id();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.inner.client_id.clone()));
        let mut head = BytesMut::with_capacity(64);
        head.put_u32(0);
        header
            .encode(&mut head, header_version)
            .map_err(|e| Error::Encode(e.to_string()))?;
        let total = head.len() - 4 + body.iter().map(Bytes::len).sum::<usize>();
        let size = u32::try_from(total).map_err(|_| Error::Encode("request too large".into()))?;
        head[..4].copy_from_slice(&size.to_be_bytes());
        let mut frame = Vec::with_capacity(body.len() + 1);
        frame.push(head.freeze());
        frame.extend(body);
        if !expect_response {
            self.write_parts(frame)?;
            return Ok(None);
        }
        let mut resp = self
            .round_trip(key, correlation_id, frame, timeout, OnTimeout::Close)
            .await?;
        let header = ResponseHeader::decode(&mut resp, key.response_header_version(version))
            .map_err(|e| Error::Protocol(format!("{key:?} response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(Error::Protocol(format!(
                "correlation id {} answered as {}",
                correlation_id, header.correlation_id
            )));
        }
        Resp::decode(&mut resp, version)
            .map(Some)
            .map_err(|e| Error::Protocol(format!("{key:?} v{version} response: {e}")))
    }

    fn next_correlation_id(&self) -> i32 {
        self.inner
            .next_correlation_id
            .fetch_add(1, Ordering::Relaxed)
            & i32::MAX
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub fn send_oneway<R: Request>(&self, req: &R, version: i16) -> Result<()> {
        let key = api_key::<R>()?;
        let (frame, _) = self.encode(req, key, version)?;
        self.write(frame)
    }

    /// Writes `frame` and waits at most `timeout` for the response with
    /// `correlation_id` (header included). The pending entry goes however this ends.
    async fn round_trip(
        &self,
        key: ApiKey,
        correlation_id: i32,
        frame: Frame,
        timeout: Duration,
        on_timeout: OnTimeout,
    ) -> Result<Bytes> {
        let (tx, rx) = oneshot::channel();
        self.register(correlation_id, tx)?;
        let _guard = PendingGuard {
            shared: &self.inner.shared,
            correlation_id,
        };
        self.write_parts(frame)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::Disconnected(self.addr().to_string())),
            Err(_) => {
                if on_timeout == OnTimeout::Close {
                    self.inner.shared.close(Error::Timeout(format!(
                        "{key:?} to {} after {timeout:?}",
                        self.addr()
                    )));
                }
                Err(Error::Timeout(format!("{key:?} to {}", self.addr())))
            }
        }
    }

    fn register(&self, correlation_id: i32, tx: oneshot::Sender<Result<Bytes>>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Disconnected(self.addr().to_string()));
        }
        let mut pending = self
            .inner
            .shared
            .pending
            .lock()
            .map_err(|_| Error::Disconnected(self.addr().to_string()))?;
        pending.insert(correlation_id, tx);
        Ok(())
    }

    fn write(&self, frame: Bytes) -> Result<()> {
        self.write_parts(vec![frame])
    }

    fn write_parts(&self, frame: Frame) -> Result<()> {
        self.inner
            .writer
            .send(frame)
            .map_err(|_| Error::Disconnected(self.addr().to_string()))
    }

    fn encode<R: Request>(&self, req: &R, key: ApiKey, version: i16) -> Result<(Bytes, i32)> {
        let correlation_id = self.next_correlation_id();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.inner.client_id.clone()));
        let mut buf = BytesMut::with_capacity(256);
        buf.put_u32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| Error::Encode(e.to_string()))?;
        req.encode(&mut buf, version)
            .map_err(|e| Error::Encode(format!("{key:?} v{version}: {e}")))?;
        let size = (buf.len() - 4) as u32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Ok((buf.freeze(), correlation_id))
    }

    /// ApiVersions at v3; a broker that does not know v3 answers in v0 with
    /// UNSUPPORTED_VERSION and its own range, and the request is repeated at its max.
    async fn negotiate_versions(&self) -> Result<ApiVersionTable> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("moldau-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let timeout = self.inner.config.request_timeout;
        let first = self
            .raw_request(&req, API_VERSIONS_FIRST_TRY, timeout)
            .await?;
        let code = first.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
        let resp = if code == Some(UNSUPPORTED_VERSION) {
            let v0 = decode_body::<ApiVersionsResponse>(first, 0)?;
            let broker_max = v0
                .api_keys
                .iter()
                .find(|a| a.api_key == ApiKey::ApiVersions as i16)
                .map(|a| a.max_version)
                .unwrap_or(0)
                .clamp(0, API_VERSIONS_FIRST_TRY);
            let body = self.raw_request(&req, broker_max, timeout).await?;
            decode_body::<ApiVersionsResponse>(body, broker_max)?
        } else {
            decode_body::<ApiVersionsResponse>(first, API_VERSIONS_FIRST_TRY)?
        };
        crate::error::check_code(resp.error_code, None)?;
        Ok(ApiVersionTable::from_response(&resp))
    }

    /// Sends `req` and returns the response body after the header (ApiVersions
    /// responses always use header v0).
    async fn raw_request<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes> {
        let key = api_key::<R>()?;
        let (frame, correlation_id) = self.encode(req, key, version)?;
        let mut resp = self
            .round_trip(
                key,
                correlation_id,
                vec![frame],
                timeout,
                OnTimeout::KeepOpen,
            )
            .await?;
        ResponseHeader::decode(&mut resp, 0).map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(resp)
    }
}

/// What a request timeout does to the connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnTimeout {
    /// The broker is stuck: close, as the Java client does.
    Close,
    /// Version negotiation during connect: the caller fails the whole connect.
    KeepOpen,
}

/// Removes a request's pending entry when the caller stops waiting (timeout or drop).
struct PendingGuard<'a> {
    shared: &'a Shared,
    correlation_id: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.shared.pending.lock() {
            p.remove(&self.correlation_id);
        }
    }
}

fn api_key<R: Request>() -> Result<ApiKey> {
    ApiKey::try_from(R::KEY).map_err(|_| Error::UnsupportedApi(format!("api key {}", R::KEY)))
}

fn decode_body<T: Decodable>(mut body: Bytes, version: i16) -> Result<T> {
    T::decode(&mut body, version).map_err(|e| Error::Protocol(e.to_string()))
}

fn decode_response<R: Request>(
    mut frame: Bytes,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response> {
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
        .map_err(|e| Error::Protocol(format!("{key:?} response header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(Error::Protocol(format!(
            "correlation id {} answered as {}",
            correlation_id, header.correlation_id
        )));
    }
    R::Response::decode(&mut frame, version)
        .map_err(|e| Error::Protocol(format!("{key:?} v{version} response: {e}")))
}

async fn write_loop(
    write: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Frame>,
    shared: Arc<Shared>,
) {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, write);
    while let Some(frame) = rx.recv().await {
        let mut result = write_frame(&mut out, &frame).await;
        // Gather whatever else is queued into the same flush.
        while result.is_ok() {
            match rx.try_recv() {
                Ok(more) => result = write_frame(&mut out, &more).await,
                Err(_) => break,
            }
        }
        if result.is_ok() {
            result = out.flush().await;
        }
        if let Err(e) = result {
            tracing::debug!(addr = %shared.addr, error = %e, "write failed");
            shared.close(Error::io(&shared.addr, &e));
            return;
        }
    }
    let _ = out.shutdown().await;
}

async fn write_frame(out: &mut BufWriter<OwnedWriteHalf>, frame: &Frame) -> std::io::Result<()> {
    for part in frame {
        out.write_all(part).await?;
    }
    Ok(())
}

async fn read_loop(mut read: OwnedReadHalf, shared: Arc<Shared>, frame_bytes_max: usize) {
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut first_answer = true;
    let why = loop {
        if first_answer && buf.len() >= FOREIGN_PROTOCOL_PREFIX_BYTES {
            first_answer = false;
            if let Some(protocol) = foreign_protocol(&buf) {
                break Error::NotKafka {
                    addr: shared.addr.clone(),
                    protocol: protocol.to_string(),
                };
            }
        }
        match moldau_protocol::frame::split_frame(&mut buf, frame_bytes_max) {
            Ok(Some(frame)) => {
                if frame.len() < 4 {
                    break Error::Protocol("response frame shorter than its header".into());
                }
                let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                let waiter = match shared.pending.lock() {
                    Ok(mut p) => p.remove(&id),
                    Err(_) => None,
                };
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(Ok(frame));
                    }
                    // The caller gave up (timeout or dropped future): discard.
                    None => tracing::trace!(id, "response for abandoned request"),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => break Error::Protocol(e.to_string()),
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => break Error::Disconnected(shared.addr.clone()),
            Ok(_) => {}
            Err(e) => break Error::io(&shared.addr, &e),
        }
    };
    tracing::debug!(addr = %shared.addr, error = %why, "connection closed");
    shared.close(why);
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
