//! Every log directory of a broker (Kafka's `log.dirs`, JBOD): each one a
//! [`LogManager`] with its own `meta.properties`, `.lock`, checkpoint files and
//! flusher, and its own failure domain. New partitions go to the online directory
//! holding the fewest; a partition lives in exactly one directory, and
//! AlterReplicaLogDirs moves it to another while it keeps serving.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Condvar, Mutex};

use crate::config::LogConfig;
use crate::disk_space::DiskSpace;
use crate::error::LogError;
use crate::future_replica::{FutureReplica, MoveError};
use crate::group_commit::{FlushCallback, OfflineHandler};
use crate::manager::{LogManager, SharedLog, StartupRecovery};
use crate::topic_partition::TopicPartition;

/// Most partitions remembered with a directory asked for before they are hosted.
pub const PREFERRED_DIRS_MAX: usize = 10_000;

/// Which directories failed, and what to do once all of them have.
struct DirFailures {
    paths: Vec<PathBuf>,
    offline: Vec<AtomicBool>,
    all_offline: OnceLock<OfflineHandler>,
}

impl DirFailures {
    fn dir_failed(&self, index: usize, error: &LogError) {
        if self.offline[index].swap(true, Ordering::SeqCst) {
            return;
        }
        let online = self
            .offline
            .iter()
            .filter(|o| !o.load(Ordering::SeqCst))
            .count();
        tracing::error!(
            dir = %self.paths[index].display(),
            %error,
            online_dirs = online,
            "log directory {} is offline: its partitions answer KAFKA_STORAGE_ERROR, the other directories keep serving",
            self.paths[index].display()
        );
        if online == 0 {
            if let Some(handler) = self.all_offline.get() {
                handler(error);
            }
        }
    }
}

/// What DescribeLogDirs reports for one directory.
#[derive(Debug, Clone)]
pub struct LogDirDescription {
    pub path: PathBuf,
    /// Why the directory is offline, if it is.
    pub offline: Option<String>,
    /// The filesystem's size and free space; `None` when it cannot be read.
    pub space: Option<DiskSpace>,
    pub partitions: Vec<ReplicaDescription>,
}

/// One replica kept in a directory: the current log or a `-future` copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaDescription {
    pub tp: TopicPartition,
    pub size_bytes: u64,
    /// For a future replica, how far it is behind the current log; else 0.
    pub offset_lag: i64,
    pub is_future: bool,
}

/// Owner of every log directory.
pub struct LogDirs {
    dirs: Vec<LogManager>,
    /// The cluster every online directory's meta.properties names.
    cluster_id: String,
    failures: Arc<DirFailures>,
    /// Partitions being created, with the directory each was placed in. Creation does
    /// its file work outside every lock, so many partitions are created at once; this
    /// keeps one partition from being created twice and counts in-flight creations in
    /// placement.
    creating: Mutex<HashMap<TopicPartition, usize>>,
    /// Signalled when a creation ends.
    created: Condvar,
    /// Directories asked for (AlterReplicaLogDirs) before the partition was hosted.
    preferred: Mutex<HashMap<TopicPartition, usize>>,
    /// Moves in progress, by partition.
    pub(crate) moves: Mutex<BTreeMap<TopicPartition, Arc<FutureReplica>>>,
}

impl LogDirs {
    /// Opens every directory (see [`LogManager::open`]). A directory whose storage
    /// fails (unreadable, missing mount, corrupt meta.properties or checkpoint) is
    /// kept offline and the others are served, as Kafka does; only when every one
    /// failed does start-up stop. A configuration mistake (another node's or
    /// cluster's directory, one in use by another broker) stops it too. A partition
    /// found in two directories is refused: the operator must remove one copy.
    pub fn open(
        paths: &[PathBuf],
        node_id: i32,
        cluster_id: &str,
        default_config: LogConfig,
        retention_check_interval_ms: u64,
    ) -> Result<Self, LogError> {
        Self::open_with(
            paths,
            node_id,
            cluster_id,
            default_config,
            retention_check_interval_ms,
            StartupRecovery::Wait,
        )
    }

