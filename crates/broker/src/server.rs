//! The Kafka listeners: accept connections within Kafka's connection limits (shared by
//! every listener) and serve each on its own task, remembering the listener it came in
//! on.

use crate::broker::Broker;
use crate::connection;
use crate::connection_limits::{ConnectionLimits, ConnectionSlot};
use crate::connection_settings::ConnectionSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A bound client listener under its name from `listeners`.
pub struct NamedListener {
    pub name: Arc<str>,
    pub listener: TcpListener,
}

/// Serves one listener as the broker's inter-broker listener (one-listener setups).
pub async fn run(broker: Arc<Broker>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
    let name: Arc<str> = broker.advertised.inter_broker().name.as_str().into();
    run_listeners(broker, vec![NamedListener { name, listener }], shutdown).await
}

/// Accepts on every listener until `shutdown` turns true, then waits for open
/// connections to finish answering what they had read. One loop serves every listener
/// so that `max.connections` counts them together: a slot is taken before accepting on
/// any of them, and while there is none new clients wait in the kernel's accept queues.
pub async fn run_listeners(
    broker: Arc<Broker>,
    listeners: Vec<NamedListener>,
    shutdown: watch::Receiver<bool>,
) {
    let limits = ConnectionLimits::from_config(&broker.config);
    let settings = ConnectionSettings::from_config(&broker.config);
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    let mut slot: Option<ConnectionSlot> = None;
    // Where the next accept starts looking, so a busy listener cannot starve another.
    let mut next_listener = 0usize;
    loop {
        tokio::select! {
            taken = limits.slot(), if slot.is_none() => slot = Some(taken),
            (index, accepted) = accept_any(&listeners, next_listener), if slot.is_some() => {
                next_listener = index + 1;
                let name = &listeners[index].name;
                match accepted {
                    Ok((stream, peer)) => {
                        let Some(taken) = slot.take() else { continue };
                        match limits.admit(peer.ip(), taken) {
                            Ok(permit) => {
                                connections.spawn(connection::serve(
                                    Arc::clone(&broker),
                                    settings.clone(),
                                    stream,
                                    peer,
                                    Arc::clone(name),
                                    permit,
                                    shutdown.clone(),
                                ));
                            }
                            Err(refused) => {
                                broker.metrics.connections_refused.add(1);
                                tracing::info!(
                                    %peer,
                                    "refused connection: the address already has the maximum of {} connections (max.connections.per.ip)",
                                    refused.limit
                                );
                                drop(stream);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(listener = %name, "accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listeners);
    while connections.join_next().await.is_some() {}
}

/// The next connection on any listener, looking from `start` round the list; with the
/// index of the listener it came in on.
async fn accept_any(
    listeners: &[NamedListener],
    start: usize,
) -> (usize, std::io::Result<(TcpStream, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        let count = listeners.len();
        for i in 0..count {
            let index = (start + i) % count;
            if let Poll::Ready(accepted) = listeners[index].listener.poll_accept(cx) {
                return Poll::Ready((index, accepted));
            }
        }
        Poll::Pending
    })
    .await
}
