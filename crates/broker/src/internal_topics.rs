//! The topic names reserved for the broker, and what a client may do with them. The
//! one place that says so: handlers and the controller ask here instead of testing
//! names themselves.
//!
//! - `__cluster_metadata` is the Raft metadata log, not a topic: clients never see it
//!   (Metadata, Fetch, Produce, DeleteRecords and DeleteTopics answer as for a topic
//!   that does not exist) and cannot create it.
//! - `__consumer_offsets` and `__transaction_state` are Kafka's internal topics: only
//!   the broker creates them, with their own shape; clients may describe and read
//!   them, but not produce to them, delete them or delete their records (their
//!   coordinators own them).

use crate::error::BrokerError;
use moldau_protocol::ResponseError;

pub use moldau_log::METADATA_LOG_TOPIC;

/// The group offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// The transaction coordinator's topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// A reserved name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedTopic {
    /// `__cluster_metadata`: the metadata log.
    MetadataLog,
    /// `__consumer_offsets`: written by the group coordinator.
    Offsets,
    /// `__transaction_state`: written by the transaction coordinator.
    TransactionState,
}

impl ReservedTopic {
    pub fn of(name: &str) -> Option<Self> {
        match name {
            METADATA_LOG_TOPIC => Some(ReservedTopic::MetadataLog),
            OFFSETS_TOPIC => Some(ReservedTopic::Offsets),
            TRANSACTION_STATE_TOPIC => Some(ReservedTopic::TransactionState),
            _ => None,
        }
    }
}

/// The replication factor an internal topic is created with, from its setting
/// (`offsets.topic.replication.factor`, `transaction.state.log.replication.factor`).
/// Set explicitly it is used as is, so creation is refused until that many brokers
/// are registered (Kafka since KIP-115; FindCoordinator answers
/// COORDINATOR_NOT_AVAILABLE meanwhile). Left at Kafka's default of 3 it is capped by
/// the brokers the cluster is known to have: those registered, or, when this node is
/// a combined broker and controller, the controller voters (each of them a broker
/// too), so a three-node cluster whose first FindCoordinator comes before all three
/// registered waits for them instead of keeping one replica for ever, while a single
/// node still works with no configuration.
pub fn internal_replication_factor(
    configured: i32,
    explicit: bool,
    brokers: usize,
    combined_voters: usize,
) -> i16 {
    let configured = i16::try_from(configured).unwrap_or(i16::MAX);
    if explicit {
        return configured;
    }
    let known = brokers.max(combined_voters).max(1);
    let known = i16::try_from(known).unwrap_or(i16::MAX);
    configured.min(known)
}

/// `min.insync.replicas` of `__transaction_state` (`transaction.state.log.min.isr`):
/// set explicitly, as is (Kafka's); left at its default of 2, capped by the topic's
/// replication factor, or a capped single-replica topic could never be written.
pub fn internal_min_insync_replicas(configured: i32, explicit: bool, replication: i16) -> i32 {
    if explicit {
        return configured;
    }
    configured.min(i32::from(replication)).max(1)
}

/// Kafka's `Topic.isInternal`: the topics marked internal in Metadata.
pub fn is_internal(name: &str) -> bool {
    matches!(
        ReservedTopic::of(name),
        Some(ReservedTopic::Offsets | ReservedTopic::TransactionState)
    )
}

/// True for the metadata log's name, which clients never see as a topic.
pub fn is_hidden(name: &str) -> bool {
    ReservedTopic::of(name) == Some(ReservedTopic::MetadataLog)
}

/// CreateTopics from a client (the broker creates internal topics itself).
pub fn check_client_create(name: &str) -> Result<(), BrokerError> {
    match ReservedTopic::of(name) {
        None => Ok(()),
        Some(_) => Err(BrokerError::api(
            ResponseError::InvalidRequest,
            format!("Creation of internal topic {name} is prohibited."),
        )),
    }
}

/// Produce from a client.
pub fn check_client_produce(name: &str) -> Result<(), ResponseError> {
    match ReservedTopic::of(name) {
        None => Ok(()),
        Some(ReservedTopic::MetadataLog) => Err(ResponseError::UnknownTopicOrPartition),
        Some(_) => Err(ResponseError::InvalidTopicException),
    }
}

/// DeleteRecords from a client.
pub fn check_client_delete_records(name: &str) -> Result<(), ResponseError> {
    check_client_produce(name)
}

/// DeleteTopics from a client.
pub fn check_client_delete(name: &str) -> Result<(), BrokerError> {
    match ReservedTopic::of(name) {
        None => Ok(()),
        Some(ReservedTopic::MetadataLog) => Err(BrokerError::api(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        )),
        Some(_) => Err(BrokerError::api(
            ResponseError::InvalidTopicException,
            format!("Internal topic '{name}' cannot be deleted."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_topics_replicate_as_set_or_capped_by_the_brokers_when_unset() {
        // Kafka's default of 3 on one, two and five brokers (dedicated controllers).
        assert_eq!(internal_replication_factor(3, false, 1, 0), 1);
        assert_eq!(internal_replication_factor(3, false, 2, 0), 2);
        assert_eq!(internal_replication_factor(3, false, 5, 0), 3);
        assert_eq!(internal_replication_factor(3, false, 0, 0), 1);
        // Combined nodes: the voters are brokers to come, so one registered broker of
        // three does not fix the factor at one; a single node still gets one.
        assert_eq!(internal_replication_factor(3, false, 1, 3), 3);
        assert_eq!(internal_replication_factor(3, false, 1, 1), 1);
        assert_eq!(internal_replication_factor(3, false, 2, 5), 3);
        // Set explicitly: as set, refused by placement while too few brokers exist.
        assert_eq!(internal_replication_factor(3, true, 1, 0), 3);
        assert_eq!(internal_replication_factor(1, true, 3, 3), 1);
        // min.isr follows a capped factor only when left unset.
        assert_eq!(internal_min_insync_replicas(2, false, 1), 1);
        assert_eq!(internal_min_insync_replicas(2, false, 3), 2);
        assert_eq!(internal_min_insync_replicas(2, true, 1), 2);
        assert_eq!(internal_min_insync_replicas(3, true, 3), 3);
    }

    #[test]
    fn only_the_three_names_are_reserved() {
        assert!(is_internal(OFFSETS_TOPIC) && is_internal(TRANSACTION_STATE_TOPIC));
        assert!(!is_internal(METADATA_LOG_TOPIC) && is_hidden(METADATA_LOG_TOPIC));
        for user in [
            "__mine",
            "_consumer_offsets",
            "__consumer_offsets2",
            "orders",
        ] {
            assert_eq!(ReservedTopic::of(user), None, "{user}");
            assert!(check_client_create(user).is_ok());
            assert!(check_client_produce(user).is_ok());
        }
        for reserved in [METADATA_LOG_TOPIC, OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC] {
            let e = check_client_create(reserved).unwrap_err();
            assert_eq!(e.code(), ResponseError::InvalidRequest.code());
        }
        assert_eq!(
            check_client_produce(OFFSETS_TOPIC),
            Err(ResponseError::InvalidTopicException)
        );
        assert_eq!(
            check_client_delete_records(METADATA_LOG_TOPIC),
            Err(ResponseError::UnknownTopicOrPartition)
        );
        assert_eq!(
            check_client_delete(TRANSACTION_STATE_TOPIC)
                .unwrap_err()
                .code(),
            ResponseError::InvalidTopicException.code()
        );
    }
}
