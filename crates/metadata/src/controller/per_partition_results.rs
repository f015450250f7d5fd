//! Shared by the controller's per-partition admin answers (ElectLeaders,
//! AlterPartitionReassignments): results grouped by topic in the order each topic was
//! first seen, and an optional refusal as Kafka's (error_code, error_message).

use super::ControllerError;
use moldau_protocol::kafka::protocol::StrBytes;
use std::collections::BTreeMap;

/// `(topic, results)` in first-seen topic order; `result` builds each partition's entry.
pub(crate) fn group_by_topic<'a, T, R>(
    outcomes: &'a [T],
    topic_of: impl Fn(&'a T) -> &'a str,
    result: impl Fn(&T) -> R,
) -> Vec<(&'a str, Vec<R>)> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_topic: BTreeMap<&str, Vec<R>> = BTreeMap::new();
    for o in outcomes {
        let topic = topic_of(o);
        if !by_topic.contains_key(topic) {
            order.push(topic);
        }
        by_topic.entry(topic).or_default().push(result(o));
    }
    order
        .into_iter()
        .map(|topic| (topic, by_topic.remove(topic).unwrap_or_default()))
        .collect()
}

/// `(0, None)` for success, else the refusal's code and message.
pub(crate) fn error_fields(error: &Option<ControllerError>) -> (i16, Option<StrBytes>) {
    match error {
        None => (0, None),
        Some(e) => (
            e.error.code(),
            Some(StrBytes::from_string(e.message.clone())),
        ),
    }
}
