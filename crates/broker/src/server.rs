//! The Kafka listeners: accept connections within Kafka's connection limits (shared by
//! every listener) and serve each on its own task, remembering the listener it came in
//! on.

use crate::broker::Broker;
use crate::connection;
use crate::connection_limits::{ConnectionLimits, ConnectionSlot};
use crate::connection_settings::ConnectionSettings;
use std::sync::Arc;
use tokio::net::TcpListener;
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
/// connections to finish answering what they had read.
pub async fn run_listeners(
    broker: Arc<Broker>,
    listeners: Vec<NamedListener>,
    shutdown: watch::Receiver<bool>,
) {
    let limits = Arc::new(ConnectionLimits::from_config(&broker.config));
    let settings = ConnectionSettings::from_config(&broker.config);
    let mut tasks = JoinSet::new();
    for named in listeners {
        tasks.spawn(accept_loop(
            Arc::clone(&broker),
            Arc::clone(&limits),
            settings.clone(),
            named,
            shutdown.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop(
    broker: Arc<Broker>,
    limits: Arc<ConnectionLimits>,
    settings: ConnectionSettings,
    named: NamedListener,
    shutdown: watch::Receiver<bool>,
) {
    let NamedListener { name, listener } = named;
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    // Room under max.connections for the next connection; while there is none, new
    // clients wait in the kernel's accept queue.
    let mut slot: Option<ConnectionSlot> = None;
    loop {
        tokio::select! {
            taken = limits.slot(), if slot.is_none() => slot = Some(taken),
            accepted = listener.accept(), if slot.is_some() => match accepted {
                Ok((stream, peer)) => {
                    let Some(taken) = slot.take() else { continue };
                    match limits.admit(peer.ip(), taken) {
                        Ok(permit) => {
                            connections.spawn(connection::serve(
                                Arc::clone(&broker),
                                settings.clone(),
                                stream,
                                peer,
                                Arc::clone(&name),
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
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// The controller listener of a standalone quorum: bound (so its port is this node's
/// and a clash fails start-up) but it carries no quorum traffic yet, and Kafka client
/// APIs are never served on it, so every connection is closed at once.
pub async fn refuse_on_controller_listener(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "closed a connection to the controller listener: it serves no Kafka client requests");
                    drop(stream);
                }
                Err(e) => {
                    tracing::warn!("accept on the controller listener failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
