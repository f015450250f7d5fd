//! A memory-mapped file of fixed-size entries, the storage under both indexes.
//!
//! Like Kafka's, an index is preallocated to `segment.index.bytes` while its segment
//! is active (so appends never grow the file) and trimmed to its entries when the
//! segment rolls. Bytes past the valid entries are zero, which the readers use to find
//! the end after an unclean shutdown.
//!
//! The file is mapped only while in use, through the process's [`MapCache`]: the
//! count of entries and the file length live here, so an unmapped index still knows
//! its size and a later access maps it again.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{MmapMut, MmapOptions};

use crate::error::LogError;
use crate::map_cache::{MapCache, SharedMap};

/// Fixed-size entries in a memory-mapped file. No descriptor is kept (a mapping
/// outlives it, and resizing reopens the file), and the mapping itself is in the
/// bounded [`MapCache`], so an index costs no open file and at most one map.
pub(crate) struct IndexFile {
    /// This index's key in the [`MapCache`].
    id: u64,
    path: PathBuf,
    /// Length of the file; nothing is mapped while it is 0 (a zero-length mapping is
    /// not portable).
    len_bytes: u64,
    entry_bytes: usize,
    entries: usize,
    capacity_entries: usize,
    /// Size the file may grow to in one step when full (preallocation of the active
    /// segment's index; 0 for an inactive one, which grows entry by entry).
    growth_bytes: u64,
}

impl IndexFile {
    /// Opens or creates `path` without mapping it (an existing file is not even
    /// opened: its length is all this needs). A new file may grow to
    /// `preallocate_bytes` (rounded down to whole entries) when appended to; an
    /// existing one keeps its length, however short, until [`IndexFile::resize`] or
    /// [`IndexFile::set_growth`]. `entries` starts at 0: the caller counts the valid
    /// ones and calls [`IndexFile::set_entries`].
    pub fn open(path: &Path, entry_bytes: usize, preallocate_bytes: u64) -> Result<Self, LogError> {
        let mut index = IndexFile {
            id: MapCache::next_id(),
            path: path.to_path_buf(),
            len_bytes: 0,
            entry_bytes,
            entries: 0,
            capacity_entries: 0,
            growth_bytes: 0,
        };
        match std::fs::metadata(path) {
            Ok(meta) => index.set_len_bytes(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(LogError::at(path))?;
                index.growth_bytes = preallocate_bytes;
            }
            Err(e) => return Err(LogError::io(path, e)),
        }
        Ok(index)
    }

    /// While the segment is active its index may grow to `bytes` at once (Kafka's
    /// preallocation), done when the first entry needs the room rather than now, so
    /// opening an idle partition writes nothing. 0 stops the growth (inactive).
    pub fn set_growth(&mut self, bytes: u64) {
        self.growth_bytes = bytes;
    }

