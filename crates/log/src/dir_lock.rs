//! The `.lock` file Kafka holds in every log directory while a broker uses it, so a
//! second broker started on the same directory stops instead of corrupting it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::LogError;

/// Name of the lock file inside a data directory (Kafka's name).
pub const LOCK_FILE: &str = ".lock";

/// An exclusive advisory lock (flock) on `<dir>/.lock`, released when dropped or when
/// the process dies, so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock without waiting; `LogError::DirLocked` if another holder has it.
    pub fn acquire(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(LogError::at(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(LogError::DirLocked {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(LogError::io(&path, e)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(first.path().ends_with(LOCK_FILE));
        match DirLock::acquire(dir.path()) {
            Err(LogError::DirLocked { dir: d }) => assert_eq!(d, dir.path()),
            other => panic!("expected DirLocked, got {other:?}"),
        }
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
