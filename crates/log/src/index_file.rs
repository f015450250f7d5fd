//! A memory-mapped file of fixed-size entries, the storage under both indexes.
//!
//! Like Kafka's, an index is preallocated to `segment.index.bytes` while its segment
//! is active (so appends never grow the file) and trimmed to its entries when the
//! segment rolls. Bytes past the valid entries are zero, which the readers use to find
//! the end after an unclean shutdown.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::MmapMut;

use crate::error::LogError;

/// Fixed-size entries in a memory-mapped file. No descriptor is kept: the mapping
/// outlives it, and resizing reopens the file, so an index costs no open file.
pub(crate) struct IndexFile {
    path: PathBuf,
    /// `None` while the file is empty (a zero-length mapping is not portable).
    mmap: Option<MmapMut>,
    entry_bytes: usize,
    entries: usize,
    capacity_entries: usize,
}

impl IndexFile {
    /// Opens or creates `path`. A new file is preallocated to `preallocate_bytes`
    /// (rounded down to whole entries); an existing one keeps its length until
    /// [`IndexFile::resize`]. `entries` starts at 0: the caller counts the valid ones
    /// and calls [`IndexFile::set_entries`].
    pub fn open(path: &Path, entry_bytes: usize, preallocate_bytes: u64) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(LogError::at(path))?;
        let len = file.metadata().map_err(LogError::at(path))?.len();
        let mut index = IndexFile {
            path: path.to_path_buf(),
            mmap: None,
            entry_bytes,
            entries: 0,
            capacity_entries: 0,
        };
        if len == 0 {
            index.resize_file(&file, preallocate_bytes)?;
        } else {
            index.map(&file, len)?;
        }
        Ok(index)
    }

    fn open_existing(&self) -> Result<File, LogError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(LogError::at(&self.path))
    }

    fn map(&mut self, file: &File, len: u64) -> Result<(), LogError> {
        self.mmap = None;
        let usable = len - len % self.entry_bytes as u64;
        self.capacity_entries = (usable / self.entry_bytes as u64) as usize;
        if len > 0 {
            // SAFETY: the index files belong to this process alone (one broker per data
            // directory); other processes only read them while the broker is stopped.
            let mmap = unsafe { MmapMut::map_mut(file) }.map_err(LogError::at(&self.path))?;
            self.mmap = Some(mmap);
        }
        Ok(())
    }

    /// Sets the file length to `bytes` rounded down to whole entries (never below the
    /// valid entries) and remaps it.
    pub fn resize(&mut self, bytes: u64) -> Result<(), LogError> {
        let file = self.open_existing()?;
        self.resize_file(&file, bytes)
    }

    fn resize_file(&mut self, file: &File, bytes: u64) -> Result<(), LogError> {
        let rounded = bytes - bytes % self.entry_bytes as u64;
        let needed = (self.entries * self.entry_bytes) as u64;
        let len = rounded.max(needed);
        self.mmap = None;
        file.set_len(len).map_err(LogError::at(&self.path))?;
        self.map(file, len)
    }

    /// Shrinks the file to exactly its valid entries (on roll and on close).
    pub fn trim(&mut self) -> Result<(), LogError> {
        self.resize((self.entries * self.entry_bytes) as u64)
    }

    /// The raw bytes of every entry slot in the file, valid or not.
    pub fn raw(&self) -> &[u8] {
        match &self.mmap {
            Some(m) => &m[..self.capacity_entries * self.entry_bytes],
            None => &[],
        }
    }

    pub fn entry(&self, i: usize) -> &[u8] {
        assert!(i < self.entries, "index entry {i} beyond {}", self.entries);
        &self.raw()[i * self.entry_bytes..(i + 1) * self.entry_bytes]
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    #[cfg(test)]
    pub fn capacity_entries(&self) -> usize {
        self.capacity_entries
    }

    pub fn is_full(&self) -> bool {
        self.entries >= self.capacity_entries
    }

    /// Declares how many leading slots hold valid entries (after the caller checked them).
    pub fn set_entries(&mut self, entries: usize) {
        assert!(entries <= self.capacity_entries);
        self.entries = entries;
    }

    /// Appends one entry; grows the file when a trimmed index is appended to.
    pub fn push(&mut self, entry: &[u8]) -> Result<(), LogError> {
        assert_eq!(entry.len(), self.entry_bytes);
        if self.is_full() {
            let grown = ((self.entries + 1) * self.entry_bytes) as u64;
            self.resize(grown)?;
        }
        let at = self.entries * self.entry_bytes;
        if let Some(m) = self.mmap.as_mut() {
            m[at..at + self.entry_bytes].copy_from_slice(entry);
        }
        self.entries += 1;
        Ok(())
    }

    /// Drops every entry from `keep` on and zeroes their slots, so a crash cannot
    /// resurrect them.
    pub fn truncate_entries(&mut self, keep: usize) {
        if keep >= self.entries {
            return;
        }
        let from = keep * self.entry_bytes;
        let to = self.entries * self.entry_bytes;
        if let Some(m) = self.mmap.as_mut() {
            m[from..to].fill(0);
        }
        self.entries = keep;
    }

    /// A handle for fsync outside the partition lock (opened for the purpose: the
    /// index keeps none; fsync covers pages dirtied through any mapping of the file).
    pub fn file(&self) -> Result<Arc<File>, LogError> {
        Ok(Arc::new(self.open_existing()?))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Points this index at its file's new name after a rename on disk.
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }
}
