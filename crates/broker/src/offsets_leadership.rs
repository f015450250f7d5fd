//! Which `__consumer_offsets` partitions the group coordinator of this node should
//! hold: exactly those the image says it leads. Decided here, carried out by the
//! group service (load by replaying, unload by resigning).

use crate::internal_topics::OFFSETS_TOPIC;
use moldau_metadata::MetadataImage;
use std::collections::{BTreeSet, HashSet};

/// What the coordinator must change to hold exactly the partitions led here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CoordinatorSync {
    /// Led here and not loaded: replay them.
    pub load: Vec<i32>,
    /// Loaded but led elsewhere now (or gone): drop their groups.
    pub resign: Vec<i32>,
}

impl CoordinatorSync {
    pub fn new(image: &MetadataImage, node_id: i32, loaded: &HashSet<i32>) -> Self {
        Self::for_topic(image, OFFSETS_TOPIC, node_id, loaded)
    }

    /// The same for another coordinator topic (`__transaction_state`).
    pub fn for_topic(
        image: &MetadataImage,
        topic: &str,
        node_id: i32,
        loaded: &HashSet<i32>,
    ) -> Self {
        let led: BTreeSet<i32> = image
            .topic(topic)
            .map(|t| {
                t.partitions
                    .values()
                    .filter(|p| p.leader == node_id)
                    .map(|p| p.partition)
                    .collect()
            })
            .unwrap_or_default();
        let mut resign: Vec<i32> = loaded
            .iter()
            .copied()
            .filter(|p| !led.contains(p))
            .collect();
        resign.sort_unstable();
        CoordinatorSync {
            load: led.into_iter().filter(|p| !loaded.contains(p)).collect(),
            resign,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.load.is_empty() && self.resign.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images::{image_of, move_leader, partition, topic};
    use moldau_metadata::TopicId;

    #[test]
    fn the_coordinator_holds_exactly_the_partitions_led_here() {
        let id = TopicId([5; 16]);
        let image = image_of(&[
            topic(OFFSETS_TOPIC, id),
            partition(id, 0, &[1, 2], 1),
            partition(id, 1, &[1, 2], 2),
            partition(id, 2, &[2, 1], 1),
            partition(id, 3, &[1, 2], 1),
            move_leader(id, 2, 2, None),
        ]);
        let sync = CoordinatorSync::new(&image, 1, &HashSet::from([1, 2, 3]));
        assert_eq!(sync.load, vec![0]);
        assert_eq!(sync.resign, vec![1, 2]);
        let settled = CoordinatorSync::new(&image, 1, &HashSet::from([0, 3]));
        assert!(settled.is_empty());
        // Without the topic nothing is led: everything loaded goes.
        let empty = CoordinatorSync::new(&image_of(&[]), 1, &HashSet::from([4]));
        assert_eq!((empty.load, empty.resign), (vec![], vec![4]));
    }
}
