//! How a replica fetcher reports a leader it cannot fetch from: one WARN when the
//! failures start, DEBUG for every retry after it, and one INFO with the count once
//! a fetch works again. A leader down for minutes (until the controller moves its
//! partitions) would otherwise log a WARN per backoff from every fetcher thread.

/// A fetcher's run of failed fetches from its one leader.
#[derive(Debug, Default)]
pub struct FetchFailureLog {
    /// Failed fetches since the last one that worked.
    failures: u64,
}

impl FetchFailureLog {
    /// A fetch failed: true when it is the first of a run (log it as a WARN).
    pub fn failed(&mut self) -> bool {
        self.failures += 1;
        self.failures == 1
    }

    /// A fetch worked: how many failed before it, when some did (log it once).
    pub fn succeeded(&mut self) -> Option<u64> {
        let failures = std::mem::take(&mut self.failures);
        (failures > 0).then_some(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_run_of_failures() {
        let mut log = FetchFailureLog::default();
        assert_eq!(log.succeeded(), None, "nothing failed yet");
        assert!(log.failed(), "the first failure warns");
        for _ in 0..10 {
            assert!(!log.failed(), "retries against the same dead leader do not");
        }
        assert_eq!(log.succeeded(), Some(11));
        assert_eq!(log.succeeded(), None);
        assert!(log.failed(), "a new outage warns again");
    }
}
