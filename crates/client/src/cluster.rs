//! The client's view of the cluster: bootstrap, a cached metadata snapshot (brokers,
//! topics, partition leaders), a pool of connections by broker, and coordinator
//! lookup. Refreshed on demand when a request reports a moved leader.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use moldau_protocol::kafka::messages::metadata_request::MetadataRequestTopic;
use moldau_protocol::kafka::messages::{
    ApiKey, FindCoordinatorRequest, MetadataRequest, MetadataResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use rand::seq::SliceRandom;

use crate::connection::{Connection, ConnectionConfig};
use crate::error::{check_code, Error, Result};
pub use crate::metadata::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};

/// Shortest pause between two connection attempts to one broker.
pub const RECONNECT_BACKOFF_DEFAULT: Duration = Duration::from_millis(50);
/// Longest pause between two connection attempts to one broker.
pub const RECONNECT_BACKOFF_MAX_DEFAULT: Duration = Duration::from_secs(1);
/// Java's `retry.backoff.ms` default.
pub const RETRY_BACKOFF_DEFAULT: Duration = Duration::from_millis(100);
/// Java's `metadata.max.age.ms` default.
pub const METADATA_MAX_AGE_DEFAULT: Duration = Duration::from_secs(300);
/// FindCoordinator key type of a consumer group.
pub const COORDINATOR_KEY_GROUP: i8 = 0;
/// FindCoordinator key type of a transactional id.
pub const COORDINATOR_KEY_TRANSACTION: i8 = 1;

/// Settings shared by producer, consumer and admin client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `bootstrap.servers`: `host:port` addresses to start from.
    pub bootstrap_servers: Vec<String>,
    /// Socket and request settings.
    pub connection: ConnectionConfig,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `metadata.max.age.ms`: metadata older than this is refreshed before use.
    pub metadata_max_age: Duration,
    /// `allow.auto.create.topics`: ask the broker to create topics named in metadata
    /// requests.
    pub allow_auto_topic_creation: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            connection: ConnectionConfig::default(),
            retry_backoff: RETRY_BACKOFF_DEFAULT,
            reconnect_backoff: RECONNECT_BACKOFF_DEFAULT,
            reconnect_backoff_max: RECONNECT_BACKOFF_MAX_DEFAULT,
            metadata_max_age: METADATA_MAX_AGE_DEFAULT,
            allow_auto_topic_creation: false,
        }
    }
}

/// Which socket to a broker a request travels on. Group coordination gets its own so
/// that heartbeats never queue behind a long-polling fetch (brokers answer one request
/// per connection at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Produce, fetch, metadata, admin.
    Data,
    /// Group coordination.
    Coordinator,
}

#[derive(Default)]
struct Slot {
    conn: Option<Connection>,
    failures: u32,
    last_failure: Option<Instant>,
}

/// One broker connection slot, locked while (re)connecting.
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

struct Inner {
    config: ClientConfig,
    metadata: RwLock<Arc<ClusterMetadata>>,
    fetched_at: Mutex<Option<Instant>>,
    /// Counts completed refreshes, so callers that queued behind one skip theirs.
    generation: AtomicU64,
    refresh_lock: tokio::sync::Mutex<()>,
    slots: Mutex<HashMap<(i32, Lane), SharedSlot>>,
    bootstrap: tokio::sync::Mutex<Option<Connection>>,
}

/// Shared handle to the cluster view; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &self.inner.config.bootstrap_servers)
            .finish()
    }
}

