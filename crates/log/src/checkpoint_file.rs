//! Kafka's checkpoint text format, shared by every checkpoint file:
//!
//! ```text
//! <version>\n<entry count>\n<entry>\n...
//! ```
//!
//! Written atomically: a `.tmp` file is written and fsynced, renamed over the
//! target, and the directory fsynced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::LogError;

/// Checkpoint files larger than this are rejected as corrupt (they hold one short
/// line per partition).
pub const CHECKPOINT_FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Writes `lines` under a version/count header, atomically.
pub fn write_checkpoint(path: &Path, version: i32, lines: &[String]) -> Result<(), LogError> {
    let mut text = String::with_capacity(16 + lines.iter().map(|l| l.len() + 1).sum::<usize>());
    text.push_str(&format!("{version}\n{}\n", lines.len()));
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(LogError::at(&tmp))?;
        f.write_all(bytes).map_err(LogError::at(&tmp))?;
        f.sync_all().map_err(LogError::at(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(LogError::at(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsyncs a directory so that creates, renames and deletes in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::at(dir))
}

/// Reads a checkpoint: returns (version, entry lines). `Ok(None)` if the file does not
/// exist. Checks the count line against the lines present.
pub fn read_checkpoint(path: &Path) -> Result<Option<(i32, Vec<String>)>, LogError> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, e)),
    };
    if len > CHECKPOINT_FILE_BYTES_MAX {
        return Err(LogError::corrupt(
            path,
            format!("{len} bytes exceeds {CHECKPOINT_FILE_BYTES_MAX}"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(LogError::at(path))?;
    parse_checkpoint(&text)
        .map(Some)
        .map_err(|reason| LogError::corrupt(path, reason))
}

/// Parses checkpoint text (see the module docs).
pub fn parse_checkpoint(text: &str) -> Result<(i32, Vec<String>), String> {
    let mut lines = text.lines();
    let version: i32 = lines
        .next()
        .ok_or("missing version line")?
        .trim()
        .parse()
        .map_err(|_| "bad version line")?;
    let count: usize = lines
        .next()
        .ok_or("missing count line")?
        .trim()
        .parse()
        .map_err(|_| "bad count line")?;
    let entries: Vec<String> = lines
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if entries.len() != count {
        return Err(format!(
            "count line says {count} entries, found {}",
            entries.len()
        ));
    }
    Ok((version, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        write_checkpoint(&path, 0, &["a 1 5".into(), "b 0 7".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0\n2\na 1 5\nb 0 7\n"
        );
        let (v, lines) = read_checkpoint(&path).unwrap().unwrap();
        assert_eq!((v, lines.len()), (0, 2));
        assert!(parse_checkpoint("0\n3\nx 0 1\n").is_err());
        assert!(read_checkpoint(&dir.path().join("missing"))
            .unwrap()
            .is_none());
    }
}
