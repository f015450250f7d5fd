//! `bootstrap.features` in the metadata directory: the feature levels `moldau storage
//! format` chose for a new cluster (Kafka keeps them in `bootstrap.checkpoint`). The
//! first active controller of an empty metadata log commits them; once the cluster
//! has metadata the file is not read for anything. Text, one `name=level` a line,
//! `#` comments; replaced atomically. Spec: `docs/format/bootstrap-features.md`.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::features::supported_feature;
use crate::raft::error::RaftStoreError;
use crate::raft::quorum_state::write_atomically;

pub const BOOTSTRAP_FILE: &str = "bootstrap.features";
/// Largest bootstrap file read back.
pub const BOOTSTRAP_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Most features it may list.
pub const BOOTSTRAP_FEATURES_MAX: usize = 64;

pub fn bootstrap_path(dir: &Path) -> PathBuf {
    dir.join(BOOTSTRAP_FILE)
}

/// Writes `levels` (name, level) as the new cluster's bootstrap levels.
pub fn write_bootstrap_levels(dir: &Path, levels: &[(String, i16)]) -> Result<(), RaftStoreError> {
    let mut text =
        String::from("# feature levels a new cluster starts at (moldau storage format)\n");
    for (name, level) in levels {
        text.push_str(&format!("{name}={level}\n"));
    }
    write_atomically(&bootstrap_path(dir), text.as_bytes())
}

/// The bootstrap levels written by `moldau storage format`, `None` without the file.
/// A malformed file, an unknown feature or an unsupported level is refused.
pub fn read_bootstrap_levels(dir: &Path) -> Result<Option<Vec<(String, i16)>>, RaftStoreError> {
    let path = bootstrap_path(dir);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RaftStoreError::io(&path)(e)),
    };
    let mut text = String::new();
    file.take(BOOTSTRAP_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(RaftStoreError::io(&path))?;
    if text.len() as u64 > BOOTSTRAP_FILE_BYTES_MAX {
        return Err(malformed(format!(
            "larger than {BOOTSTRAP_FILE_BYTES_MAX} bytes"
        )));
    }
    parse_levels(&text).map(Some)
}

fn malformed(detail: String) -> RaftStoreError {
    RaftStoreError::Malformed {
        what: "bootstrap.features",
        detail,
    }
}

fn parse_levels(text: &str) -> Result<Vec<(String, i16)>, RaftStoreError> {
    let mut levels: Vec<(String, i16)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, level) = line
            .split_once('=')
            .ok_or_else(|| malformed(format!("line {line:?} is not name=level")))?;
        let (name, level) = (name.trim(), level.trim());
        let level: i16 = level
            .parse()
            .map_err(|_| malformed(format!("level {level:?} of {name} is not a number")))?;
        let supported =
            supported_feature(name).ok_or_else(|| malformed(format!("unknown feature {name}")))?;
        if level < supported.min_level || level > supported.max_level {
            return Err(malformed(format!(
                "{name}={level}: this build supports levels {} to {}",
                supported.min_level, supported.max_level
            )));
        }
        if levels.iter().any(|(n, _)| n == name) {
            return Err(malformed(format!("{name} appears twice")));
        }
        if levels.len() == BOOTSTRAP_FEATURES_MAX {
            return Err(malformed(format!(
                "more than {BOOTSTRAP_FEATURES_MAX} features"
            )));
        }
        levels.push((name.to_string(), level));
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_bootstrap_levels(dir.path()).unwrap().is_none());
        let levels = vec![
            ("metadata.version".to_string(), 7),
            ("transaction.version".to_string(), 1),
        ];
        write_bootstrap_levels(dir.path(), &levels).unwrap();
        assert_eq!(read_bootstrap_levels(dir.path()).unwrap(), Some(levels));
        for bad in [
            "transaction.version",
            "transaction.version=x",
            "transaction.version=9",
            "no.such.feature=1",
            "transaction.version=1\ntransaction.version=2",
        ] {
            std::fs::write(bootstrap_path(dir.path()), bad).unwrap();
            assert!(read_bootstrap_levels(dir.path()).is_err(), "{bad}");
        }
    }
}
