//! The coordinator of one group (or one transactional id): found with
//! FindCoordinator, cached, and forgotten when the broker says it moved
//! (NOT_COORDINATOR) or the socket breaks.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use moldau_protocol::kafka::error::ResponseError;
use moldau_protocol::kafka::messages::ApiKey;
use moldau_protocol::kafka::protocol::Request;

use crate::cluster::{
    is_network, Cluster, Lane, COORDINATOR_KEY_GROUP, COORDINATOR_KEY_TRANSACTION,
};
use crate::error::{Error, Result};

/// Attempts for an operation that keeps hitting moved or loading coordinators.
pub const COORDINATOR_ATTEMPTS_MAX: u32 = 20;

/// Handle to one group's coordinator.
#[derive(Debug)]
pub struct Coordinator {
    cluster: Cluster,
    group_id: String,
    /// FindCoordinator's key type: a group or a transactional id.
    key_type: i8,
    node: Mutex<Option<i32>>,
}

impl Coordinator {
    /// A coordinator handle for `group_id`; nothing is looked up yet.
    pub fn new(cluster: Cluster, group_id: &str) -> Coordinator {
        Coordinator {
            cluster,
            group_id: group_id.to_string(),
            key_type: COORDINATOR_KEY_GROUP,
            node: Mutex::new(None),
        }
    }

    /// A handle to the transaction coordinator of `transactional_id`.
    pub fn for_transaction(cluster: Cluster, transactional_id: &str) -> Coordinator {
        Coordinator {
            key_type: COORDINATOR_KEY_TRANSACTION,
            ..Coordinator::new(cluster, transactional_id)
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The cluster this coordinator belongs to.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The coordinator's node id, looking it up if unknown.
    pub async fn node(&self) -> Result<i32> {
        if let Some(n) = self.node.lock().ok().and_then(|n| *n) {
            return Ok(n);
        }
        let n = self
            .cluster
            .find_coordinator(&self.group_id, self.key_type)
            .await?;
        if let Ok(mut slot) = self.node.lock() {
            *slot = Some(n);
        }
        Ok(n)
    }

    /// Forgets the coordinator so the next request looks it up again.
    pub fn invalidate(&self) {
        if let Ok(mut slot) = self.node.lock() {
            *slot = None;
        }
    }

    /// Sends `req` to the coordinator on its own lane. Network errors forget it.
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        let node = self.node().await?;
        let result = self.cluster.send_to(node, Lane::Coordinator, req).await;
        if let Err(e) = &result {
            if is_network(e) {
                self.invalidate();
            }
        }
        result
    }

    /// Sends a request built for the version negotiated with the coordinator, with
    /// an optional timeout (JoinGroup waits for the whole rebalance).
    pub async fn send_with<R, F>(
        &self,
        key: ApiKey,
        timeout: Option<Duration>,
        build: F,
    ) -> Result<R::Response>
    where
        R: Request,
        F: Fn(i16) -> R,
    {
        let node = self.node().await?;
        let result = self
            .cluster
            .send_to_with(node, Lane::Coordinator, key, timeout, build)
            .await;
        if let Err(e) = &result {
            if is_network(e) {
                self.invalidate();
            }
        }
        result
    }

    /// Runs `op` until it succeeds or fails with an error that retrying will not fix.
    /// Moved/loading coordinators and network errors are retried after backoff.
    pub async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let backoff = self.cluster.config().retry_backoff;
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if attempt < COORDINATOR_ATTEMPTS_MAX && self.should_retry(&e) => {
                    attempt += 1;
                    tracing::debug!(group = %self.group_id, error = %e, attempt, "retrying coordinator request");
                    tokio::time::sleep(backoff.max(Duration::from_millis(10))).await;
                }
                other => return other,
            }
        }
    }

    /// True for errors that a new coordinator lookup or a short wait fixes; forgets
    /// the coordinator when it moved.
    pub fn should_retry(&self, e: &Error) -> bool {
        if is_network(e) {
            self.invalidate();
            return true;
        }
        if is_coordinator_moved(e) {
            self.invalidate();
            return true;
        }
        e.is(ResponseError::CoordinatorLoadInProgress)
    }
}

/// NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE.
pub fn is_coordinator_moved(e: &Error) -> bool {
    e.is(ResponseError::NotCoordinator) || e.is(ResponseError::CoordinatorNotAvailable)
}
