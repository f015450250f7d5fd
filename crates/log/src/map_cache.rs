//! One bounded cache of index mappings, shared by every log of the process.
//!
//! Linux allows a process about 65 530 memory maps (`vm.max_map_count`), and every
//! segment has two indexes: mapping them all would cap a node near 30 000 partitions.
//! An index is mapped when a lookup or an append needs it, and unmapped again when it
//! is the least recently used one and the cache is full, so maps grow with the working
//! set. A user holds an `Arc` to the mapping while it reads or writes, so eviction
//! meanwhile only unmaps once that access is done.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use memmap2::MmapMut;

use crate::lru::Lru;

/// Index mappings kept at once. Two per segment in the working set, so produce spread
/// over 10 000 partitions (20 000 maps) stays mapped instead of re-mapping an index on
/// every append; half the default `vm.max_map_count` (65 530), the rest left for the
/// allocator and threads.
pub const MAP_CACHE_DEFAULT_MAPS: usize = 32_768;
/// The cache never shrinks below this many maps (a segment's two indexes and some).
pub const MAP_CACHE_MIN_MAPS: usize = 8;

/// A mapping that its index locks while it reads or writes entries.
pub type SharedMap = Arc<parking_lot::Mutex<MmapMut>>;

/// A bounded LRU cache of index mappings, keyed by an id each index owns.
pub struct MapCache {
    capacity_maps: AtomicUsize,
    lru: Mutex<Lru<SharedMap>>,
    maps_made: AtomicU64,
}

static NEXT_MAP_ID: AtomicU64 = AtomicU64::new(1);

/// Whether a mapping failed because the process has too many maps (or too little
/// address space): a shortage the cache can relieve, not a fault of the disk.
fn is_map_shortage(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOMEM))
}

impl MapCache {
    pub fn new(capacity_maps: usize) -> Self {
        MapCache {
            capacity_maps: AtomicUsize::new(capacity_maps.max(MAP_CACHE_MIN_MAPS)),
            lru: Mutex::new(Lru::default()),
            maps_made: AtomicU64::new(0),
        }
    }

    /// The process's cache, which every index uses.
    pub fn global() -> &'static MapCache {
        static GLOBAL: OnceLock<MapCache> = OnceLock::new();
        GLOBAL.get_or_init(|| MapCache::new(MAP_CACHE_DEFAULT_MAPS))
    }

    /// A fresh id for an index that will be mapped through the cache.
    pub fn next_id() -> u64 {
        NEXT_MAP_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// Sets how many maps stay (at least [`MAP_CACHE_MIN_MAPS`]); unmaps the least
    /// recently used ones beyond it.
    pub fn set_capacity(&self, capacity_maps: usize) {
        let capacity = capacity_maps.max(MAP_CACHE_MIN_MAPS);
        self.capacity_maps.store(capacity, Ordering::Relaxed);
        let evicted = self.lock().evict_to(capacity);
        drop(evicted);
    }

    pub fn capacity(&self) -> usize {
        self.capacity_maps.load(Ordering::Relaxed)
    }

    /// Mappings held by the cache now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many mappings were made (cache misses).
    pub fn maps_made(&self) -> u64 {
        self.maps_made.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<SharedMap>> {
        // Every step keeps the LRU consistent before the next, so a poisoned lock is
        // still usable.
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mapping for `id`, made by `map` if it is not cached. When the process is
    /// out of maps, half the cache is unmapped and `map` tried once more.
    pub fn get_or_map(
        &self,
        id: u64,
        map: impl Fn() -> std::io::Result<MmapMut>,
    ) -> std::io::Result<SharedMap> {
        if let Some(mapped) = self.lock().touch(id) {
            return Ok(mapped);
        }
        let mmap = match map() {
            Ok(m) => m,
            Err(e) if is_map_shortage(&e) => {
                let keep = self.len() / 2;
                let evicted = self.lock().evict_to(keep);
                drop(evicted);
                map()?
            }
            Err(e) => return Err(e),
        };
        self.maps_made.fetch_add(1, Ordering::Relaxed);
        let capacity = self.capacity();
        let mut lru = self.lock();
        if let Some(existing) = lru.touch(id) {
            return Ok(existing);
        }
        let mapped = Arc::new(parking_lot::Mutex::new(mmap));
        lru.insert(id, Arc::clone(&mapped));
        let evicted = lru.evict_to(capacity);
        drop(lru);
        drop(evicted);
        Ok(mapped)
    }

    /// Unmaps `id` if cached (its file is resized, deleted or dropped).
    pub fn forget(&self, id: u64) {
        let evicted = self.lock().remove(id);
        drop(evicted);
    }

    /// Whether `id` is mapped in the cache.
    pub fn contains(&self, id: u64) -> bool {
        self.lock().contains(id)
    }
}
