//! `.kafka_cleanshutdown`: written last at a clean shutdown, it tells the next start
//! to trust the files and, as Kafka's (KIP-966), which broker epoch the node stopped
//! under, so its next registration can replace that one at once
//! (`PreviousBrokerEpoch`). Content: `{"version":0,"brokerEpoch":N}`, -1 when the
//! node was not registered; an empty file (older Moldau) marks a clean shutdown with
//! no epoch. Spec: `docs/format/offset-checkpoints.md`.

use std::path::Path;

use crate::error::LogError;

/// The marker's name in each data directory.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// The only version written and read.
pub const CLEAN_SHUTDOWN_FILE_VERSION: i64 = 0;
/// Larger content is not a marker Moldau or Kafka wrote: read as no epoch.
pub const CLEAN_SHUTDOWN_FILE_BYTES_MAX: u64 = 1024;

/// The marker's content for `broker_epoch`.
pub fn clean_shutdown_content(broker_epoch: Option<i64>) -> String {
    format!(
        "{{\"version\":{CLEAN_SHUTDOWN_FILE_VERSION},\"brokerEpoch\":{}}}",
        broker_epoch.unwrap_or(-1)
    )
}

/// Writes the marker into `dir` (not synced: the caller syncs the directory).
pub fn write_clean_shutdown(dir: &Path, broker_epoch: Option<i64>) -> Result<(), LogError> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    std::fs::write(&path, clean_shutdown_content(broker_epoch)).map_err(LogError::at(&path))?;
    let file = std::fs::File::open(&path).map_err(LogError::at(&path))?;
    file.sync_all().map_err(LogError::at(&path))
}

/// The broker epoch a marker's content names: none for an empty, foreign, oversized
/// or unknown-version file, or for -1.
pub fn parse_broker_epoch(content: &[u8]) -> Option<i64> {
    if content.len() as u64 > CLEAN_SHUTDOWN_FILE_BYTES_MAX {
        return None;
    }
    let text = std::str::from_utf8(content).ok()?;
    let version = json_integer(text, "version")?;
    if version != CLEAN_SHUTDOWN_FILE_VERSION {
        return None;
    }
    json_integer(text, "brokerEpoch").filter(|epoch| *epoch >= 0)
}

/// The broker epoch of `dir`'s marker; none when absent, unreadable or without one.
pub fn read_clean_shutdown_epoch(dir: &Path) -> Option<i64> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let len = std::fs::metadata(&path).ok()?.len();
    if len > CLEAN_SHUTDOWN_FILE_BYTES_MAX {
        tracing::warn!(path = %path.display(), len, "clean-shutdown marker too large; no previous broker epoch");
        return None;
    }
    let content = std::fs::read(&path).ok()?;
    parse_broker_epoch(&content)
}

/// The integer value of `"key":` in a flat JSON object (the marker has no nesting
/// and no strings).
fn json_integer(text: &str, key: &str) -> Option<i64> {
    let quoted = format!("\"{key}\"");
    let after_key = &text[text.find(&quoted)? + quoted.len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let end = after_colon
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map_or(after_colon.len(), |(i, _)| i);
    after_colon[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_round_trips_and_kafkas_spacing_parses() {
        assert_eq!(
            parse_broker_epoch(clean_shutdown_content(Some(42)).as_bytes()),
            Some(42)
        );
        assert_eq!(
            parse_broker_epoch(clean_shutdown_content(None).as_bytes()),
            None
        );
        assert_eq!(
            parse_broker_epoch(b"{ \"version\" : 0, \"brokerEpoch\" : 7 }"),
            Some(7)
        );
    }

    #[test]
    fn empty_foreign_or_oversized_markers_name_no_epoch() {
        assert_eq!(parse_broker_epoch(b""), None);
        assert_eq!(
            parse_broker_epoch(b"{\"version\":1,\"brokerEpoch\":7}"),
            None
        );
        assert_eq!(parse_broker_epoch(b"{\"brokerEpoch\":7}"), None);
        assert_eq!(
            parse_broker_epoch(b"{\"version\":0,\"brokerEpoch\":x}"),
            None
        );
        assert_eq!(
            parse_broker_epoch(b"{\"version\":0,\"brokerEpoch\":99999999999999999999}"),
            None
        );
        let mut big = clean_shutdown_content(Some(3)).into_bytes();
        big.resize(CLEAN_SHUTDOWN_FILE_BYTES_MAX as usize + 1, b' ');
        assert_eq!(parse_broker_epoch(&big), None);
    }

    #[test]
    fn a_written_marker_is_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_clean_shutdown_epoch(dir.path()), None);
        write_clean_shutdown(dir.path(), Some(118)).expect("write");
        assert_eq!(read_clean_shutdown_epoch(dir.path()), Some(118));
    }
}
