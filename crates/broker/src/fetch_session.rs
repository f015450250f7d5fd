//! Incremental fetch sessions (KIP-227): the broker remembers which partitions a
//! consumer fetches, so later requests name only what changed and responses carry
//! only partitions with news.

use parking_lot::Mutex;
use std::collections::HashMap;

/// How many sessions the broker keeps (Kafka's `max.incremental.fetch.session.cache.slots`).
pub const FETCH_SESSIONS_MAX: usize = 1000;
/// A session unused for this long may be evicted to make room.
pub const FETCH_SESSION_IDLE_MS: i64 = 120_000;

/// What the session remembers of one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPartition {
    pub topic: String,
    pub topic_id: uuid::Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    /// What the last response told the client; a change makes the partition news.
    pub last_high_watermark: i64,
    pub last_log_start_offset: i64,
}

#[derive(Debug, Clone)]
pub struct FetchSession {
    pub id: i32,
    /// The epoch the next incremental request must carry.
    pub next_epoch: i32,
    /// In insertion order, as the client expects them.
    pub partitions: Vec<SessionPartition>,
    pub last_used_ms: i64,
}

impl FetchSession {
    pub fn find_mut(&mut self, topic: &str, partition: i32) -> Option<&mut SessionPartition> {
        self.partitions
            .iter_mut()
            .find(|p| p.topic == topic && p.partition == partition)
    }

    pub fn remove(&mut self, topic: &str, partition: i32) {
        self.partitions
            .retain(|p| !(p.topic == topic && p.partition == partition));
    }
}

/// Why an incremental request cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    NotFound,
    InvalidEpoch,
}

pub struct FetchSessionCache {
    sessions: Mutex<HashMap<i32, FetchSession>>,
}

impl Default for FetchSessionCache {
    fn default() -> Self {
        Self::new()
    }
}

impl FetchSessionCache {
    pub fn new() -> Self {
        FetchSessionCache {
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Stores a new session and returns its id, or 0 when there is no room.
    pub fn create(&self, partitions: Vec<SessionPartition>, now_ms: i64) -> i32 {
        let mut sessions = self.sessions.lock();
        if sessions.len() >= FETCH_SESSIONS_MAX {
            let idle: Vec<i32> = sessions
                .values()
                .filter(|s| now_ms - s.last_used_ms > FETCH_SESSION_IDLE_MS)
                .map(|s| s.id)
                .collect();
            for id in idle {
                sessions.remove(&id);
            }
            if sessions.len() >= FETCH_SESSIONS_MAX {
                return 0;
            }
        }
        let mut id = rand::random::<i32>().abs().max(1);
        while sessions.contains_key(&id) {
            id = rand::random::<i32>().abs().max(1);
        }
        sessions.insert(
            id,
            FetchSession {
                id,
                next_epoch: 1,
                partitions,
                last_used_ms: now_ms,
            },
        );
        id
    }

    /// Takes the session out for an incremental request at `epoch`; put it back with
    /// `store` once the response is built.
    pub fn take(&self, id: i32, epoch: i32) -> Result<FetchSession, SessionError> {
        let mut sessions = self.sessions.lock();
        let session = sessions.get(&id).ok_or(SessionError::NotFound)?;
        if session.next_epoch != epoch {
            return Err(SessionError::InvalidEpoch);
        }
        sessions.remove(&id).ok_or(SessionError::NotFound)
    }

    pub fn store(&self, session: FetchSession) {
        self.sessions.lock().insert(session.id, session);
    }

    pub fn remove(&self, id: i32) {
        self.sessions.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Epoch values with special meaning (KIP-227).
pub const INITIAL_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_epochs_must_follow_on() {
        let cache = FetchSessionCache::new();
        let id = cache.create(vec![], 0);
        assert!(id > 0);
        assert_eq!(cache.take(id, 2).unwrap_err(), SessionError::InvalidEpoch);
        let mut s = cache.take(id, 1).unwrap();
        s.next_epoch += 1;
        cache.store(s);
        assert!(cache.take(id, 2).is_ok());
        assert_eq!(cache.take(42, 1).unwrap_err(), SessionError::NotFound);
    }
}
