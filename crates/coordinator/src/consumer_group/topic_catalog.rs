//! The topics consumer groups can subscribe to, as the broker's metadata image has
//! them; the broker hands a new catalog to the coordinator whenever topics change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use uuid::Uuid;

/// One topic: its id, partition count, and a fingerprint of where its replicas are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogTopic {
    pub id: Uuid,
    pub partitions: i32,
    /// Hash of the racks holding each partition's replicas: when it changes, a
    /// rack-aware assignment is computed again, as when partitions are added.
    pub racks_hash: u64,
}

/// Topic name -> id and partition count (internal topics left out by the broker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicCatalog {
    by_name: BTreeMap<String, CatalogTopic>,
    names_by_id: HashMap<Uuid, String>,
    /// Racks holding a replica of each partition, by topic id (absent or empty sets
    /// when the brokers have no `broker.rack`).
    racks_by_id: HashMap<Uuid, Vec<BTreeSet<String>>>,
}

impl TopicCatalog {
    /// Adds (or replaces) a topic whose brokers have no rack.
    pub fn insert(&mut self, name: &str, id: Uuid, partitions: i32) {
        self.insert_with_racks(name, id, partitions, Vec::new());
    }

    /// Adds (or replaces) a topic; `racks[p]` holds the racks of partition `p`'s
    /// replicas (empty = no rack known, as is every partition past the list's end).
    pub fn insert_with_racks(
        &mut self,
        name: &str,
        id: Uuid,
        partitions: i32,
        mut racks: Vec<BTreeSet<String>>,
    ) {
        assert!(partitions >= 0, "negative partition count for {name}");
        racks.truncate(usize::try_from(partitions).unwrap_or(0));
        while racks.last().is_some_and(BTreeSet::is_empty) {
            racks.pop();
        }
        let mut hasher = DefaultHasher::new();
        racks.hash(&mut hasher);
        let racks_hash = if racks.is_empty() { 0 } else { hasher.finish() };
        let topic = CatalogTopic {
            id,
            partitions,
            racks_hash,
        };
        if let Some(old) = self.by_name.insert(name.to_string(), topic) {
            self.names_by_id.remove(&old.id);
            self.racks_by_id.remove(&old.id);
        }
        self.names_by_id.insert(id, name.to_string());
        if !racks.is_empty() {
            self.racks_by_id.insert(id, racks);
        }
    }

    pub fn get(&self, name: &str) -> Option<&CatalogTopic> {
        self.by_name.get(name)
    }

    pub fn name_of(&self, id: &Uuid) -> Option<&str> {
        self.names_by_id.get(id).map(String::as_str)
    }

    /// The racks of each partition of topic `id` that has any (empty when none do).
    pub fn partition_racks(&self, id: &Uuid) -> &[BTreeSet<String>] {
        self.racks_by_id.get(id).map_or(&[], Vec::as_slice)
    }

    /// Every topic, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &CatalogTopic)> {
        self.by_name.iter()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
