//! A set of partitions keyed by topic id, as KIP-848 assignments are expressed, and
//! the conversions to and from its wire forms.

use std::collections::{BTreeMap, BTreeSet};

use moldau_protocol::kafka::messages::consumer_group_heartbeat_request::TopicPartitions as RequestTopicPartitions;
use moldau_protocol::kafka::messages::consumer_group_heartbeat_response::TopicPartitions as ResponseTopicPartitions;
use uuid::Uuid;

/// Partitions by topic id; a topic with no partitions is never kept.
pub(crate) type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

pub(crate) fn contains(a: &Assignment, topic: &Uuid, partition: i32) -> bool {
    a.get(topic).is_some_and(|p| p.contains(&partition))
}

pub(crate) fn insert(a: &mut Assignment, topic: Uuid, partition: i32) {
    a.entry(topic).or_default().insert(partition);
}

/// Every (topic, partition) of `a`, in order.
pub(crate) fn pairs(a: &Assignment) -> impl Iterator<Item = (Uuid, i32)> + '_ {
    a.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
}

/// True when every partition of `a` is in `b`.
pub(crate) fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    pairs(a).all(|(t, p)| contains(b, &t, p))
}

/// True when `a` and `b` share a partition.
pub(crate) fn intersects(a: &Assignment, b: &Assignment) -> bool {
    pairs(a).any(|(t, p)| contains(b, &t, p))
}

/// What the client says it owns (duplicates collapse).
pub(crate) fn from_request(topics: &[RequestTopicPartitions]) -> Assignment {
    let mut a = Assignment::new();
    for t in topics {
        for p in &t.partitions {
            insert(&mut a, t.topic_id, *p);
        }
    }
    a
}

/// The heartbeat response's form.
pub(crate) fn to_response(a: &Assignment) -> Vec<ResponseTopicPartitions> {
    a.iter()
        .map(|(t, ps)| {
            ResponseTopicPartitions::default()
                .with_topic_id(*t)
                .with_partitions(ps.iter().copied().collect())
        })
        .collect()
}