    /// [`LogDirs::open`], recovering after an unclean shutdown as `recovery` says.
    pub fn open_with(
        paths: &[PathBuf],
        node_id: i32,
        cluster_id: &str,
        default_config: LogConfig,
        retention_check_interval_ms: u64,
        recovery: StartupRecovery,
    ) -> Result<Self, LogError> {
        assert!(!paths.is_empty(), "at least one log directory");
        let mut opened: Vec<Result<LogManager, LogError>> = Vec::with_capacity(paths.len());
        let mut cluster_id = cluster_id.to_string();
        let mut online_seen = false;
        for path in paths {
            let dir = match LogManager::open_with(
                path,
                node_id,
                &cluster_id,
                default_config.clone(),
                retention_check_interval_ms,
                recovery,
                None,
            ) {
                Ok(dir) => dir,
                Err(e) if e.is_storage_fault() => {
                    tracing::error!(dir = %path.display(), error = %e, "log directory {} failed at start-up and stays offline: {e}", path.display());
                    opened.push(Err(e));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if dir.cluster_id() != cluster_id {
                if !online_seen {
                    cluster_id = dir.cluster_id();
                } else {
                    return Err(LogError::DirClusterMismatch {
                        dir: path.clone(),
                        found: dir.cluster_id(),
                        expected: cluster_id,
                    });
                }
            }
            online_seen = true;
            opened.push(Ok(dir));
        }
        if !online_seen {
            let reasons = opened
                .iter()
                .filter_map(|r| r.as_ref().err())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(LogError::AllDirsFailed { reasons });
        }
        let mut dirs: Vec<LogManager> = Vec::with_capacity(paths.len());
        for (path, result) in paths.iter().zip(opened) {
            dirs.push(match result {
                Ok(dir) => dir,
                Err(e) => LogManager::failed(path, &cluster_id, &e)?,
            });
        }
        let mut seen: HashMap<TopicPartition, usize> = HashMap::new();
        for (i, dir) in dirs.iter().enumerate() {
            for tp in dir_partitions(dir) {
                if let Some(first) = seen.insert(tp.clone(), i) {
                    return Err(LogError::DuplicatePartition {
                        partition: tp.to_string(),
                        first: paths[first].clone(),
                        second: paths[i].clone(),
                    });
                }
            }
        }
        let failures = Arc::new(DirFailures {
            paths: paths.to_vec(),
            offline: dirs
                .iter()
                .map(|d| AtomicBool::new(d.is_offline()))
                .collect(),
            all_offline: OnceLock::new(),
        });
        for (i, dir) in dirs.iter().enumerate() {
            let failures = Arc::clone(&failures);
            dir.on_offline(Box::new(move |error| failures.dir_failed(i, error)));
        }
        Ok(LogDirs {
            dirs,
            cluster_id,
            failures,
            creating: Mutex::new(HashMap::new()),
            created: Condvar::new(),
            preferred: Mutex::new(HashMap::new()),
            moves: Mutex::new(BTreeMap::new()),
        })
    }

    /// The cluster id every online directory's meta.properties names.
    pub fn cluster_id(&self) -> String {
        self.cluster_id.clone()
    }

    /// The directories that could not be opened at start-up, with the reason. A
    /// partition assigned here but found in no online directory may be in one of
    /// them: it is reported offline rather than created empty.
    pub fn failed_at_start(&self) -> Vec<(PathBuf, String)> {
        self.dirs
            .iter()
            .filter_map(|d| Some((d.data_dir().to_path_buf(), d.failed_at_start()?.to_string())))
            .collect()
    }

    /// The first log directory.
    pub fn data_dir(&self) -> &Path {
        self.dirs[0].data_dir()
    }

    /// Every directory, in `log.dirs` order.
    pub fn dirs(&self) -> &[LogManager] {
        &self.dirs
    }

    /// The index of the directory whose path is `path` (as configured, or the same
    /// directory under another spelling).
    pub fn dir_index(&self, path: &str) -> Option<usize> {
        let wanted = Path::new(path);
        if let Some(i) = self.dirs.iter().position(|d| d.data_dir() == wanted) {
            return Some(i);
        }
        // DescribeLogDirs reports absolute paths; a failed directory may not resolve.
        if let Ok(absolute) = std::path::absolute(wanted) {
            let same =
                |d: &LogManager| std::path::absolute(d.data_dir()).ok() == Some(absolute.clone());
            if let Some(i) = self.dirs.iter().position(same) {
                return Some(i);
            }
        }
        let canonical = std::fs::canonicalize(wanted).ok()?;
        self.dirs
            .iter()
            .position(|d| std::fs::canonicalize(d.data_dir()).ok().as_ref() == Some(&canonical))
    }

    /// The directory holding `tp` (hosted or offline).
    pub fn dir_of(&self, tp: &TopicPartition) -> Option<usize> {
        self.dirs
            .iter()
            .position(|d| d.get(tp).is_some() || d.offline_reason(tp).is_some())
    }

    fn dir_holding(&self, tp: &TopicPartition) -> Option<&LogManager> {
        self.dir_of(tp).map(|i| &self.dirs[i])
    }

    /// True once directory `index` failed.
    pub fn is_dir_offline(&self, index: usize) -> bool {
        self.dirs[index].is_offline()
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.dirs.iter().find_map(|d| d.get(tp))
    }

    /// See [`LogManager::is_recovering`].
    pub fn is_recovering(&self, tp: &TopicPartition) -> bool {
        self.dirs.iter().any(|d| d.is_recovering(tp))
    }

    /// Partitions still being recovered after an unclean shutdown, and those whose
    /// recovery finished, over every directory.
    pub fn recovery_progress(&self) -> (usize, usize) {
        self.dirs.iter().fold((0, 0), |(remaining, finished), d| {
            let (r, f) = d.recovery_progress();
            (remaining + r, finished + f)
        })
    }

    /// See [`LogManager::on_recovered`]; for every directory.
    pub fn on_recovered(&self, handler: crate::RecoveredHandler) {
        for dir in &self.dirs {
            dir.on_recovered(Arc::clone(&handler));
        }
    }

    pub fn all(&self) -> Vec<(TopicPartition, SharedLog)> {
        let mut all: Vec<_> = self.dirs.iter().flat_map(|d| d.all()).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Returns the existing log, or creates it in the directory asked for by
    /// AlterReplicaLogDirs, else in the online directory holding the fewest
    /// partitions (Kafka's rule; the first such in `log.dirs` order on a tie).
    pub fn create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
        topic_id: [u8; 16],
    ) -> Result<SharedLog, LogError> {
        let index = {
            let mut creating = self.creating.lock();
            loop {
                if let Some(log) = self.get(tp) {
                    return Ok(log);
                }
                if self.is_recovering(tp) {
                    // Its data is in a directory, not checked yet: never a second copy.
                    return Err(LogError::Recovering(tp.to_string()));
                }
                if !creating.contains_key(tp) {
                    break;
                }
                self.created.wait(&mut creating);
            }
            let preferred = self.preferred.lock().remove(tp);
            let index = preferred
                .filter(|i| !self.is_dir_offline(*i))
                .or_else(|| self.least_loaded_online_dir(&creating))
                .ok_or(LogError::DirOffline)?;
            creating.insert(tp.clone(), index);
            index
        };
        let created = self.dirs[index].create(tp, config, topic_id);
        self.creating.lock().remove(tp);
        self.created.notify_all();
        created
    }

    /// Partitions held or being created count alike.
    fn least_loaded_online_dir(&self, creating: &HashMap<TopicPartition, usize>) -> Option<usize> {
        let in_flight = |i: usize| creating.values().filter(|d| **d == i).count();
        (0..self.dirs.len())
            .filter(|i| !self.is_dir_offline(*i))
            .min_by_key(|i| (self.dirs[*i].partition_count() + in_flight(*i), *i))
    }

    /// Why the partition is offline, if it is: it could not be opened or hosted, or
    /// its directory failed.
    pub fn offline_reason(&self, tp: &TopicPartition) -> Option<String> {
        for (i, dir) in self.dirs.iter().enumerate() {
            if let Some(reason) = dir.offline_reason(tp) {
                return Some(reason);
            }
            if dir.is_offline() && dir.get(tp).is_some() {
                return Some(format!(
                    "log directory {} is offline",
                    self.failures.paths[i].display()
                ));
            }
        }
        None
    }

    /// Every partition that could not be opened or hosted, with the reason.
    pub fn offline_partitions(&self) -> Vec<(TopicPartition, String)> {
        self.dirs
            .iter()
            .flat_map(|d| d.offline_partitions())
            .collect()
    }

    /// See [`LogManager::mark_partition_offline`]; recorded in the directory the
    /// partition would live in.
    pub fn mark_partition_offline(&self, tp: &TopicPartition, reason: &str) {
        let index = self
            .dir_of(tp)
            .or_else(|| self.least_loaded_online_dir(&self.creating.lock()))
            .unwrap_or(0);
        self.dirs[index].mark_partition_offline(tp, reason);
    }

    /// See [`LogManager::remove_offline`].
    pub fn remove_offline(&self, tp: &TopicPartition) -> Result<bool, LogError> {
        for dir in &self.dirs {
            if dir.remove_offline(tp)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn topic_id(&self, tp: &TopicPartition) -> Option<[u8; 16]> {
        self.dirs.iter().find_map(|d| d.topic_id(tp))
    }

    /// See [`LogManager::remove`]; a move in progress is abandoned.
    pub fn remove(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.cancel_move(tp);
        match self.dir_holding(tp) {
            Some(dir) => dir.remove(tp),
            None => Ok(()),
        }
    }

    /// See [`LogManager::remove_if_same`].
    pub fn remove_if_same(&self, tp: &TopicPartition, log: &SharedLog) -> Result<bool, LogError> {
        let Some(dir) = self.dir_holding(tp) else {
            return Ok(false);
        };
        let removed = dir.remove_if_same(tp, log)?;
        if removed {
            self.cancel_move(tp);
        }
        Ok(removed)
    }

    /// See [`LogManager::request_flush`], in the directory holding the partition.
    pub fn request_flush(&self, tp: &TopicPartition, up_to_offset: i64, done: FlushCallback) {
        match self.dir_holding(tp) {
            Some(dir) => dir.request_flush(tp, up_to_offset, done),
            None => done(Err(LogError::UnknownPartition(tp.to_string()))),
        }
    }

    /// Takes the directory holding `tp` offline after a failed write or fsync.
    pub fn mark_offline(&self, tp: &TopicPartition, error: &LogError) {
        if let Some(dir) = self.dir_holding(tp) {
            dir.mark_offline(error);
        }
    }

    /// True when the directory holding `tp` failed.
    pub fn is_offline(&self, tp: &TopicPartition) -> bool {
        self.dir_holding(tp).is_some_and(LogManager::is_offline)
    }

    /// True once every directory failed.
    pub fn all_offline(&self) -> bool {
        self.dirs.iter().all(LogManager::is_offline)
    }

    /// What to do once every directory is offline (the broker stops, as Kafka does).
    pub fn on_all_offline(&self, handler: OfflineHandler) {
        let _ = self.failures.all_offline.set(handler);
    }

    /// fsync calls made by every directory's flusher.
    pub fn fsync_count(&self) -> u64 {
        self.dirs
            .iter()
            .map(|d| d.group_commit().fsync_count())
            .sum()
    }

    /// `syncfs` calls made by every directory's flusher (each covering many logs).
    pub fn syncfs_count(&self) -> u64 {
        self.dirs
            .iter()
            .map(|d| d.group_commit().syncfs_count())
            .sum()
    }

    /// Group-commit flushes run by every directory's flusher.
    pub fn flush_count(&self) -> u64 {
        self.dirs
            .iter()
            .map(|d| d.group_commit().flush_count())
            .sum()
    }

    /// Writes every directory's checkpoint files.
    pub fn checkpoint(&self) -> Result<(), LogError> {
        for dir in self.dirs.iter().filter(|d| !d.is_offline()) {
            dir.checkpoint()?;
        }
        Ok(())
    }

    pub fn set_producer_id_expiration_ms(&self, expiration_ms: i64) {
        for dir in &self.dirs {
            dir.set_producer_id_expiration_ms(expiration_ms);
        }
    }

    /// The broker epoch the node stopped under at its last clean shutdown, as Kafka
    /// reads it: only if every directory is online and its marker names the same one.
    pub fn previous_broker_epoch(&self) -> Option<i64> {
        let mut epochs = self.dirs.iter().map(|d| {
            if d.failed_at_start().is_some() {
                None
            } else {
                d.previous_broker_epoch()
            }
        });
        let first = epochs.next().flatten()?;
        epochs.all(|e| e == Some(first)).then_some(first)
    }

    /// The broker's current registration epoch, for every directory's clean-shutdown
    /// marker.
    pub fn set_broker_epoch(&self, broker_epoch: Option<i64>) {
        for dir in &self.dirs {
            dir.set_broker_epoch(broker_epoch);
        }
    }

    /// Shuts every directory down (see [`LogManager::shutdown`]); one that fails
    /// does not keep the others from a clean shutdown. Returns the first error.
    pub fn shutdown(&self) -> Result<(), LogError> {
        for (tp, _) in self.moves.lock().iter() {
            tracing::info!(partition = %tp, "stopping an unfinished move between log directories");
        }
        for replica in self.moves.lock().values() {
            replica.cancel();
        }
        let mut first = None;
        // A directory that failed at start-up holds nothing to flush or mark clean.
        for dir in self.dirs.iter().filter(|d| d.failed_at_start().is_none()) {
            if let Err(e) = dir.shutdown() {
                tracing::error!(dir = %dir.data_dir().display(), error = %e, "log directory not shut down cleanly");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// DescribeLogDirs: every directory with its replicas (only those `wanted`
    /// accepts), current logs and future copies.
    pub fn describe(&self, wanted: impl Fn(&TopicPartition) -> bool) -> Vec<LogDirDescription> {
        let moves: Vec<(TopicPartition, Arc<FutureReplica>)> = self
            .moves
            .lock()
            .iter()
            .map(|(tp, m)| (tp.clone(), Arc::clone(m)))
            .collect();
        self.dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let path = dir.data_dir().to_path_buf();
                let offline = match dir.failed_at_start() {
                    Some(why) => Some(format!(
                        "log directory {} failed at start-up: {why}",
                        path.display()
                    )),
                    None => dir
                        .is_offline()
                        .then(|| format!("log directory {} is offline", path.display())),
                };
                let mut partitions: Vec<ReplicaDescription> = Vec::new();
                if offline.is_none() {
                    for (tp, log) in dir.all().into_iter().filter(|(tp, _)| wanted(tp)) {
                        let size_bytes = log.read().size_bytes();
                        partitions.push(ReplicaDescription {
                            tp,
                            size_bytes,
                            offset_lag: 0,
                            is_future: false,
                        });
                    }
                    for (tp, m) in moves.iter().filter(|(tp, m)| m.dest == i && wanted(tp)) {
                        let current_end = self.get(tp).map_or(0, |l| l.read().log_end_offset());
                        partitions.push(ReplicaDescription {
                            tp: tp.clone(),
                            size_bytes: m.size_bytes(),
                            offset_lag: (current_end - m.end_offset()).max(0),
                            is_future: true,
                        });
                    }
                }
                LogDirDescription {
                    space: DiskSpace::of(&path).ok(),
                    path,
                    offline,
                    partitions,
                }
            })
            .collect()
    }

    /// AlterReplicaLogDirs for one partition: starts moving `tp` to the directory
    /// `dest_path` (Kafka's checks and errors, see [`MoveError`]). Returns at once;
    /// the copy runs on its own thread and the swap happens when it has caught up.
    pub fn alter_dir(
        self: &Arc<Self>,
        tp: &TopicPartition,
        dest_path: &str,
    ) -> Result<(), MoveError> {
        let dest = self
            .dir_index(dest_path)
            .ok_or_else(|| MoveError::DirNotFound(dest_path.to_string()))?;
        if self.is_dir_offline(dest) {
            return Err(MoveError::DirOffline(dest_path.to_string()));
        }
        if let Some(reason) = self.offline_reason(tp) {
            return Err(MoveError::PartitionOffline(tp.to_string(), reason));
        }
        let Some(current) = self.dir_of(tp) else {
            // Not hosted yet: it is created there when it comes (as Kafka does),
            // unless too many such requests are pending already.
            let mut preferred = self.preferred.lock();
            if preferred.len() < PREFERRED_DIRS_MAX || preferred.contains_key(tp) {
                preferred.insert(tp.clone(), dest);
            }
            return Err(MoveError::NotHosted(tp.to_string()));
        };
        let mut moves = self.moves.lock();
        if let Some(running) = moves.get(tp) {
            if running.dest == dest {
                return Ok(());
            }
            running.cancel();
            moves.remove(tp);
        }
        if current == dest {
            return Ok(());
        }
        let replica = Arc::new(FutureReplica::new(tp.clone(), current, dest));
        moves.insert(tp.clone(), Arc::clone(&replica));
        drop(moves);
        let dirs = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("moldau-log-move".into())
            .spawn(move || {
                let result = replica.run(&dirs);
                let mut moves = dirs.moves.lock();
                if moves.get(&replica.tp).is_some_and(|m| Arc::ptr_eq(m, &replica)) {
                    moves.remove(&replica.tp);
                }
                drop(moves);
                match result {
                    Ok(true) => tracing::info!(partition = %replica.tp, dir = %dirs.dirs[replica.dest].data_dir().display(), "partition moved to another log directory"),
                    Ok(false) => tracing::info!(partition = %replica.tp, "partition move stopped"),
                    Err(e) => tracing::error!(partition = %replica.tp, error = %e, "partition move between log directories failed; the partition stays where it was"),
                }
            });
        if let Err(e) = spawned {
            self.moves.lock().remove(tp);
            return Err(MoveError::Storage(LogError::io(
                Path::new("<move thread>"),
                e,
            )));
        }
        Ok(())
    }

    /// Stops a move of `tp` in progress, if any (its copy is removed).
    pub fn cancel_move(&self, tp: &TopicPartition) {
        if let Some(m) = self.moves.lock().remove(tp) {
            m.cancel();
        }
    }

    /// True while `tp` is being moved.
    pub fn is_moving(&self, tp: &TopicPartition) -> bool {
        self.moves.lock().contains_key(tp)
    }
}

/// Every partition `dir` holds: open, offline, or still being opened. Its opening
/// threads run meanwhile and move a partition from being opened to open (or
/// offline), so one partition can show in two of the lists, once each: the set
/// counts it once. Being opened is read first: a partition that leaves that list
/// has joined another one before, so none is missed.
pub(crate) fn dir_partitions(dir: &LogManager) -> HashSet<TopicPartition> {
    let mut names: HashSet<TopicPartition> = dir.recovering_partitions().into_iter().collect();
    names.extend(dir.all().into_iter().map(|(tp, _)| tp));
    names.extend(dir.offline_partitions().into_iter().map(|(tp, _)| tp));
    names
}
