//! The topics consumer groups can subscribe to, as the broker's metadata image has
//! them; the broker hands a new catalog to the coordinator whenever topics change.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

/// One topic: its id and partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogTopic {
    pub id: Uuid,
    pub partitions: i32,
}

/// Topic name -> id and partition count (internal topics left out by the broker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicCatalog {
    by_name: BTreeMap<String, CatalogTopic>,
    names_by_id: HashMap<Uuid, String>,
}

impl TopicCatalog {
    /// Adds (or replaces) a topic.
    pub fn insert(&mut self, name: &str, id: Uuid, partitions: i32) {
        assert!(partitions >= 0, "negative partition count for {name}");
        if let Some(old) = self
            .by_name
            .insert(name.to_string(), CatalogTopic { id, partitions })
        {
            self.names_by_id.remove(&old.id);
        }
        self.names_by_id.insert(id, name.to_string());
    }

    pub fn get(&self, name: &str) -> Option<&CatalogTopic> {
        self.by_name.get(name)
    }

    pub fn name_of(&self, id: &Uuid) -> Option<&str> {
        self.names_by_id.get(id).map(String::as_str)
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
