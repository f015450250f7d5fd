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
