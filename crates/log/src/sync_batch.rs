//! Group commit's batching decision, pure: how many waiting logs one flusher round
//! takes, and which of them one `syncfs` covers instead of their own fsyncs.
//!
//! A request touching N partitions used to cost N fsyncs (one per partition, each
//! a journal commit on ext4); one `syncfs` writes the same pages and commits the
//! journal once. It also writes back whatever else is dirty on that filesystem, so
//! below a few dozen partitions per-file fsyncs are cheaper.

/// Fewest logs with data to sync, all on the directory's filesystem, before one
/// `syncfs` replaces their fsyncs. On this project's 2-core VM (ext4 on virtio) an
/// fdatasync of a freshly appended file cost 0.15–0.3 ms and a `syncfs` 0.1–8 ms,
/// depending on what else was dirty: the crossover lay between 16 and 64 files.
pub const SYNCFS_LOGS_MIN: usize = 32;

/// Most logs one round takes: bounds the planning done before the sync, during
/// which these logs' new waiters queue for the next round.
pub const SYNC_BATCH_LOGS_MAX: usize = 4096;

/// How many of the `ready` logs (those with waiters, in arrival order) a flusher
/// round takes: all of them (up to the maximum) when a `syncfs` could cover them,
/// otherwise one, so that different partitions' fsyncs run on different threads.
pub fn logs_to_take(ready: usize, syncfs_available: bool) -> usize {
    if syncfs_available && ready >= SYNCFS_LOGS_MIN {
        ready.min(SYNC_BATCH_LOGS_MAX)
    } else {
        ready.min(1)
    }
}

/// What one log of a round needs before its waiters can be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncNeed {
    /// Already durable far enough (or nothing to sync).
    Nothing,
    /// Files to sync; `on_filesystem` when every one of them lies on the filesystem
    /// the `syncfs` would sync and all could be opened.
    Files { on_filesystem: bool },
}

/// How the logs of one round become durable (indexes into the round's logs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncChoice {
    /// Covered by one `syncfs`, which starts after every one was planned.
    pub by_filesystem: Vec<usize>,
    /// Each fsynced file by file.
    pub by_file: Vec<usize>,
}

/// Chooses, for the logs of one round, between one `syncfs` and per-file fsyncs.
pub fn choose(needs: &[SyncNeed], syncfs_available: bool) -> SyncChoice {
    let mut coverable = Vec::new();
    let mut by_file = Vec::new();
    for (i, need) in needs.iter().enumerate() {
        match need {
            SyncNeed::Nothing => {}
            SyncNeed::Files {
                on_filesystem: true,
            } if syncfs_available => coverable.push(i),
            SyncNeed::Files { .. } => by_file.push(i),
        }
    }
    if coverable.len() < SYNCFS_LOGS_MIN {
        by_file.append(&mut coverable);
        by_file.sort_unstable();
    }
    SyncChoice {
        by_filesystem: coverable,
        by_file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON_FS: SyncNeed = SyncNeed::Files {
        on_filesystem: true,
    };
    const ELSEWHERE: SyncNeed = SyncNeed::Files {
        on_filesystem: false,
    };

    #[test]
    fn a_round_takes_one_log_unless_enough_wait_for_a_syncfs() {
        assert_eq!(logs_to_take(0, true), 0);
        assert_eq!(logs_to_take(1, true), 1);
        assert_eq!(logs_to_take(SYNCFS_LOGS_MIN - 1, true), 1);
        assert_eq!(logs_to_take(SYNCFS_LOGS_MIN, true), SYNCFS_LOGS_MIN);
        assert_eq!(logs_to_take(2_000, true), 2_000);
        assert_eq!(logs_to_take(100_000, true), SYNC_BATCH_LOGS_MAX);
        // Without syncfs (old kernel) every round is one log, as before.
        assert_eq!(logs_to_take(2_000, false), 1);
        assert_eq!(logs_to_take(0, false), 0);
    }

    #[test]
    fn enough_logs_on_the_filesystem_share_one_syncfs() {
        let mut needs = vec![ON_FS; SYNCFS_LOGS_MIN + 2];
        needs[3] = SyncNeed::Nothing;
        needs[7] = ELSEWHERE;
        needs.push(ON_FS);
        let choice = choose(&needs, true);
        let expected: Vec<usize> = (0..needs.len()).filter(|i| *i != 3 && *i != 7).collect();
        assert_eq!(choice.by_filesystem, expected);
        // A log with a file elsewhere (or one that could not be opened) keeps its
        // own fsyncs; one with nothing to sync gets neither.
        assert_eq!(choice.by_file, vec![7]);
    }

    #[test]
    fn too_few_logs_on_the_filesystem_are_fsynced_file_by_file() {
        let mut needs = vec![ON_FS; SYNCFS_LOGS_MIN - 1];
        needs.push(ELSEWHERE);
        needs.push(SyncNeed::Nothing);
        let choice = choose(&needs, true);
        assert!(choice.by_filesystem.is_empty());
        assert_eq!(choice.by_file, (0..SYNCFS_LOGS_MIN).collect::<Vec<_>>());
    }

    #[test]
    fn without_syncfs_every_log_is_fsynced_file_by_file() {
        let needs = vec![ON_FS; SYNCFS_LOGS_MIN * 2];
        let choice = choose(&needs, false);
        assert!(choice.by_filesystem.is_empty());
        assert_eq!(choice.by_file.len(), needs.len());
    }
}
