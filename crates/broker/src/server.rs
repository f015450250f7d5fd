//! The Kafka listener: accepts connections and serves each on its own task.

use crate::broker::Broker;
use crate::connection;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Accepts until `shutdown` turns true, then waits for open connections to finish
/// answering what they had read.
pub async fn run(broker: Arc<Broker>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let broker = Arc::clone(&broker);
                    let shutdown = shutdown.clone();
                    connections.spawn(connection::serve(broker, stream, peer, shutdown));
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
