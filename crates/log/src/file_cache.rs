//! One bounded cache of open segment data files, shared by every log of the process.
//!
//! Descriptors are a process-wide resource (RLIMIT_NOFILE), so a partition count in the
//! thousands must not mean thousands of open files: a segment's `.log` is opened when it
//! is read or written and closed again when it is the least recently used one and the
//! cache is full. A reader holds an `Arc<File>`, so eviction during a read only closes
//! the descriptor once that read is done.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::lru::Lru;

/// Open data files kept when nobody set a limit (before start-up sized the cache).
pub const FILE_CACHE_DEFAULT_FILES: usize = 256;
/// The cache never shrinks below this many files (a cache of one would reopen files
/// on every append of two interleaved partitions).
pub const FILE_CACHE_MIN_FILES: usize = 16;

/// Whether an I/O error means the process (or the system) ran out of descriptors:
/// a shortage of a shared resource, not a fault of the disk.
pub fn is_descriptor_shortage(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// A bounded LRU cache of open files, keyed by an id each [`crate::cached_file::CachedFile`] owns.
pub struct FileCache {
    capacity_files: AtomicUsize,
    lru: Mutex<Lru<Arc<File>>>,
    opens: AtomicU64,
}

static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

impl FileCache {
    pub fn new(capacity_files: usize) -> Self {
        FileCache {
            capacity_files: AtomicUsize::new(capacity_files.max(FILE_CACHE_MIN_FILES)),
            lru: Mutex::new(Lru::default()),
            opens: AtomicU64::new(0),
        }
    }

    /// The process's cache, which every segment uses.
    pub fn global() -> &'static FileCache {
        static GLOBAL: OnceLock<FileCache> = OnceLock::new();
        GLOBAL.get_or_init(|| FileCache::new(FILE_CACHE_DEFAULT_FILES))
    }

    /// A fresh id for a file that will be cached.
    pub fn next_id() -> u64 {
        NEXT_FILE_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// Sets how many files stay open (at least [`FILE_CACHE_MIN_FILES`]); closes the
    /// least recently used ones beyond it.
    pub fn set_capacity(&self, capacity_files: usize) {
        let capacity = capacity_files.max(FILE_CACHE_MIN_FILES);
        self.capacity_files.store(capacity, Ordering::Relaxed);
        let closed = self.lock().evict_to(capacity);
        drop(closed);
    }

    pub fn capacity(&self) -> usize {
        self.capacity_files.load(Ordering::Relaxed)
    }

    /// Files open in the cache now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times a file was opened (cache misses).
    pub fn opens(&self) -> u64 {
        self.opens.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<Arc<File>>> {
        // A panic while holding the lock leaves consistent maps (every step keeps both
        // in step before the next), so a poisoned lock is still usable.
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open file for `id`, opening the existing file at `path` (read and write)
    /// if it is not cached. When the process is out of descriptors, half the cache is
    /// closed and the open tried once more.
    pub fn get(&self, id: u64, path: &Path) -> std::io::Result<Arc<File>> {
        if let Some(file) = self.lock().touch(id) {
            return Ok(file);
        }
        let open = || OpenOptions::new().read(true).write(true).open(path);
        let file = match open() {
            Ok(f) => f,
            Err(e) if is_descriptor_shortage(&e) => {
                let keep = self.len() / 2;
                let closed = self.lock().evict_to(keep);
                drop(closed);
                open()?
            }
            Err(e) => return Err(e),
        };
        self.opens.fetch_add(1, Ordering::Relaxed);
        Ok(self.insert(id, file))
    }

    /// Caches `file` (just created) under `id`; returns the cached handle, which is
    /// another thread's if it opened the same id meanwhile.
    pub fn insert(&self, id: u64, file: File) -> Arc<File> {
        let capacity = self.capacity();
        let mut lru = self.lock();
        if let Some(existing) = lru.touch(id) {
            return existing;
        }
        let file = Arc::new(file);
        lru.insert(id, Arc::clone(&file));
        let closed = lru.evict_to(capacity);
        drop(lru);
        drop(closed);
        file
    }

    /// Closes `id`'s file if cached (its segment was deleted or dropped).
    pub fn forget(&self, id: u64) {
        let closed = self.lock().remove(id);
        drop(closed);
    }

    /// Whether `id` is open in the cache.
    pub fn contains(&self, id: u64) -> bool {
        self.lock().contains(id)
    }
}
