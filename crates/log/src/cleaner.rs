//! Background retention and compaction of one log.

use crate::error::LogError;
use crate::manager::SharedLog;

/// Runs retention for `log` under its write lock (segment deletion is quick).
pub(crate) fn run_retention_and_compaction(log: &SharedLog, now_ms: i64) -> Result<u64, LogError> {
    log.write().enforce_retention(now_ms)
}