impl Cluster {
    /// Creates the view; nothing is contacted until the first request.
    pub fn new(config: ClientConfig) -> Result<Cluster> {
        if config.bootstrap_servers.is_empty() {
            return Err(Error::Config("bootstrap.servers is empty".into()));
        }
        Ok(Cluster {
            inner: Arc::new(Inner {
                config,
                metadata: RwLock::new(Arc::new(ClusterMetadata::default())),
                fetched_at: Mutex::new(None),
                generation: AtomicU64::new(0),
                refresh_lock: tokio::sync::Mutex::new(()),
                slots: Mutex::new(HashMap::new()),
                bootstrap: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The configuration this cluster view was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The current metadata snapshot (possibly empty before the first refresh).
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        match self.inner.metadata.read() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// True when the snapshot is older than `metadata.max.age.ms` or was never fetched.
    pub fn is_stale(&self) -> bool {
        match self.inner.fetched_at.lock().ok().and_then(|t| *t) {
            Some(t) => t.elapsed() > self.inner.config.metadata_max_age,
            None => true,
        }
    }

    /// Refreshes metadata for `topics` (all topics when `None`). Concurrent callers
    /// share one request.
    pub async fn refresh(&self, topics: Option<&[String]>) -> Result<Arc<ClusterMetadata>> {
        let seen = self.inner.generation.load(Ordering::Acquire);
        let _guard = self.inner.refresh_lock.lock().await;
        if self.inner.generation.load(Ordering::Acquire) != seen {
            let snapshot = self.metadata();
            let covered = topics.is_none_or(|ts| {
                ts.iter().all(|t| {
                    snapshot.topics.contains_key(t) || snapshot.topic_errors.contains_key(t)
                })
            });
            if covered {
                return Ok(snapshot);
            }
        }
        let auto_create = self.inner.config.allow_auto_topic_creation;
        let resp: MetadataResponse = self
            .send_any_with(ApiKey::Metadata, |version| {
                MetadataRequest::default()
                    .with_topics(topics.map(|ts| {
                        ts.iter()
                            .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                            .collect()
                    }))
                    // Before v4 the field does not exist and brokers always create.
                    .with_allow_auto_topic_creation(auto_create || version < 4)
            })
            .await?;
        check_code(resp.error_code, None)?;
        let mut next = (*self.metadata()).clone();
        next.merge(resp, topics.is_none());
        let next = Arc::new(next);
        match self.inner.metadata.write() {
            Ok(mut m) => *m = next.clone(),
            Err(p) => *p.into_inner() = next.clone(),
        }
        if let Ok(mut t) = self.inner.fetched_at.lock() {
            *t = Some(Instant::now());
        }
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(next)
    }

    /// Metadata that covers `topics`, refreshing when they are unknown or stale.
    pub async fn metadata_for(&self, topics: &[String]) -> Result<Arc<ClusterMetadata>> {
        let snapshot = self.metadata();
        if !self.is_stale() && topics.iter().all(|t| snapshot.topics.contains_key(t)) {
            return Ok(snapshot);
        }
        self.refresh(Some(topics)).await
    }

    /// Partition count of `topic` from fresh cached metadata, without allocating
    /// (the producer's per-record path); `None` means "look it up".
    pub fn cached_partition_count(&self, topic: &str) -> Option<usize> {
        if self.is_stale() {
            return None;
        }
        let md = self.inner.metadata.read().ok()?;
        md.partition_count(topic).filter(|&n| n > 0)
    }

    /// Partition count of `topic`, refreshing metadata if needed; errors when the
    /// topic does not exist.
    pub async fn partition_count(&self, topic: &str) -> Result<usize> {
        let md = self.metadata_for(&[topic.to_string()]).await?;
        match md.partition_count(topic) {
            Some(n) if n > 0 => Ok(n),
            _ => match md.topic_errors.get(topic) {
                Some(e) => Err(Error::Broker(e.clone())),
                None => Err(Error::UnknownTopic(topic.to_string())),
            },
        }
    }

    /// A connection to broker `node_id` on `lane`, reusing a live one.
    pub async fn connection(&self, node_id: i32, lane: Lane) -> Result<Connection> {
        let slot = {
            let mut slots = self.inner.slots.lock().map_err(|_| Error::Closed)?;
            slots.entry((node_id, lane)).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(c) = &slot.conn {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        if let Some(last) = slot.last_failure {
            let wait = self.backoff(slot.failures);
            let since = last.elapsed();
            if since < wait {
                tokio::time::sleep(wait - since).await;
            }
        }
        let addr = match self.metadata().brokers.get(&node_id) {
            Some(b) => b.addr(),
            None => {
                // Boxed: refresh reaches back here through any_connection.
                let md = Box::pin(self.refresh(None)).await?;
                md.brokers
                    .get(&node_id)
                    .map(BrokerInfo::addr)
                    .ok_or_else(|| Error::Protocol(format!("unknown broker {node_id}")))?
            }
        };
        match Connection::connect(&addr, &self.inner.config.connection).await {
            Ok(c) => {
                slot.conn = Some(c.clone());
                slot.failures = 0;
                slot.last_failure = None;
                Ok(c)
            }
            Err(e) => {
                slot.conn = None;
                slot.failures = slot.failures.saturating_add(1);
                slot.last_failure = Some(Instant::now());
                Err(e)
            }
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let base = self.inner.config.reconnect_backoff;
        let factor = 1u32 << failures.min(10);
        (base * factor).min(self.inner.config.reconnect_backoff_max)
    }

    /// A connection to any live broker: a known one, else a bootstrap address.
    pub async fn any_connection(&self) -> Result<Connection> {
        let mut nodes: Vec<i32> = self.metadata().brokers.keys().copied().collect();
        nodes.shuffle(&mut rand::thread_rng());
        let mut last_err = None;
        for node in nodes {
            match self.connection(node, Lane::Data).await {
                Ok(c) => return Ok(c),
                Err(e) => last_err = Some(e),
            }
        }
        let mut boot = self.inner.bootstrap.lock().await;
        if let Some(c) = boot.as_ref() {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let mut addrs = self.inner.config.bootstrap_servers.clone();
        addrs.shuffle(&mut rand::thread_rng());
        for addr in &addrs {
            match Connection::connect(addr, &self.inner.config.connection).await {
                Ok(c) => {
                    *boot = Some(c.clone());
                    return Ok(c);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or(Error::Disconnected("no broker reachable".into())))
    }

    /// Sends `req` to any broker, retrying on another on network errors.
    pub async fn send_any<R>(&self, req: &R) -> Result<R::Response>
    where
        R: moldau_protocol::kafka::protocol::Request,
    {
        let mut attempt = 0u32;
        loop {
            let result = match self.any_connection().await {
                Ok(c) => c.send(req).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if is_network(&e) && attempt < self.network_attempts() => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Sends `req` to broker `node_id`, reconnecting once on a network error.
    pub async fn send_to<R>(&self, node_id: i32, lane: Lane, req: &R) -> Result<R::Response>
    where
        R: moldau_protocol::kafka::protocol::Request,
    {
        let mut attempt = 0u32;
        loop {
            let result = match self.connection(node_id, lane).await {
                Ok(c) => c.send(req).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if is_network(&e) && attempt < 1 => attempt += 1,
                other => return other,
            }
        }
    }

    /// Like [`Cluster::send_any`], for requests whose fields depend on the version
    /// negotiated with the broker that gets it: `build` receives that version.
    pub async fn send_any_with<R, F>(&self, key: ApiKey, build: F) -> Result<R::Response>
    where
        R: moldau_protocol::kafka::protocol::Request,
        F: Fn(i16) -> R,
    {
        let mut attempt = 0u32;
        loop {
            let result = match self.any_connection().await {
                Ok(c) => match c.version_for(key) {
                    Ok(v) => {
                        c.send_version(&build(v), v, self.inner.config.connection.request_timeout)
                            .await
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Err(e) if is_network(&e) && attempt < self.network_attempts() => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Like [`Cluster::send_to`], with the request built for the negotiated version
    /// and an optional timeout overriding `request.timeout.ms`.
    pub async fn send_to_with<R, F>(
        &self,
        node_id: i32,
        lane: Lane,
        key: ApiKey,
        timeout: Option<Duration>,
        build: F,
    ) -> Result<R::Response>
    where
        R: moldau_protocol::kafka::protocol::Request,
        F: Fn(i16) -> R,
    {
        let timeout = timeout.unwrap_or(self.inner.config.connection.request_timeout);
        let mut attempt = 0u32;
        loop {
            let result = match self.connection(node_id, lane).await {
                Ok(c) => match c.version_for(key) {
                    Ok(v) => c.send_version(&build(v), v, timeout).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Err(e) if is_network(&e) && attempt < 1 => attempt += 1,
                other => return other,
            }
        }
    }

    fn network_attempts(&self) -> u32 {
        (self.inner.config.bootstrap_servers.len() as u32).max(3)
    }

    /// Finds the coordinator of `key` (a group id for key type 0) and returns its
    /// node id. Retriable broker errors are returned to the caller to retry.
    pub async fn find_coordinator(&self, key: &str, key_type: i8) -> Result<i32> {
        let conn = self.any_connection().await?;
        let version = conn.version_for(ApiKey::FindCoordinator)?;
        let mut req = FindCoordinatorRequest::default().with_key_type(key_type);
        if version >= 4 {
            req.coordinator_keys = vec![StrBytes::from_string(key.to_string())];
        } else {
            req.key = StrBytes::from_string(key.to_string());
        }
        let resp = conn
            .send_version(&req, version, self.inner.config.connection.request_timeout)
            .await?;
        let (node, host, port) = if version >= 4 {
            let c =
                resp.coordinators.into_iter().next().ok_or_else(|| {
                    Error::Protocol("FindCoordinator without coordinators".into())
                })?;
            check_code(c.error_code, c.error_message.as_deref())?;
            (c.node_id.0, c.host.to_string(), c.port)
        } else {
            check_code(resp.error_code, resp.error_message.as_deref())?;
            (resp.node_id.0, resp.host.to_string(), resp.port)
        };
        // Make sure the coordinator's address is known even if metadata is older.
        let known = self.metadata().brokers.contains_key(&node);
        if !known {
            let mut md = (*self.metadata()).clone();
            md.brokers.insert(
                node,
                BrokerInfo {
                    node_id: node,
                    host,
                    port,
                    rack: None,
                },
            );
            if let Ok(mut m) = self.inner.metadata.write() {
                *m = Arc::new(md);
            }
        }
        Ok(node)
    }
}

/// True for errors that mean "the socket broke", not "the broker said no".
pub fn is_network(e: &Error) -> bool {
    matches!(
        e,
        Error::Io { .. } | Error::Disconnected(_) | Error::Timeout(_)
    )
}

/// A topic name for request messages.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bootstrap_is_a_config_error() {
        let cfg = ClientConfig {
            bootstrap_servers: vec![],
            ..ClientConfig::default()
        };
        assert!(matches!(Cluster::new(cfg), Err(Error::Config(_))));
    }
}
