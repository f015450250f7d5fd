//! All logs of one data directory: opening them at start, the checkpoint files,
//! background retention/compaction, group commit, and clean shutdown.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::background_work::{BackgroundCounters, BackgroundWork};
use crate::change_tracker::ChangeTracker;
use crate::checkpoint_file::{read_checkpoint, sync_dir, write_checkpoint};
use crate::checkpoint_state::{CheckpointEntry, CheckpointState, CHECKPOINT_FILE_COUNT};
use crate::clean_shutdown_file::{read_clean_shutdown_epoch, write_clean_shutdown};
use crate::config::LogConfig;
use crate::dir_lock::DirLock;
use crate::due_schedule::DueSchedule;
use crate::error::LogError;
use crate::filesystem_sync::Syncfs;
use crate::group_commit::{FlushCallback, GroupCommit, OfflineHandler};
use crate::offline_partition::OfflinePartition;
use crate::partition_log::{wall_clock_ms, PartitionLog};
use crate::properties_file::{
    read_partition_metadata, uuid_to_kafka_string, write_partition_metadata, MetaProperties,
    META_PROPERTIES_VERSION,
};
use crate::recovering::{RecoveredHandler, RecoveringPartitions};
use crate::topic_partition::TopicPartition;

/// A log shared between the broker's handlers and the background threads.
pub type SharedLog = Arc<RwLock<PartitionLog>>;

/// Recovery points (fsynced end of each log).
pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
/// High watermarks.
pub const REPLICATION_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// Log start offsets.
pub const LOG_START_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
/// How far compaction has cleaned each compacted log.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Present only after a clean shutdown; its absence at start means recovery.
pub use crate::clean_shutdown_file::CLEAN_SHUTDOWN_FILE;
/// Suffix of partition directories awaiting deletion.
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Suffix of a partition's copy being built in another log directory
/// (AlterReplicaLogDirs, Kafka's `<topic>-<p>.<uuid>-future`).
pub const FUTURE_DIR_SUFFIX: &str = "-future";
const OFFSET_CHECKPOINT_VERSION: i32 = 0;
/// Threads opening (and recovering) partitions at start, and closing them at
/// shutdown. Mostly waiting on the disk (metadata reads, fsyncs), so more than the
/// cores; bounded so a large partition count does not mean many threads.
pub const RECOVERY_THREADS: usize = 8;

/// How start-up opens the partitions found (and after an unclean shutdown
/// recovers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupRecovery {
    /// Every partition is open before `open` returns (tools, tests).
    Wait,
    /// `open` returns at once; each partition joins once open (the broker, which
    /// serves the others meanwhile).
    Background,
}

/// Kafka's default `producer.id.expiration.ms`: one day.
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 24 * 60 * 60 * 1000;

