//! openraft's log storage over the `__cluster_metadata-0` partition log (see
//! `entry_codec` for how an entry is a Kafka record), with the vote, the committed
//! log id and the purge point in the `quorum-state` file beside it.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use moldau_log::{LogConfig, PartitionLog, TopicPartition, METADATA_LOG_TOPIC};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, StorageError, Vote,
};

use crate::raft::entry_codec::{decode_entries, encode_entry_batch, offset_of, MetadataEntry};
use crate::raft::error::{storage, RaftStoreError};
use crate::raft::quorum_state::{QuorumState, QuorumStateFile};
use crate::raft::type_config::{MetadataRaftConfig, NodeId};

type C = MetadataRaftConfig;

/// Bytes read from the log per step when collecting entries.
pub const ENTRY_READ_BYTES_MAX: usize = 1024 * 1024;

/// The Raft log of the metadata quorum. Cloning shares it (the reader openraft's
/// replication tasks use is a clone).
#[derive(Clone)]
pub struct MetadataLogStore {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    log: PartitionLog,
    quorum: QuorumStateFile,
    last_log_id: Option<LogId<NodeId>>,
}

/// The metadata log's settings: it keeps everything (no retention; the start moves
/// only when a snapshot covers it), and removed segments go at once.
fn metadata_log_config() -> LogConfig {
    LogConfig {
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

impl MetadataLogStore {
    /// Opens (creating) the partition directory `dir` (`…/__cluster_metadata-0`),
    /// recovering the log (every batch's CRC is checked, a torn tail cut).
    pub fn open(dir: &Path) -> Result<Self, RaftStoreError> {
        std::fs::create_dir_all(dir).map_err(RaftStoreError::io(dir))?;
        let quorum = QuorumStateFile::open(dir)?;
        let log_start = match quorum.state().last_purged {
            Some(purged) => Some(offset_of(purged.index)? + 1),
            None => None,
        };
        let log = PartitionLog::open(
            dir,
            TopicPartition::new(METADATA_LOG_TOPIC, 0),
            metadata_log_config(),
            log_start.unwrap_or(0),
            log_start,
        )?;
        let mut inner = LogInner {
            log,
            quorum,
            last_log_id: None,
        };
        inner.last_log_id = inner.find_last_log_id()?;
        Ok(MetadataLogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        // A panic while holding the lock left the log as the last completed call did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offsets `[log start, log end)` of the partition, for tests and tools.
    pub fn offsets(&self) -> (i64, i64) {
        let inner = self.lock();
        (inner.log.log_start_offset(), inner.log.log_end_offset())
    }
}

impl LogInner {
    fn find_last_log_id(&self) -> Result<Option<LogId<NodeId>>, RaftStoreError> {
        let (start, end) = (self.log.log_start_offset(), self.log.log_end_offset());
        if end <= start {
            return Ok(self.quorum.state().last_purged);
        }
        let last = (end - 1) as u64;
        let entries = self.read_entries(last, last + 1)?;
        match entries.last() {
            Some(entry) => Ok(Some(entry.log_id)),
            None => Err(RaftStoreError::malformed(
                "metadata log",
                format!("no entry at offset {last} below the log end"),
            )),
        }
    }

    fn read_entries(&self, from: u64, to: u64) -> Result<Vec<MetadataEntry>, RaftStoreError> {
        let start = from.max(self.log.log_start_offset().max(0) as u64);
        let end = to.min(self.log.log_end_offset().max(0) as u64);
        let mut out = Vec::new();
        let mut next = start;
        while next < end {
            let read = self.log.read(
                offset_of(next)?,
                ENTRY_READ_BYTES_MAX,
                offset_of(end)?,
                true,
            )?;
            let before = out.len();
            decode_entries(&read.bytes, next, end, &mut out)?;
            match out.last() {
                Some(entry) if out.len() > before => next = entry.log_id.index + 1,
                _ => break,
            }
        }
        Ok(out)
    }

    /// Writes the entries (one batch each, one write); not yet fsynced.
    fn append(&mut self, entries: Vec<MetadataEntry>) -> Result<(), RaftStoreError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_offset = offset_of(first.log_id.index)?;
        let now_ms = wall_clock_ms();
        let mut buf = Vec::new();
        for (expected, entry) in (first.log_id.index..).zip(&entries) {
            if entry.log_id.index != expected {
                return Err(RaftStoreError::NotContiguous {
                    index: entry.log_id.index,
                    log_end: offset_of(expected)?,
                });
            }
            buf.extend(encode_entry_batch(entry, now_ms)?);
        }
        let end = self.log.log_end_offset();
        if first_offset != end {
            if self.log.log_start_offset() != end {
                return Err(RaftStoreError::NotContiguous {
                    index: first.log_id.index,
                    log_end: end,
                });
            }
            // An empty log takes entries from any index (after a snapshot install).
            self.log.truncate_fully_and_start_at(first_offset)?;
        }
        self.log.append_as_follower(&buf)?;
        self.last_log_id = entries.last().map(|e| e.log_id);
        Ok(())
    }

    fn update_quorum_state(
        &mut self,
        change: impl FnOnce(&mut QuorumState),
    ) -> Result<(), RaftStoreError> {
        let mut state = self.quorum.state().clone();
        change(&mut state);
        self.quorum.store(state)
    }

    fn truncate(&mut self, index: u64) -> Result<(), RaftStoreError> {
        self.log.truncate_to(offset_of(index)?)?;
        self.log.sync_truncation()?;
        self.last_log_id = self.find_last_log_id()?;
        Ok(())
    }

    fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), RaftStoreError> {
        // The purge point is durable before any segment goes: a crash in between
        // reopens with the log start past the (possibly still present) segments.
        self.update_quorum_state(|s| s.last_purged = Some(log_id))?;
        self.log
            .advance_log_start_past_snapshot(offset_of(log_id.index)? + 1)?;
        self.log.sync_truncation()?;
        self.last_log_id = self.find_last_log_id()?;
        Ok(())
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `[from, to)` of a range of indexes.
fn index_bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let from = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(i) => i.saturating_add(1),
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (from, to)
}

impl RaftLogReader<C> for MetadataLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<MetadataEntry>, StorageError<NodeId>> {
        let (from, to) = index_bounds(&range);
        storage(
            self.lock().read_entries(from, to),
            ErrorSubject::Logs,
            ErrorVerb::Read,
        )
    }
}

impl RaftLogStorage<C> for MetadataLogStore {
    type LogReader = MetadataLogStore;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<NodeId>> {
        let inner = self.lock();
        Ok(LogState {
            last_purged_log_id: inner.quorum.state().last_purged,
            last_log_id: inner.last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let result = self.lock().update_quorum_state(|s| s.vote = Some(*vote));
        storage(result, ErrorSubject::Vote, ErrorVerb::Write)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().quorum.state().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let result = self.lock().update_quorum_state(|s| s.committed = committed);
        storage(result, ErrorSubject::Store, ErrorVerb::Write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().quorum.state().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = MetadataEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<MetadataEntry> = entries.into_iter().collect();
        let plan = {
            let mut inner = self.lock();
            storage(inner.append(entries), ErrorSubject::Logs, ErrorVerb::Write)?;
            inner.log.flush_plan()
        };
        // One fsync round per append call, off the async threads; openraft hears
        // the entries are flushed only once it is done.
        let result = match plan {
            None => Ok(()),
            Some(plan) => {
                match tokio::task::spawn_blocking(move || plan.execute().map(|()| plan)).await {
                    Ok(Ok(plan)) => {
                        self.lock().log.complete_flush(&plan, wall_clock_ms());
                        Ok(())
                    }
                    Ok(Err(e)) => Err(std::io::Error::other(e)),
                    Err(join) => Err(std::io::Error::other(join)),
                }
            }
        };
        callback.log_io_completed(result);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let result = self.lock().truncate(log_id.index);
        storage(result, ErrorSubject::Log(log_id), ErrorVerb::Delete)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let result = self.lock().purge(log_id);
        storage(result, ErrorSubject::Log(log_id), ErrorVerb::Delete)
    }
}
