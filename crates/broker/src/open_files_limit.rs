//! Every connection and every open segment file is a file descriptor, and the usual
//! soft limit (1024) is far below what a broker serves; the hard limit is what the
//! operator allows, so start-up raises the soft limit to it and gives a share of it to
//! the log's cache of open segment files (the rest is for connections and the short
//! opens of checkpoints, indexes and directories).

use moldau_log::FileCache;

/// Percent of the open files limit that cached segment files may hold.
pub const SEGMENT_FILES_SHARE_PERCENT: u64 = 25;

/// Raises this process's soft RLIMIT_NOFILE to the hard limit and logs both.
/// Returns the limit now in force (None where it cannot be read).
pub fn raise_to_hard_limit() -> Option<u64> {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            let (soft_before, hard) = before.unwrap_or((now, now));
            tracing::info!(
                soft_limit = now,
                hard_limit = hard,
                soft_limit_before = soft_before,
                "open files limit raised to {now} (hard limit {hard}, soft limit was {soft_before})"
            );
            Some(now)
        }
        Err(e) => {
            tracing::warn!("could not raise the open files limit: {e}");
            before.map(|(soft, _)| soft)
        }
    }
}

/// How many segment files stay open for an open files limit of `limit`.
pub fn segment_files_for_limit(limit: u64) -> usize {
    usize::try_from(limit / 100 * SEGMENT_FILES_SHARE_PERCENT).unwrap_or(usize::MAX)
}

/// Raises the limit (as [`raise_to_hard_limit`]) and sizes the log's file cache from it.
pub fn raise_and_size_file_cache() {
    if let Some(limit) = raise_to_hard_limit() {
        let files = segment_files_for_limit(limit);
        FileCache::global().set_capacity(files);
        tracing::info!(
            segment_files = FileCache::global().capacity(),
            "open segment files are capped; the least recently used close beyond that"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_reaches_the_hard_limit() {
        let now = raise_to_hard_limit().unwrap();
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(soft, now);
        // macOS caps the soft limit below an unlimited hard limit.
        assert!(soft == hard || cfg!(target_os = "macos"), "{soft} < {hard}");
    }

    #[test]
    fn segment_files_are_a_quarter_of_the_limit() {
        assert_eq!(segment_files_for_limit(1024), 250);
        assert_eq!(segment_files_for_limit(1_000_000), 250_000);
    }
}
