//! The replica fetchers of this broker: for each leader it follows partitions of,
//! `num.replica.fetchers` threads, each fetching its share of those partitions in
//! one Fetch per round (no thread or task per partition). The metadata publisher
//! starts, retargets and stops following here; a fetcher whose partitions are all
//! gone stops.

use crate::metadata_quorum::MetadataQuorum;
use crate::partition::Partition;
use crate::replica_fetcher::{self, FetcherContext, FetcherShared, Followed};
use moldau_log::TopicPartition;
use parking_lot::Mutex;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Kafka's replica fetch settings, read once at start.
#[derive(Debug, Clone)]
pub struct ReplicaFetchSettings {
    /// `num.replica.fetchers`: threads per source broker.
    pub fetchers_per_leader: usize,
    /// `replica.fetch.wait.max.ms`.
    pub wait_max_ms: i32,
    /// `replica.fetch.min.bytes`.
    pub min_bytes: i32,
    /// `replica.fetch.max.bytes`: per partition.
    pub partition_bytes_max: i32,
    /// `replica.fetch.response.max.bytes`.
    pub response_bytes_max: i32,
    /// `replica.fetch.backoff.ms`: pause after an error.
    pub backoff: Duration,
    /// `replica.socket.timeout.ms`: connect and I/O timeout beyond the wait.
    pub socket_timeout: Duration,
}

impl ReplicaFetchSettings {
    pub fn from_config(config: &crate::BrokerConfig) -> Self {
        let ms = |name: &str| Duration::from_millis(config.long(name).max(1) as u64);
        ReplicaFetchSettings {
            fetchers_per_leader: config.int("num.replica.fetchers").max(1) as usize,
            wait_max_ms: config.int("replica.fetch.wait.max.ms").max(0),
            min_bytes: config.int("replica.fetch.min.bytes").max(1),
            partition_bytes_max: config.int("replica.fetch.max.bytes").max(1),
            response_bytes_max: config.int("replica.fetch.response.max.bytes").max(1),
            backoff: ms("replica.fetch.backoff.ms"),
            socket_timeout: ms("replica.socket.timeout.ms"),
        }
    }
}

pub struct ReplicaFetchers {
    context: FetcherContext,
    /// (leader, fetcher index) -> that fetcher's partitions.
    fetchers: Mutex<BTreeMap<(i32, usize), Arc<FetcherShared>>>,
}

impl ReplicaFetchers {
    pub fn new(
        node_id: i32,
        inter_broker_listener: String,
        inter_broker_tls: Option<crate::tls_connector::TlsConnector>,
        inter_broker_sasl: Option<moldau_security::sasl_client::SaslClientCredentials>,
        metadata: Arc<MetadataQuorum>,
        settings: ReplicaFetchSettings,
    ) -> Self {
        ReplicaFetchers {
            context: FetcherContext {
                node_id,
                inter_broker_listener,
                inter_broker_tls,
                inter_broker_sasl,
                metadata,
                settings,
            },
            fetchers: Mutex::new(BTreeMap::new()),
        }
    }

    fn index_of(&self, tp: &TopicPartition) -> usize {
        let mut h = DefaultHasher::new();
        tp.hash(&mut h);
        (h.finish() % self.context.settings.fetchers_per_leader as u64) as usize
    }

    /// Follows `partition` (of topic `topic_id`) from `leader` at `leader_epoch`,
    /// leaving any other leader it was fetched from.
    pub fn follow(
        &self,
        partition: Arc<Partition>,
        topic_id: uuid::Uuid,
        leader: i32,
        leader_epoch: i32,
    ) {
        let tp = partition.tp.clone();
        let key = (leader, self.index_of(&tp));
        let mut fetchers = self.fetchers.lock();
        Self::remove_from_others(&mut fetchers, &tp, key);
        let shared = fetchers.entry(key).or_insert_with(|| {
            let shared = Arc::new(FetcherShared::new(leader));
            replica_fetcher::spawn(Arc::clone(&shared), self.context.clone(), key.1);
            shared
        });
        shared.insert(Followed {
            partition,
            topic_id,
            leader_epoch,
            retry_at: None,
        });
    }

    /// Stops fetching `tp` (this broker leads it now, or no longer holds it).
    pub fn unfollow(&self, tp: &TopicPartition) {
        let mut fetchers = self.fetchers.lock();
        Self::remove_from_others(&mut fetchers, tp, (-1, usize::MAX));
    }

    fn remove_from_others(
        fetchers: &mut BTreeMap<(i32, usize), Arc<FetcherShared>>,
        tp: &TopicPartition,
        keep: (i32, usize),
    ) {
        fetchers.retain(|key, shared| {
            if *key != keep {
                shared.remove(tp);
            }
            if *key != keep && shared.is_empty() {
                shared.stop();
                return false;
            }
            true
        });
    }

    /// Stops every fetcher (the broker shuts down).
    pub fn shutdown(&self) {
        for (_, shared) in std::mem::take(&mut *self.fetchers.lock()) {
            shared.stop();
        }
    }

    /// The partitions followed, with their leader (for tests and metrics).
    pub fn followed(&self) -> Vec<(TopicPartition, i32)> {
        self.fetchers
            .lock()
            .values()
            .flat_map(|s| s.partitions().into_iter().map(|tp| (tp, s.leader)))
            .collect()
    }
}