struct Inner {
    data_dir: PathBuf,
    /// Held for the manager's lifetime: one broker per data directory. A directory
    /// that failed at start-up holds none (Kafka does not lock a failed directory).
    _dir_lock: Option<DirLock>,
    /// Why the directory could not be opened at start-up, if it could not.
    failed_at_start: Option<String>,
    cluster_id: String,
    logs: RwLock<BTreeMap<TopicPartition, SharedLog>>,
    topic_ids: RwLock<HashMap<TopicPartition, [u8; 16]>>,
    /// Partitions that could not be opened (at start) or hosted: not served.
    offline: RwLock<BTreeMap<TopicPartition, OfflinePartition>>,
    group_commit: GroupCommit,
    stopping: Mutex<bool>,
    stop_signal: Condvar,
    checkpoint_lock: Mutex<()>,
    shut_down: AtomicBool,
    retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`: idle producers are forgotten after this long.
    producer_id_expiration_ms: AtomicI64,
    /// Partitions changed since the last background pass (each log marks itself).
    changes: Arc<ChangeTracker>,
    /// When partitions next have background work that time alone brings.
    schedule: Mutex<DueSchedule>,
    /// The checkpoint files' content, updated for the partitions a pass visits.
    /// Lock order: `checkpoints`, then `logs`.
    checkpoints: Mutex<CheckpointState>,
    work: BackgroundCounters,
    /// Partitions still being opened (and after an unclean shutdown recovered):
    /// in no map above.
    recovering: RecoveringPartitions,
    /// The last shutdown was clean, so the partitions not opened yet are exactly
    /// as it left them: a clean stop before they are open may still write the
    /// clean-shutdown marker.
    pending_are_clean: bool,
    /// Tests only: called before each partition is recovered (to hold one back).
    before_recovery: Option<RecoveredHandler>,
    /// The broker epoch the clean-shutdown marker found at start named.
    previous_broker_epoch: Option<i64>,
    /// The broker's current registration epoch (-1: none), written into the marker;
    /// the previous one until this run registers.
    broker_epoch: AtomicI64,
}

/// Owner of every partition log in one data directory.
pub struct LogManager {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Parses `topic partition offset` checkpoint lines.
fn read_offsets(path: &Path) -> Result<HashMap<TopicPartition, i64>, LogError> {
    let mut out = HashMap::new();
    let Some((version, lines)) = read_checkpoint(path)? else {
        return Ok(out);
    };
    if version != OFFSET_CHECKPOINT_VERSION {
        return Err(LogError::corrupt(
            path,
            format!("unknown version {version}"),
        ));
    }
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        let parsed = match parts.as_slice() {
            [topic, partition, offset] => partition
                .parse::<i32>()
                .ok()
                .zip(offset.parse::<i64>().ok())
                .map(|(p, o)| (TopicPartition::new(*topic, p), o)),
            _ => None,
        };
        let Some((tp, offset)) = parsed else {
            return Err(LogError::corrupt(path, format!("bad line {line:?}")));
        };
        out.insert(tp, offset);
    }
    Ok(out)
}

fn write_offsets(path: &Path, offsets: &[(TopicPartition, i64)]) -> Result<(), LogError> {
    let lines: Vec<String> = offsets
        .iter()
        .map(|(tp, o)| format!("{} {} {}", tp.topic, tp.partition, o))
        .collect();
    write_checkpoint(path, OFFSET_CHECKPOINT_VERSION, &lines)
}

impl LogManager {
    /// A fresh name for a partition directory that is being deleted (Kafka's
    /// `<topic>-<p>.<uuid>-delete`), so it can never alias a recreated partition.
    pub(crate) fn deletion_path(&self, tp: &TopicPartition) -> PathBuf {
        self.inner.data_dir.join(format!(
            "{}.{}{}",
            tp.dir_name(),
            uuid::Uuid::new_v4().simple(),
            DELETE_DIR_SUFFIX
        ))
    }

    /// Creates `data_dir` if needed, writes/validates meta.properties, reads the three
    /// checkpoint files, opens every `topic-N` directory (deleting ones marked for
    /// deletion), and starts the background retention/compaction thread (every
    /// `retention_check_interval_ms`) and the group-commit flusher thread.
    pub fn open(
        data_dir: &Path,
        node_id: i32,
        cluster_id: &str,
        default_config: LogConfig,
        retention_check_interval_ms: u64,
    ) -> Result<Self, LogError> {
        Self::open_with(
            data_dir,
            node_id,
            cluster_id,
            default_config,
            retention_check_interval_ms,
            StartupRecovery::Wait,
            None,
        )
    }

    /// [`LogManager::open`], recovering after an unclean shutdown as `recovery` says,
    /// calling `before_recovery` before each partition is recovered (tests hold one
    /// back with it).
    pub(crate) fn open_with(
        data_dir: &Path,
        node_id: i32,
        cluster_id: &str,
        default_config: LogConfig,
        retention_check_interval_ms: u64,
        recovery: StartupRecovery,
        before_recovery: Option<RecoveredHandler>,
    ) -> Result<Self, LogError> {
        std::fs::create_dir_all(data_dir).map_err(LogError::at(data_dir))?;
        let dir_lock = DirLock::acquire(data_dir)?;
        let cluster_id = match MetaProperties::read(data_dir)? {
            Some(meta) => {
                if meta.node_id != node_id {
                    return Err(LogError::NodeIdMismatch {
                        path: data_dir.to_path_buf(),
                        found: meta.node_id,
                        expected: node_id,
                    });
                }
                if meta.cluster_id != cluster_id {
                    tracing::warn!(stored = %meta.cluster_id, given = %cluster_id, "data directory belongs to cluster {}; keeping it", meta.cluster_id);
                }
                meta.cluster_id
            }
            None => {
                let meta = MetaProperties {
                    cluster_id: cluster_id.to_string(),
                    node_id,
                    directory_id: uuid_to_kafka_string(uuid::Uuid::new_v4().as_bytes()),
                    version: META_PROPERTIES_VERSION,
                };
                meta.write(data_dir)?;
                meta.cluster_id
            }
        };
        let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = marker.exists();
        let previous_broker_epoch = clean_shutdown
            .then(|| read_clean_shutdown_epoch(data_dir))
            .flatten();
        let recovery_points = read_offsets(&data_dir.join(RECOVERY_POINT_CHECKPOINT_FILE))?;
        let high_watermarks = read_offsets(&data_dir.join(REPLICATION_CHECKPOINT_FILE))?;
        let log_starts = read_offsets(&data_dir.join(LOG_START_CHECKPOINT_FILE))?;
        let cleaned_up_to = read_offsets(&data_dir.join(CLEANER_CHECKPOINT_FILE))?;

        let started = std::time::Instant::now();
        let mut found = Vec::new();
        for entry in std::fs::read_dir(data_dir).map_err(LogError::at(data_dir))? {
            let entry = entry.map_err(LogError::at(data_dir))?;
            if !entry
                .file_type()
                .map_err(LogError::at(&entry.path()))?
                .is_dir()
            {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(DELETE_DIR_SUFFIX) {
                std::fs::remove_dir_all(entry.path()).map_err(LogError::at(&entry.path()))?;
                continue;
            }
            if name.ends_with(FUTURE_DIR_SUFFIX) {
                // A move between log directories that did not finish: the current
                // log is intact elsewhere; the move starts again when asked again.
                tracing::warn!(dir = %entry.path().display(), "removing the unfinished copy of a partition move (AlterReplicaLogDirs)");
                std::fs::remove_dir_all(entry.path()).map_err(LogError::at(&entry.path()))?;
                continue;
            }
            if let Some(tp) = TopicPartition::parse_dir_name(name) {
                // The metadata log belongs to the Raft storage, its only writer.
                if tp.kind() != crate::topic_partition::LogKind::Metadata {
                    found.push((tp, entry.path()));
                }
            }
        }
        let plan = Arc::new(OpenPlan {
            default_config,
            recovery_points,
            high_watermarks,
            log_starts,
            cleaned_up_to,
            clean_shutdown,
        });
        // Every log starts marked: the first pass visits each once.
        let changes = Arc::new(ChangeTracker::new());
        // Each partition is opened on a few threads and served once open; the
        // broker listens meanwhile. After a clean shutdown opening re-reads no
        // segment (the files are trusted); after a crash each partition is checked
        // past its recovery point. Coordinator partitions first: groups and
        // transactions wait on them.
        let mut to_recover = found;
        to_recover.sort_by_key(|(tp, _)| (!tp.topic.starts_with("__"), tp.clone()));
        let recovering = RecoveringPartitions::new(
            to_recover
                .iter()
                .map(|(tp, _)| (tp.clone(), plan.kept(tp)))
                .collect(),
        );
        tracing::info!(
            data_dir = %data_dir.display(),
            partitions = to_recover.len(),
            clean_shutdown,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opening logs"
        );
        if clean_shutdown {
            // Removed before any partition is served, so before anything can be
            // written: from now on a crash leads to recovery, which checks every
            // partition from its recovery point (those not opened yet included;
            // their recovery points are the log ends the clean shutdown synced).
            std::fs::remove_file(&marker).map_err(LogError::at(&marker))?;
            sync_dir(data_dir)?;
        }

        let inner = Arc::new(Inner {
            data_dir: data_dir.to_path_buf(),
            _dir_lock: Some(dir_lock),
            failed_at_start: None,
            cluster_id,
            logs: RwLock::new(BTreeMap::new()),
            topic_ids: RwLock::new(HashMap::new()),
            offline: RwLock::new(BTreeMap::new()),
            group_commit: GroupCommit::start(Syncfs::for_dir(data_dir))?,
            stopping: Mutex::new(false),
            stop_signal: Condvar::new(),
            checkpoint_lock: Mutex::new(()),
            shut_down: AtomicBool::new(false),
            retention_check_interval_ms: retention_check_interval_ms.max(1),
            producer_id_expiration_ms: AtomicI64::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT),
            changes,
            schedule: Mutex::new(DueSchedule::new()),
            checkpoints: Mutex::new(CheckpointState::new()),
            work: BackgroundCounters::default(),
            recovering,
            pending_are_clean: clean_shutdown,
            before_recovery,
            previous_broker_epoch,
            // Until this run registers, the node still stands under that registration.
            broker_epoch: AtomicI64::new(previous_broker_epoch.unwrap_or(-1)),
        });
        let worker = Arc::clone(&inner);
        let retention = std::thread::Builder::new()
            .name("moldau-log-retention".into())
            .spawn(move || background_loop(&worker))
            .map_err(|e| LogError::io(data_dir, e))?;
        let mut threads = vec![retention];
        if recovery == StartupRecovery::Wait {
            recover_all(&inner, &plan, &to_recover);
        } else if !to_recover.is_empty() {
            let worker = Arc::clone(&inner);
            let recovery = std::thread::Builder::new()
                .name("moldau-log-recovery".into())
                .spawn(move || recover_all(&worker, &plan, &to_recover))
                .map_err(|e| LogError::io(data_dir, e))?;
            threads.push(recovery);
        }
        Ok(LogManager {
            inner,
            threads: Mutex::new(threads),
        })
    }

    /// The broker epoch this directory's clean-shutdown marker named at start: the
    /// registration the node stopped under (KIP-966's previous broker epoch).
    pub fn previous_broker_epoch(&self) -> Option<i64> {
        self.inner.previous_broker_epoch
    }

    /// The broker's current registration epoch (none: unregistered), which a clean
    /// shutdown writes into the marker.
    pub fn set_broker_epoch(&self, broker_epoch: Option<i64>) {
        self.inner
            .broker_epoch
            .store(broker_epoch.unwrap_or(-1), Ordering::SeqCst);
    }

    /// A directory that could not be opened at start-up (`error`): offline from the
    /// start, holding no partitions, with no lock and no background threads, so the
    /// broker serves its other directories (Kafka's behaviour).
    pub fn failed(data_dir: &Path, cluster_id: &str, error: &LogError) -> Result<Self, LogError> {
        let inner = Arc::new(Inner {
            data_dir: data_dir.to_path_buf(),
            _dir_lock: None,
            failed_at_start: Some(error.to_string()),
            cluster_id: cluster_id.to_string(),
            logs: RwLock::new(BTreeMap::new()),
            topic_ids: RwLock::new(HashMap::new()),
            offline: RwLock::new(BTreeMap::new()),
            group_commit: GroupCommit::start(None)?,
            stopping: Mutex::new(false),
            stop_signal: Condvar::new(),
            checkpoint_lock: Mutex::new(()),
            shut_down: AtomicBool::new(false),
            retention_check_interval_ms: 1,
            producer_id_expiration_ms: AtomicI64::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT),
            changes: Arc::new(ChangeTracker::new()),
            schedule: Mutex::new(DueSchedule::new()),
            checkpoints: Mutex::new(CheckpointState::new()),
            work: BackgroundCounters::default(),
            recovering: RecoveringPartitions::default(),
            pending_are_clean: true,
            before_recovery: None,
            previous_broker_epoch: None,
            broker_epoch: AtomicI64::new(-1),
        });
        inner.group_commit.mark_offline(error);
        Ok(LogManager {
            inner,
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Why the directory could not be opened at start-up, if it could not.
    pub fn failed_at_start(&self) -> Option<&str> {
        self.inner.failed_at_start.as_deref()
    }

    /// The cluster id: from meta.properties if it existed, else the one given to `open`.
    pub fn cluster_id(&self) -> String {
        self.inner.cluster_id.clone()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.inner.logs.read().get(tp).cloned()
    }

    pub fn all(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.inner
            .logs
            .read()
            .iter()
            .map(|(tp, log)| (tp.clone(), Arc::clone(log)))
            .collect()
    }

    /// Creates the directory, writes partition.metadata (version 0, topic_id as Kafka's
    /// base64 uuid) and returns the log; returns the existing one if present.
    pub fn create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
        topic_id: [u8; 16],
    ) -> Result<SharedLog, LogError> {
        if let Some(log) = self.inner.logs.read().get(tp) {
            return Ok(Arc::clone(log));
        }
        if self.inner.recovering.contains(tp) {
            // Its directory holds data not checked yet: never a second log over it.
            return Err(LogError::Recovering(tp.to_string()));
        }
        // The file work (directory, segment, partition.metadata, fsyncs) runs without
        // the map's lock: holding it made every creation wait for the one before, and
        // every reader of the map wait for the disk. `LogDirs::create` keeps one
        // partition from being created twice at once.
        let dir = self.inner.data_dir.join(tp.dir_name());
        let mut log = PartitionLog::open(&dir, tp.clone(), config, 0, None)?;
        log.track_changes(Arc::clone(&self.inner.changes));
        write_partition_metadata(&dir, &topic_id)?;
        sync_dir(&self.inner.data_dir)?;
        let mut logs = self.inner.logs.write();
        if let Some(log) = logs.get(tp) {
            return Ok(Arc::clone(log));
        }
        let log = Arc::new(RwLock::new(log));
        logs.insert(tp.clone(), Arc::clone(&log));
        self.inner.topic_ids.write().insert(tp.clone(), topic_id);
        Ok(log)
    }

    /// Partitions (logs) kept in this directory.
    pub fn partition_count(&self) -> usize {
        self.inner.logs.read().len()
            + self.inner.offline.read().len()
            + self.inner.recovering.remaining()
    }

    /// Whether `tp` is still being recovered after an unclean shutdown: its log is
    /// not open yet, must not be created afresh, and is served once recovered.
    pub fn is_recovering(&self, tp: &TopicPartition) -> bool {
        self.inner.recovering.contains(tp)
    }

    /// The partitions still being recovered.
    pub fn recovering_partitions(&self) -> Vec<TopicPartition> {
        self.inner.recovering.names()
    }

    /// Whether `shutdown` (or drop) began stopping the background threads.
    #[cfg(test)]
    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.is_stopping()
    }

    /// How many partitions are still being recovered, and how many finished.
    pub fn recovery_progress(&self) -> (usize, usize) {
        (
            self.inner.recovering.remaining(),
            self.inner.recovering.finished(),
        )
    }

    /// `handler` hears of each partition whose recovery finished (its log is open,
    /// or it is offline), including those that finished before this call.
    pub fn on_recovered(&self, handler: RecoveredHandler) {
        self.inner.recovering.on_finished(handler);
    }

    /// Takes `tp`'s log out of this directory's bookkeeping without touching its
    /// files (it moved to another directory). Returns the log and its topic id.
    pub(crate) fn release(&self, tp: &TopicPartition) -> Option<(SharedLog, Option<[u8; 16]>)> {
        let log = self.inner.logs.write().remove(tp)?;
        let topic_id = self.inner.topic_ids.write().remove(tp);
        self.inner.forget(tp);
        Some((log, topic_id))
    }

    /// Takes over a log that moved into this directory.
    /// The log must report its changes to [`LogManager::change_tracker`] already
    /// (the caller holds its lock).
    pub(crate) fn adopt(&self, tp: &TopicPartition, log: SharedLog, topic_id: Option<[u8; 16]>) {
        let previous = self.inner.logs.write().insert(tp.clone(), log);
        assert!(
            previous.is_none(),
            "{tp} moved into a directory that already holds it"
        );
        if let Some(id) = topic_id {
            self.inner.topic_ids.write().insert(tp.clone(), id);
        }
    }

    /// Where this directory's logs report their changes for the background pass.
    pub(crate) fn change_tracker(&self) -> Arc<ChangeTracker> {
        Arc::clone(&self.inner.changes)
    }

    /// Why the partition is offline, if it is (it could not be opened or hosted).
    pub fn offline_reason(&self, tp: &TopicPartition) -> Option<String> {
        self.inner.offline.read().get(tp).map(|o| o.reason.clone())
    }

    /// Every offline partition with the reason.
    pub fn offline_partitions(&self) -> Vec<(TopicPartition, String)> {
        let offline = self.inner.offline.read();
        offline
            .iter()
            .map(|(tp, o)| (tp.clone(), o.reason.clone()))
            .collect()
    }

    /// Records that the partition cannot be served (e.g. hosting it failed), with a
    /// clear log line, once.
    pub fn mark_partition_offline(&self, tp: &TopicPartition, reason: &str) {
        let mut offline = self.inner.offline.write();
        if offline.contains_key(tp) {
            return;
        }
        tracing::error!(partition = %tp, error = %reason, "partition {tp} is offline: {reason}");
        offline.insert(
            tp.clone(),
            OfflinePartition {
                reason: reason.to_string(),
                ..OfflinePartition::default()
            },
        );
        drop(offline);
        self.inner.checkpoints.lock().mark_all_dirty();
    }

    /// Forgets an offline partition whose topic was deleted and moves its files out
    /// of the way (deleted like any removed partition), so a topic created later
    /// with the same name starts afresh. Returns whether it was offline.
    pub fn remove_offline(&self, tp: &TopicPartition) -> Result<bool, LogError> {
        if self.inner.offline.write().remove(tp).is_none() {
            return Ok(false);
        }
        self.inner.checkpoints.lock().mark_all_dirty();
        let from = self.inner.data_dir.join(tp.dir_name());
        let Ok(kind) = std::fs::symlink_metadata(&from).map(|m| m.file_type()) else {
            return Ok(true);
        };
        if !kind.is_dir() {
            // Not a partition directory at all (what kept it from opening).
            std::fs::remove_file(&from).map_err(LogError::at(&from))?;
            sync_dir(&self.inner.data_dir)?;
            return Ok(true);
        }
        let to = self.deletion_path(tp);
        std::fs::rename(&from, &to).map_err(LogError::at(&from))?;
        sync_dir(&self.inner.data_dir)?;
        // Deleted now; a crash before that leaves a `-delete` directory removed at start.
        if let Err(e) = std::fs::remove_dir_all(&to) {
            tracing::warn!(dir = %to.display(), error = %e, "could not delete removed partition directory");
        }
        Ok(true)
    }

    /// The topic id from partition.metadata.
    pub fn topic_id(&self, tp: &TopicPartition) -> Option<[u8; 16]> {
        self.inner.topic_ids.read().get(tp).copied()
    }

    /// Removes the partition: renames its directory to `topic-N.<uuid>-delete`, retires
    /// the in-memory log (anyone still holding it fails harmlessly from now on instead
    /// of touching a recreated partition's files) and deletes the directory on a
    /// background thread.
    pub fn remove(&self, tp: &TopicPartition) -> Result<(), LogError> {
        let Some(log) = self.inner.logs.write().remove(tp) else {
            return Ok(());
        };
        self.inner.topic_ids.write().remove(tp);
        self.inner.forget(tp);
        self.retire(tp, &log)
    }

    /// Like [`LogManager::remove`], but only if `tp`'s log is still `log` (not a log
    /// created since for a recreated topic of the same name). Returns whether it was.
    pub fn remove_if_same(&self, tp: &TopicPartition, log: &SharedLog) -> Result<bool, LogError> {
        {
            let mut logs = self.inner.logs.write();
            if !logs
                .get(tp)
                .is_some_and(|current| Arc::ptr_eq(current, log))
            {
                return Ok(false);
            }
            logs.remove(tp);
            self.inner.topic_ids.write().remove(tp);
        }
        self.inner.forget(tp);
        self.retire(tp, log)?;
        Ok(true)
    }

    fn retire(&self, tp: &TopicPartition, log: &SharedLog) -> Result<(), LogError> {
        let mut guard = log.write();
        if guard.is_deleted() {
            return Ok(());
        }
        let from = guard.dir().to_path_buf();
        let to = self.deletion_path(tp);
        std::fs::rename(&from, &to).map_err(LogError::at(&from))?;
        // Under the same lock as the rename: no write can slip in between.
        guard.mark_deleted(to.clone());
        drop(guard);
        sync_dir(&self.inner.data_dir)?;
        let spawned = std::thread::Builder::new()
            .name("moldau-log-delete".into())
            .spawn(move || {
                if let Err(e) = std::fs::remove_dir_all(&to) {
                    tracing::warn!(dir = %to.display(), error = %e, "could not delete removed partition directory");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start deletion thread; directory is removed at next start");
        }
        Ok(())
    }

    /// Group commit: returns at once; the flusher thread fsyncs, advances the
    /// recovery point and calls `done(Ok(durable_offset))` with the offset now durable
    /// (>= `up_to_offset`), or an error. Callbacks run on the flusher thread (for an
    /// unknown partition, immediately on the caller's).
    pub fn request_flush(&self, tp: &TopicPartition, up_to_offset: i64, done: FlushCallback) {
        match self.get(tp) {
            Some(log) => self.inner.group_commit.request(log, up_to_offset, done),
            None => done(Err(LogError::UnknownPartition(tp.to_string()))),
        }
    }

    /// Takes the directory offline after a failed write or fsync (see
    /// [`GroupCommit::mark_offline`]).
    pub fn mark_offline(&self, error: &LogError) {
        self.inner.group_commit.mark_offline(error);
    }

    /// True once a write or fsync in the directory failed.
    pub fn is_offline(&self) -> bool {
        self.inner.group_commit.is_offline()
    }

    /// What to do when the directory goes offline (the broker exits).
    pub fn on_offline(&self, handler: OfflineHandler) {
        self.inner.group_commit.on_offline(handler);
    }

    /// The group-commit engine (for its counters).
    pub fn group_commit(&self) -> &GroupCommit {
        &self.inner.group_commit
    }

    /// Writes recovery-point-offset-checkpoint, replication-offset-checkpoint (high
    /// watermarks), log-start-offset-checkpoint and cleaner-offset-checkpoint
    /// atomically, each only if its content changed.
    pub fn checkpoint(&self) -> Result<(), LogError> {
        self.inner.checkpoint(true)
    }

    /// What the background passes did so far.
    pub fn background_work(&self) -> BackgroundWork {
        self.inner.work.snapshot()
    }

    /// One background pass now, as the background thread runs them (for tests that
    /// drive time themselves).
    pub fn run_background_pass(&self, now_ms: i64) {
        self.inner.background_pass_at(now_ms);
    }

    /// Sets `producer.id.expiration.ms`, applied by the background pass.
    pub fn set_producer_id_expiration_ms(&self, expiration_ms: i64) {
        assert!(
            expiration_ms > 0,
            "producer.id.expiration.ms must be positive"
        );
        let previous = self
            .inner
            .producer_id_expiration_ms
            .swap(expiration_ms, Ordering::AcqRel);
        if previous != expiration_ms {
            // Every partition's expiry time moves: each is looked at once more.
            for (_, log) in self.all() {
                log.read().note_change();
            }
        }
    }

    /// Flushes every log, writes the checkpoints and the clean-shutdown marker so the
    /// next open skips recovery; stops the background threads. Idempotent.
    pub fn shutdown(&self) -> Result<(), LogError> {
        if self.inner.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.stop_threads();
        self.inner.group_commit.shutdown();
        if self.is_offline() {
            // No clean-shutdown marker: the next start must recover (and re-check)
            // everything after the recovery points, which never passed a failed fsync.
            return Err(LogError::DirOffline);
        }
        // Each close fsyncs its partition: done on a few threads, so the disk sees
        // several at once rather than one after another.
        // Logs with nothing written since they were last left at rest are skipped.
        let logs = self.all();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed: Mutex<Option<LogError>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..RECOVERY_THREADS.min(logs.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, log)) = logs.get(i) else { break };
                    match log.write().close_for_shutdown() {
                        Ok(true) => self.inner.work.synced_at_shutdown(),
                        Ok(false) => {}
                        Err(e) => {
                            failed.lock().get_or_insert(e);
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        // One write per checkpoint file whose content changed, for the directory.
        self.inner.checkpoint(true)?;
        let unrecovered = self.inner.recovering.remaining();
        if unrecovered > 0 && !self.inner.pending_are_clean {
            // Their data was never checked: the next start must recover them.
            tracing::warn!(data_dir = %self.inner.data_dir.display(), partitions = unrecovered, "stopped before every partition was recovered; the next start recovers again");
            return Ok(());
        }
        let broker_epoch = self.inner.broker_epoch.load(Ordering::SeqCst);
        write_clean_shutdown(
            &self.inner.data_dir,
            (broker_epoch >= 0).then_some(broker_epoch),
        )?;
        sync_dir(&self.inner.data_dir)?;
        tracing::info!(
            data_dir = %self.inner.data_dir.display(),
            partitions = logs.len(),
            synced = self.inner.work.snapshot().partitions_synced_at_shutdown,
            not_opened = unrecovered,
            "log manager shut down cleanly"
        );
        Ok(())
    }

    fn stop_threads(&self) {
        *self.inner.stopping.lock() = true;
        self.inner.stop_signal.notify_all();
        for t in self.threads.lock().drain(..) {
            if t.join().is_err() {
                tracing::error!("log background thread panicked");
            }
        }
    }
}

impl Drop for LogManager {
    /// Stops the threads without a clean shutdown (the next open recovers).
    fn drop(&mut self) {
        self.stop_threads();
        self.inner.group_commit.shutdown();
    }
}

impl Inner {
    /// A partition's recovery after an unclean shutdown finished with `result`: its
    /// log joins the directory (or it is offline), then listeners hear of it.
    fn adopt_recovered(&self, tp: &TopicPartition, result: OpenResult, kept: OfflinePartition) {
        let mut checkpoints = self.checkpoints.lock();
        match result {
            Ok((mut log, topic_id)) => {
                log.track_changes(Arc::clone(&self.changes));
                let entry = Self::checkpoint_entry(&log);
                if let Some(id) = topic_id {
                    self.topic_ids.write().insert(tp.clone(), id);
                }
                let previous = self
                    .logs
                    .write()
                    .insert(tp.clone(), Arc::new(RwLock::new(log)));
                assert!(previous.is_none(), "{tp} opened while being recovered");
                checkpoints.update(tp, entry);
            }
            Err(e) => {
                tracing::error!(partition = %tp, error = %e, "partition {tp} is offline: {e}");
                let kept = OfflinePartition {
                    reason: e.to_string(),
                    ..kept
                };
                self.offline.write().insert(tp.clone(), kept);
                checkpoints.mark_all_dirty();
            }
        }
        let listener = self.recovering.finish(tp);
        drop(checkpoints);
        if let Some(listener) = listener {
            listener(tp);
        }
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.lock()
    }

    /// The checkpoint files' line for `log`.
    fn checkpoint_entry(log: &PartitionLog) -> CheckpointEntry {
        CheckpointEntry {
            recovery_point: log.recovery_point(),
            high_watermark: log.high_watermark(),
            log_start_offset: log.log_start_offset(),
            cleaned_up_to: (log.cleaner_checkpoint() > log.log_start_offset())
                .then(|| log.cleaner_checkpoint()),
        }
    }

    /// `tp` left this directory: its lines go and nothing is scheduled for it.
    fn forget(&self, tp: &TopicPartition) {
        self.checkpoints.lock().remove(tp);
        self.schedule.lock().set(tp, None);
    }

    /// Records `log`'s lines unless it left the directory meanwhile.
    fn record_checkpoint_entry(&self, tp: &TopicPartition, log: &SharedLog) {
        let entry = Self::checkpoint_entry(&log.read());
        let mut checkpoints = self.checkpoints.lock();
        let current = self
            .logs
            .read()
            .get(tp)
            .is_some_and(|l| Arc::ptr_eq(l, log));
        if current {
            checkpoints.update(tp, entry);
        }
    }

    /// Rewrites the checkpoint files whose content changed; with `refresh_all`,
    /// every log's offsets are read first (shutdown, an explicit checkpoint),
    /// otherwise the passes' records of changed partitions are trusted.
    fn checkpoint(&self, refresh_all: bool) -> Result<(), LogError> {
        let _one_writer = self.checkpoint_lock.lock();
        if refresh_all {
            let logs: Vec<(TopicPartition, SharedLog)> = self
                .logs
                .read()
                .iter()
                .map(|(tp, l)| (tp.clone(), Arc::clone(l)))
                .collect();
            for (tp, log) in &logs {
                self.record_checkpoint_entry(tp, log);
            }
        }
        let (dirty, mut files) = {
            let mut checkpoints = self.checkpoints.lock();
            let dirty = checkpoints.take_dirty();
            let mut files: [Vec<(TopicPartition, i64)>; CHECKPOINT_FILE_COUNT] = Default::default();
            for (tp, e) in checkpoints.entries() {
                let values = [
                    Some(e.recovery_point),
                    Some(e.high_watermark),
                    Some(e.log_start_offset),
                    e.cleaned_up_to,
                ];
                for (i, value) in values.into_iter().enumerate() {
                    if let (true, Some(offset)) = (dirty[i], value) {
                        files[i].push((tp.clone(), offset));
                    }
                }
            }
            // Under the same lock as a recovered log's first entry: each partition
            // is written once, from one side or the other.
            for (tp, kept) in self.recovering.kept() {
                kept.push_lines(&tp, dirty, &mut files);
            }
            (dirty, files)
        };
        if !dirty.contains(&true) {
            return Ok(());
        }
        // Offline partitions keep what the checkpoints said, for when they are repaired.
        for (tp, kept) in self.offline.read().iter() {
            kept.push_lines(tp, dirty, &mut files);
        }
        let names = [
            RECOVERY_POINT_CHECKPOINT_FILE,
            REPLICATION_CHECKPOINT_FILE,
            LOG_START_CHECKPOINT_FILE,
            CLEANER_CHECKPOINT_FILE,
        ];
        for (i, name) in names.into_iter().enumerate() {
            if !dirty[i] {
                continue;
            }
            if let Err(e) = write_offsets(&self.data_dir.join(name), &files[i]) {
                // Not written: this and the later files are written by the next try.
                let mut again = [false; CHECKPOINT_FILE_COUNT];
                again[i..].copy_from_slice(&dirty[i..]);
                self.checkpoints.lock().mark_dirty(again);
                return Err(e);
            }
            self.work.file_written();
        }
        Ok(())
    }

    fn background_pass(&self) {
        self.background_pass_at(wall_clock_ms());
    }

    /// One pass of background work over the partitions that changed since the last
    /// one or whose time came (retention, delayed deletes, `flush.ms`, producer
    /// expiry, compaction), then the checkpoint files that changed.
    fn background_pass_at(&self, now_ms: i64) {
        let expiration_ms = self.producer_id_expiration_ms.load(Ordering::Acquire);
        let mut visit = self.changes.take();
        visit.extend(self.schedule.lock().take_due(now_ms));
        visit.sort_unstable();
        visit.dedup();
        let mut visited = 0u64;
        for tp in &visit {
            let Some(log) = self.logs.read().get(tp).cloned() else {
                continue;
            };
            visited += 1;
            // A change from here on marks the log for the next pass.
            log.read().clear_change_mark();
            if let Err(e) = crate::cleaner::run_retention_and_compaction(&log, now_ms) {
                tracing::warn!(partition = %tp, error = %e, "retention/compaction failed");
            }
            let expired = log.write().remove_expired_producers(now_ms, expiration_ms);
            if expired > 0 {
                tracing::debug!(partition = %tp, expired, "expired idle producers");
            }
            let (due, end, next_due) = {
                let l = log.read();
                (
                    l.flush_due(now_ms),
                    l.log_end_offset(),
                    l.next_background_due_ms(now_ms, expiration_ms),
                )
            };
            if due {
                self.group_commit.request(
                    Arc::clone(&log),
                    end,
                    Box::new(|r| {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "background flush failed");
                        }
                    }),
                );
            }
            // Work due now (a flush in flight) is looked at again by the next pass.
            self.schedule.lock().set(tp, next_due);
            self.record_checkpoint_entry(tp, &log);
        }
        self.work.pass(visited);
        if self.group_commit.is_offline() {
            return;
        }
        if let Err(e) = self.checkpoint(false) {
            tracing::warn!(error = %e, "writing offset checkpoints failed");
            self.group_commit.mark_offline(&e);
        }
    }
}

fn background_loop(inner: &Inner) {
    let interval = Duration::from_millis(inner.retention_check_interval_ms);
    loop {
        {
            let mut stopping = inner.stopping.lock();
            if !*stopping {
                inner.stop_signal.wait_for(&mut stopping, interval);
            }
            if *stopping {
                return;
            }
        }
        inner.background_pass();
    }
}

/// What opening a partition's directory gives: its log and its topic id.
type OpenResult = Result<(PartitionLog, Option<[u8; 16]>), LogError>;

/// What start-up knows before opening the partitions: the checkpoint files and
/// whether the last shutdown was clean.
struct OpenPlan {
    default_config: LogConfig,
    recovery_points: HashMap<TopicPartition, i64>,
    high_watermarks: HashMap<TopicPartition, i64>,
    log_starts: HashMap<TopicPartition, i64>,
    cleaned_up_to: HashMap<TopicPartition, i64>,
    clean_shutdown: bool,
}

impl OpenPlan {
    /// Opens (and after a crash recovers past its recovery point) `tp`'s log in `dir`.
    fn open_one(&self, tp: &TopicPartition, dir: &Path) -> OpenResult {
        let recovery_point = self.recovery_points.get(tp).copied().unwrap_or(0);
        let mut log = PartitionLog::open_with_options(
            dir,
            tp.clone(),
            self.default_config.clone(),
            recovery_point,
            self.log_starts.get(tp).copied(),
            self.clean_shutdown,
        )?;
        if let Some(hw) = self.high_watermarks.get(tp) {
            log.set_high_watermark(*hw);
        }
        if let Some(cleaned) = self.cleaned_up_to.get(tp) {
            log.set_cleaner_checkpoint(*cleaned);
        }
        Ok((log, read_partition_metadata(dir)?))
    }

    /// `tp`'s checkpoint lines as read.
    fn kept(&self, tp: &TopicPartition) -> OfflinePartition {
        OfflinePartition {
            reason: String::new(),
            recovery_point: self.recovery_points.get(tp).copied(),
            high_watermark: self.high_watermarks.get(tp).copied(),
            log_start_offset: self.log_starts.get(tp).copied(),
            cleaned_up_to: self.cleaned_up_to.get(tp).copied(),
        }
    }
}

/// Opens (after a crash: recovers) `partitions` on a few threads (Kafka's
/// num.recovery.threads.per.data.dir), each joining the directory as soon as it is
/// done; stops early with the manager.
fn recover_all(inner: &Inner, plan: &OpenPlan, partitions: &[(TopicPartition, PathBuf)]) {
    if partitions.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..RECOVERY_THREADS.min(partitions.len()) {
            scope.spawn(|| loop {
                if inner.is_stopping() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((tp, dir)) = partitions.get(i) else {
                    break;
                };
                if let Some(hook) = &inner.before_recovery {
                    hook(tp);
                }
                let result = plan.open_one(tp, dir);
                inner.adopt_recovered(tp, result, plan.kept(tp));
            });
        }
    });
    tracing::info!(
        data_dir = %inner.data_dir.display(),
        opened = inner.recovering.finished(),
        offline = inner.offline.read().len(),
        remaining = inner.recovering.remaining(),
        clean_shutdown = plan.clean_shutdown,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "logs loaded"
    );
}