    fn open_existing(&self) -> Result<File, LogError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(LogError::at(&self.path))
    }

    fn set_len_bytes(&mut self, len: u64) {
        let usable = len - len % self.entry_bytes as u64;
        self.capacity_entries = (usable / self.entry_bytes as u64) as usize;
        self.len_bytes = len;
    }

    /// The mapping, made now if the cache has none. `None` for an empty file.
    fn mapping(&self) -> Result<Option<SharedMap>, LogError> {
        if self.len_bytes == 0 {
            return Ok(None);
        }
        let len = usize::try_from(self.len_bytes)
            .map_err(|_| LogError::io(&self.path, std::io::ErrorKind::InvalidData.into()))?;
        let map = || -> std::io::Result<MmapMut> {
            let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
            // SAFETY: the index files belong to this process alone (one broker per
            // data directory); other processes only read them while the broker is
            // stopped. The length is the file's, which only this index changes, and
            // it unmaps (forgets) before it shrinks the file.
            let map = unsafe { MmapOptions::new().len(len).map_mut(&file)? };
            // An index is touched an entry at a time; the kernel's default readahead on
            // a fault instead fills a large run of pages (zeroes of the preallocated
            // tail), which with thousands of active indexes was most of the cost of
            // produce spread over many partitions. Advice only: ignored if refused.
            let _ = map.advise(memmap2::Advice::Random);
            Ok(map)
        };
        MapCache::global()
            .get_or_map(self.id, map)
            .map(Some)
            .map_err(LogError::at(&self.path))
    }

    /// Runs `f` over the raw bytes of every entry slot in the file, valid or not.
    pub fn with_raw<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, LogError> {
        let bytes = self.capacity_entries * self.entry_bytes;
        match self.mapping()? {
            Some(map) => Ok(f(&map.lock()[..bytes])),
            None => Ok(f(&[])),
        }
    }

    /// Runs `f` over the raw bytes of every entry slot, writable.
    fn with_raw_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, LogError> {
        let bytes = self.capacity_entries * self.entry_bytes;
        match self.mapping()? {
            Some(map) => Ok(f(&mut map.lock()[..bytes])),
            None => Ok(f(&mut [])),
        }
    }

    /// Runs `f` over the valid entries only.
    pub fn with_entries<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, LogError> {
        let valid = self.entries * self.entry_bytes;
        self.with_raw(|raw| f(&raw[..valid]))
    }

    /// Sets the file length to `bytes` rounded down to whole entries (never below the
    /// valid entries); the next access maps the new length.
    pub fn resize(&mut self, bytes: u64) -> Result<(), LogError> {
        let file = self.open_existing()?;
        self.resize_file(&file, bytes)
    }

    fn resize_file(&mut self, file: &File, bytes: u64) -> Result<(), LogError> {
        let rounded = bytes - bytes % self.entry_bytes as u64;
        let needed = (self.entries * self.entry_bytes) as u64;
        let len = rounded.max(needed);
        // Unmap before the file shrinks: touching a mapping past the end of its file
        // is a SIGBUS.
        MapCache::global().forget(self.id);
        file.set_len(len).map_err(LogError::at(&self.path))?;
        self.set_len_bytes(len);
        Ok(())
    }

    /// Shrinks the file to exactly its valid entries (on roll and on close); stops
    /// the growth of an active index.
    pub fn trim(&mut self) -> Result<(), LogError> {
        self.growth_bytes = 0;
        let exact = (self.entries * self.entry_bytes) as u64;
        if self.len_bytes == exact {
            return Ok(());
        }
        self.resize(exact)
    }

    /// Entries the file holds now or may grow to while active.
    fn max_entries(&self) -> usize {
        let growth = usize::try_from(self.growth_bytes).unwrap_or(usize::MAX) / self.entry_bytes;
        self.capacity_entries.max(growth)
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    #[cfg(test)]
    pub fn capacity_entries(&self) -> usize {
        self.capacity_entries
    }

    /// No room left, even after the growth an active index may still do.
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries()
    }

    /// Declares how many leading slots hold valid entries (after the caller checked them).
    pub fn set_entries(&mut self, entries: usize) {
        assert!(entries <= self.capacity_entries);
        self.entries = entries;
    }

    /// Appends one entry; grows the file when a trimmed index is appended to.
    pub fn push(&mut self, entry: &[u8]) -> Result<(), LogError> {
        assert_eq!(entry.len(), self.entry_bytes);
        if self.entries >= self.capacity_entries {
            let one_more = ((self.entries + 1) * self.entry_bytes) as u64;
            self.resize(one_more.max(self.growth_bytes))?;
        }
        let at = self.entries * self.entry_bytes;
        self.with_raw_mut(|raw| raw[at..at + entry.len()].copy_from_slice(entry))?;
        self.entries += 1;
        Ok(())
    }

    /// Drops every entry from `keep` on and zeroes their slots, so a crash cannot
    /// resurrect them.
    pub fn truncate_entries(&mut self, keep: usize) -> Result<(), LogError> {
        if keep >= self.entries {
            return Ok(());
        }
        let from = keep * self.entry_bytes;
        let to = self.entries * self.entry_bytes;
        self.with_raw_mut(|raw| raw[from..to].fill(0))?;
        self.entries = keep;
        Ok(())
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

    /// Unmaps now (before the file is deleted).
    pub fn close(&self) {
        MapCache::global().forget(self.id);
    }

    #[cfg(test)]
    pub fn is_mapped(&self) -> bool {
        MapCache::global().contains(self.id)
    }
}

impl Drop for IndexFile {
    fn drop(&mut self) {
        self.close();
    }
}
