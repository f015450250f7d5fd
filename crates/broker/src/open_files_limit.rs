//! Every connection is a file descriptor, and the usual soft limit (1024) is far below
//! what a broker serves; the hard limit is what the operator allows, so start-up raises
//! the soft limit to it.

/// Raises this process's soft RLIMIT_NOFILE to the hard limit and logs the result.
/// Returns the limit now in force (None where it cannot be read).
pub fn raise_to_hard_limit() -> Option<u64> {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            let soft_before = before.map_or(now, |(soft, _)| soft);
            tracing::info!(
                "open files limit {now} (soft limit was {soft_before}); each connection uses one"
            );
            Some(now)
        }
        Err(e) => {
            tracing::warn!("could not raise the open files limit: {e}");
            before.map(|(soft, _)| soft)
        }
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
}
