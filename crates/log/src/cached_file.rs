//! A segment's data file as a name plus a place in the [`FileCache`]: the descriptor is
//! opened on use and may be closed whenever the file is not in use.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::LogError;
use crate::file_cache::FileCache;

/// A file opened through the process's [`FileCache`].
pub(crate) struct CachedFile {
    id: u64,
    path: PathBuf,
}

impl CachedFile {
    /// An existing file, opened at its first use.
    pub fn existing(path: &Path) -> Self {
        CachedFile {
            id: FileCache::next_id(),
            path: path.to_path_buf(),
        }
    }

    /// Creates (or empties) the file at `path` and caches the open descriptor.
    pub fn create(path: &Path) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(LogError::at(path))?;
        let cached = CachedFile::existing(path);
        FileCache::global().insert(cached.id, file);
        Ok(cached)
    }

    /// The open file (opened now if the cache closed it).
    pub fn get(&self) -> Result<Arc<File>, LogError> {
        FileCache::global()
            .get(self.id, &self.path)
            .map_err(LogError::at(&self.path))
    }

    /// The file was renamed: later opens use the new name (an open descriptor still
    /// refers to the same file).
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// Closes the descriptor now if it is cached (before deleting the file).
    pub fn close(&self) {
        FileCache::global().forget(self.id);
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        FileCache::global().contains(self.id)
    }
}

impl Drop for CachedFile {
    fn drop(&mut self) {
        self.close();
    }
}
