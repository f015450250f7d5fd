//! One client connection: frames in, handlers run, responses out in request order.
//! On a TLS listener the handshake comes first; on a SASL listener the SASL exchange
//! (sasl_session.rs) must succeed before any request reaches a handler.

use crate::broker::Broker;
use crate::channel_mute::ChannelMute;
use crate::client_quota_manager::ClientQuotaManager;
use crate::connection_limits::ConnectionPermit;
use crate::connection_settings::ConnectionSettings;
use crate::frame_writer::FrameWriter;
use crate::handlers;
use crate::listener_auth::ListenerAuth;
use crate::request::{ready_frame, Deferred, RequestContext};
use crate::request_quota::{self, LimitedRequest, RequestTime, Timed};
use crate::sasl_session::{SaslGate, SaslSession};
use bytes::BytesMut;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use moldau_protocol::frame::{decode_header, frame_bytes_missing, split_frame};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, ReadHalf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// Requests of one connection being worked on or waiting to be written; past it the
/// connection stops reading. (Kafka answers one request per connection at a time.)
pub const CONNECTION_INFLIGHT_REQUESTS_MAX: usize = 100;
/// Smallest step the read buffer grows by.
const READ_CHUNK_BYTES_MIN: usize = 4 * 1024;
/// Largest step the read buffer grows by at once: a frame's size prefix is only a
/// claim, so a large frame's buffer grows with the bytes that arrive (doubling as it
/// fills) rather than being reserved whole.
const READ_CHUNK_BYTES_MAX: usize = 64 * 1024;
/// Longest a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The read side of a connection.
enum Reader {
    Tcp(OwnedReadHalf),
    Tls(Box<ReadHalf<TlsStream<TcpStream>>>),
}

impl Reader {
    /// Reads what is available into `buf`, growing it by `reserve` first; None when
    /// the socket turned out to have nothing after all. Cancel-safe: nothing is lost
    /// when another branch of a select wins. A plaintext connection reserves only
    /// once bytes are there, so an idle one holds no read buffer.
    async fn read_into(
        &mut self,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> std::io::Result<Option<usize>> {
        match self {
            Reader::Tcp(r) => {
                r.readable().await?;
                buf.reserve(reserve);
                match r.try_read_buf(buf) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Reader::Tls(r) => {
                buf.reserve(reserve);
                r.read_buf(buf).await.map(Some)
            }
        }
    }
}

/// Splits the stream, after the TLS handshake on a TLS listener. The principal is
/// the subject of the client's certificate, when it presented one. None when the
/// handshake fails (logged).
async fn open_stream(
    stream: TcpStream,
    auth: &ListenerAuth,
    peer: &SocketAddr,
) -> Option<(Reader, FrameWriter, Option<String>)> {
    let Some(tls) = &auth.tls else {
        let (reader, writer) = stream.into_split();
        return Some((Reader::Tcp(reader), FrameWriter::new(writer), None));
    };
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(%peer, listener = %auth.security.name, "closing connection: TLS handshake failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::info!(%peer, listener = %auth.security.name, "closing connection: no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}");
            return None;
        }
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first());
    let principal = match certificate.map(|cert| tls.principal_name(cert)) {
        None => None,
        Some(Ok(name)) => name,
        Some(Err(subject)) => {
            tracing::info!(%peer, listener = %auth.security.name, "closing connection: no ssl.principal.mapping.rules rule matches the certificate subject '{subject}'");
            return None;
        }
    };
    let (reader, writer) = tokio::io::split(stream);
    Some((
        Reader::Tls(Box::new(reader)),
        FrameWriter::tls(writer),
        principal,
    ))
}

/// When the connection last did something, for `connections.max.idle.ms`.
struct Activity {
    /// Requests read and not yet answered.
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn touch(&self) {
        *self.last.lock() = Instant::now();
    }

    /// The instant the connection becomes idle for `idle_max`, unless something happens.
    fn idle_deadline(&self, idle_max: std::time::Duration) -> tokio::time::Instant {
        let last = if self.in_flight.load(Ordering::Acquire) > 0 {
            Instant::now()
        } else {
            *self.last.lock()
        };
        tokio::time::Instant::from_std(last + idle_max)
    }
}

