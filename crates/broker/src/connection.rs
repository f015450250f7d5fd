//! One client connection: frames in, handlers run, responses out in request order.

use crate::broker::Broker;
use crate::frame_writer::FrameWriter;
use crate::handlers;
use crate::request::{Deferred, RequestContext};
use bytes::BytesMut;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use moldau_protocol::frame::{decode_header, split_frame};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Requests of one connection being worked on or waiting to be written (Kafka's
/// `queued.max.requests` plays this role); past it the connection stops reading.
pub const CONNECTION_INFLIGHT_REQUESTS_MAX: usize = 100;
/// Read buffer grows in steps of this size.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Serves one connection until the client closes it, it misbehaves, or shutdown.
pub async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let _open = broker.metrics.connection_opened();
    let (mut reader, writer) = stream.into_split();
    let mut writer = FrameWriter::new(writer);
    let (tx, mut rx) = mpsc::channel::<Deferred>(CONNECTION_INFLIGHT_REQUESTS_MAX);

    let write_task = tokio::spawn(async move {
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
                        if !queue_response(&mut writer, frame, &peer).await {
                            // Answers queued before this one still go out.
                            let _ = writer.flush().await;
                            return;
                        }
                        next = pending.next().now_or_never().flatten();
                    }
                    if writer.flush().await.is_err() {
                        return;
                    }
                }
                else => return,
            }
            if reader_done && pending.is_empty() {
                let _ = writer.shutdown().await;
                return;
            }
        }
    });

    let limit = broker.config.int("socket.request.max.bytes").max(1) as usize;
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let client_host = peer.ip().to_string();
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
            let started = std::time::Instant::now();
            let ctx = RequestContext {
                broker: Arc::clone(&broker),
                api_key,
                version: header.request_api_version,
                header,
                client_host: client_host.clone(),
            };
            match handlers::dispatch(ctx, body).await {
                Ok(deferred) => {
                    let deferred = broker.metrics.time_request(api_key, started, deferred);
                    if tx.send(deferred).await.is_err() {
                        break 'read;
                    }
                }
                Err(close) => {
                    tracing::warn!(%peer, ?api_key, "closing connection: {}", close.0);
                    break 'read;
                }
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK_BYTES / 4 {
            buf.reserve(READ_CHUNK_BYTES);
        }
        tokio::select! {
            n = reader.read_buf(&mut buf) => match n {
                Ok(0) | Err(_) => break 'read,
                Ok(_) => {}
            },
            _ = shutdown.changed() => break 'read,
        }
    }
    drop(tx);
    // In-flight requests are still answered before the socket closes.
    let _ = write_task.await;
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
