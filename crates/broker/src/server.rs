//! The Kafka listener: accepts connections within Kafka's connection limits and serves
//! each on its own task.

use crate::broker::Broker;
use crate::connection;
use crate::connection_limits::{ConnectionLimits, ConnectionSlot};
use crate::connection_settings::ConnectionSettings;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Accepts until `shutdown` turns true, then waits for open connections to finish
/// answering what they had read.
pub async fn run(broker: Arc<Broker>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
    let limits = ConnectionLimits::from_config(&broker.config);
    let settings = ConnectionSettings::from_config(&broker.config);
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
                    tracing::warn!("accept failed: {e}");
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