/// Serves one connection until the client closes it, it misbehaves, it stays idle
/// past `connections.max.idle.ms`, or shutdown. `permit` counts it against the
/// connection limits until it ends.
pub async fn serve(
    broker: Arc<Broker>,
    settings: ConnectionSettings,
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
    permit: ConnectionPermit,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let _permit = permit;
    let _ = stream.set_nodelay(true);
    let _open = broker.metrics.connection_opened();
    let auth = broker.listener_auths.get(&listener);
    let opened = tokio::select! {
        opened = open_stream(stream, &auth, &peer) => opened,
        _ = shutdown.changed() => None,
    };
    let Some((mut reader, mut writer, certificate_principal)) = opened else {
        return;
    };
    let mut principal = Arc::new(match certificate_principal {
        Some(name) => moldau_security::KafkaPrincipal::user(name),
        None => moldau_security::KafkaPrincipal::anonymous(),
    });
    let mut sasl = auth.uses_sasl().then(|| {
        let broker = Arc::clone(&broker);
        SaslSession::new(
            Arc::clone(&auth),
            Arc::new(move |user: &str, mechanism| broker.scram_credential(user, mechanism)),
            settings.reauth_max,
        )
    });
    let (tx, mut rx) = mpsc::channel::<Deferred>(CONNECTION_INFLIGHT_REQUESTS_MAX);
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });

    let write_activity = Arc::clone(&activity);
    let write_task = tokio::spawn(async move {
        let activity = write_activity;
        let mut pending: FuturesOrdered<Deferred> = FuturesOrdered::new();
        let mut reader_done = false;
        loop {
            tokio::select! {
                next = rx.recv(), if !reader_done && pending.len() < CONNECTION_INFLIGHT_REQUESTS_MAX => {
                    match next {
                        Some(d) => pending.push_back(d),
                        None => reader_done = true,
                    }
                }
                Some(first) = pending.next(), if !pending.is_empty() => {
                    // Responses that are ready together (one fsync releases several
                    // produce requests) go out in one write.
                    let mut next = Some(first);
                    while let Some(frame) = next {
                        let keep_open = queue_response(&mut writer, frame, &peer).await;
                        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
                        if !keep_open {
                            // Answers queued before this one still go out.
                            let _ = writer.flush().await;
                            return;
                        }
                        next = pending.next().now_or_never().flatten();
                    }
                    if writer.flush().await.is_err() {
                        return;
                    }
                    activity.touch();
                }
                else => return,
            }
            if reader_done && pending.is_empty() {
                let _ = writer.shutdown().await;
                return;
            }
        }
    });

    let limit = settings.request_bytes_max;
    // Empty until bytes arrive: an idle connection holds no read buffer.
    let mut buf = BytesMut::new();
    let client_host = peer.ip().to_string();
    let mute = Arc::new(ChannelMute::new());
    'read: loop {
        loop {
            let frame = match split_frame(&mut buf, limit) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, "closing connection: {e}");
                    break 'read;
                }
            };
            let mut body = frame;
            let (api_key, header) = match decode_header(&mut body) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(%peer, "closing connection: {e}");
                    break 'read;
                }
            };
            if let Some(session) = sasl.as_mut() {
                let gate =
                    session.gate(api_key, &header, body.clone(), &client_host, Instant::now());
                let (frame, close) = match gate {
                    SaslGate::Dispatch => (None, false),
                    SaslGate::Answer(frame) => (Some(frame), false),
                    SaslGate::AnswerAndClose(frame) => (Some(frame), true),
                    SaslGate::Close(reason) => {
                        tracing::warn!(%peer, ?api_key, "closing connection: {reason}");
                        break 'read;
                    }
                };
                if let Some(authenticated) = session.principal() {
                    principal = Arc::new(authenticated.clone());
                }
                if let Some(frame) = frame {
                    activity.in_flight.fetch_add(1, Ordering::AcqRel);
                    if tx.send(ready_frame(Some(frame))).await.is_err() || close {
                        break 'read;
                    }
                    continue;
                }
            }
            // Held until the handler has taken the request up (what waits after that,
            // like a long-polling fetch, is Kafka's purgatory and holds no place).
            let queued = tokio::select! {
                permit = Arc::clone(&settings.queued_requests).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break 'read,
                },
                _ = shutdown.changed() => break 'read,
            };
            let started = std::time::Instant::now();
            // A client under a quota is served one request at a time, as Kafka serves
            // every connection, so that a throttle holds back its next request.
            let image = broker.metadata.image();
            let client_id = header.client_id.as_deref().unwrap_or_default();
            let one_at_a_time = ClientQuotaManager::limits(&image, &principal.name, client_id);
            // Under a request quota, the handler's time is measured (KIP-124).
            let time_limited = !request_quota::is_exempt(api_key)
                && ClientQuotaManager::limits_requests(&image, &principal.name, client_id);
            drop(image);
            let request_time = Arc::new(RequestTime::new());
            let limited = time_limited.then(|| LimitedRequest {
                broker: Arc::clone(&broker),
                user: principal.name.clone(),
                client_id: client_id.to_string(),
                api_key,
                version: header.request_api_version,
                mute: Arc::clone(&mute),
                time: Arc::clone(&request_time),
            });
            let ctx = RequestContext::new(
                Arc::clone(&broker),
                api_key,
                header,
                client_host.clone(),
                Arc::clone(&listener),
                Arc::clone(&principal),
                Arc::clone(&mute),
                Arc::clone(&request_time),
            );
            let dispatched = if time_limited {
                Timed::new(Box::pin(handlers::dispatch(ctx, body)), request_time).await
            } else {
                handlers::dispatch(ctx, body).await
            };
            drop(queued);
            match dispatched {
                Ok(deferred) => {
                    let deferred = match limited {
                        Some(limited) => request_quota::limit(deferred, limited),
                        None => deferred,
                    };
                    let mut deferred = broker.metrics.time_request(api_key, started, deferred);
                    let mut answered = None;
                    if one_at_a_time {
                        let (done, done_rx) = tokio::sync::oneshot::channel::<()>();
                        answered = Some(done_rx);
                        deferred = Box::pin(deferred.map(move |answer| {
                            let _ = done.send(());
                            answer
                        }));
                    }
                    activity.in_flight.fetch_add(1, Ordering::AcqRel);
                    if tx.send(deferred).await.is_err() {
                        break 'read;
                    }
                    if let Some(answered) = answered {
                        tokio::select! {
                            _ = answered => {}
                            _ = shutdown.changed() => break 'read,
                        }
                    }
                    // KIP-219: the channel stays muted for the throttle the answer gave.
                    let mute_ms = mute.take_ms();
                    if mute_ms > 0 {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(mute_ms)) => {}
                            _ = shutdown.changed() => break 'read,
                        }
                    }
                }
                Err(close) => {
                    tracing::warn!(%peer, ?api_key, "closing connection: {}", close.0);
                    break 'read;
                }
            }
        }
        if buf.is_empty() && buf.capacity() > 0 {
            // Between requests: give the buffer back rather than keep it per connection.
            buf = BytesMut::new();
        }
        let idle_deadline = settings.idle_max.map(|idle| activity.idle_deadline(idle));
        // split_frame accepted the size prefix, so this cannot fail here.
        let missing = frame_bytes_missing(&buf, limit).unwrap_or(READ_CHUNK_BYTES_MIN);
        let reserve = missing.clamp(READ_CHUNK_BYTES_MIN, READ_CHUNK_BYTES_MAX);
        tokio::select! {
            read = reader.read_into(&mut buf, reserve) => {
                match read {
                    Ok(Some(0)) => break 'read,
                    Ok(Some(_)) => activity.touch(),
                    Ok(None) => {}
                    Err(_) => break 'read,
                }
            },
            _ = sleep_until(idle_deadline) => {
                if idle_deadline.is_some_and(|d| {
                    settings.idle_max.is_some_and(|idle| activity.idle_deadline(idle) <= d)
                }) {
                    tracing::debug!(%peer, "closing connection idle for connections.max.idle.ms");
                    break 'read;
                }
            },
            _ = shutdown.changed() => break 'read,
        }
    }
    drop(tx);
    // In-flight requests are still answered before the socket closes.
    let _ = write_task.await;
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Queues one finished response on the writer; false when the connection must close.
async fn queue_response(
    writer: &mut FrameWriter,
    response: Result<crate::request::ResponseFrame, crate::request::CloseConnection>,
    peer: &SocketAddr,
) -> bool {
    match response {
        Ok(Some(frame)) => match writer.queue_frame(&frame).await {
            Ok(()) => true,
            Err(e) => {
                // Part of the frame may be out: only closing is safe.
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    tracing::warn!(%peer, "closing connection: {e}");
                }
                false
            }
        },
        Ok(None) => true,
        Err(close) => {
            tracing::warn!(%peer, "closing connection: {}", close.0);
            false
        }
    }
}
