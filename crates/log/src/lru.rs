//! The least-recently-used bookkeeping shared by the process-wide caches of open
//! segment files ([`crate::file_cache`]) and index mappings ([`crate::map_cache`]).

use std::collections::{BTreeMap, HashMap};

/// Values by id, with the order of their last use. Not synchronised: each cache
/// keeps one behind its mutex.
pub(crate) struct Lru<V> {
    tick: u64,
    /// Id -> (value, tick of its last use).
    entries: HashMap<u64, (V, u64)>,
    /// Tick of last use -> id, oldest first.
    by_use: BTreeMap<u64, u64>,
}

impl<V> Default for Lru<V> {
    fn default() -> Self {
        Lru {
            tick: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }
}

impl<V: Clone> Lru<V> {
    /// The value for `id`, marked as just used.
    pub fn touch(&mut self, id: u64) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let (value, used) = self.entries.get_mut(&id)?;
        self.by_use.remove(used);
        *used = tick;
        self.by_use.insert(tick, id);
        Some(value.clone())
    }

    pub fn insert(&mut self, id: u64, value: V) {
        self.tick += 1;
        if let Some((_, old)) = self.entries.insert(id, (value, self.tick)) {
            self.by_use.remove(&old);
        }
        self.by_use.insert(self.tick, id);
    }

    pub fn remove(&mut self, id: u64) -> Option<V> {
        let (value, used) = self.entries.remove(&id)?;
        self.by_use.remove(&used);
        Some(value)
    }

    /// Removes least recently used values until at most `keep` remain; returns them so
    /// the caller releases them outside its lock.
    pub fn evict_to(&mut self, keep: usize) -> Vec<V> {
        let mut evicted = Vec::new();
        while self.entries.len() > keep {
            let Some((_, id)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((value, _)) = self.entries.remove(&id) {
                evicted.push(value);
            }
        }
        assert_eq!(
            self.entries.len(),
            self.by_use.len(),
            "LRU bookkeeping diverged"
        );
        evicted
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }
}
