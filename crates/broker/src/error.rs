//! Errors inside the broker, and their mapping to Kafka error codes.

use moldau_log::producer_state::ProducerStateError;
use moldau_log::LogError;
use moldau_metadata::MetadataError;
use moldau_protocol::ResponseError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("TLS: {0}")]
    Tls(String),
    /// A directory that needs `moldau storage format` (or a cluster id) first.
    #[error("{0}")]
    Unformatted(String),
    #[error("the log flusher stopped")]
    FlusherStopped,
    #[error("{message}")]
    Api {
        error: ResponseError,
        message: String,
    },
}

impl BrokerError {
    pub fn api(error: ResponseError, message: impl Into<String>) -> Self {
        BrokerError::Api {
            error,
            message: message.into(),
        }
    }

    /// The Kafka error code a client should see for this error.
    pub fn code(&self) -> i16 {
        self.response_error().code()
    }

    /// The Kafka error a client should see for this error.
    pub fn response_error(&self) -> ResponseError {
        match self {
            BrokerError::Api { error, .. } => *error,
            BrokerError::Log(LogError::OffsetOutOfRange { .. }) => ResponseError::OffsetOutOfRange,
            // A batch no segment can hold is the client's fault and final (Kafka's
            // RecordBatchTooLargeException); a retriable storage error would make clients
            // resend it forever.
            BrokerError::Log(LogError::BatchTooLarge { .. }) => ResponseError::RecordListTooLarge,
            BrokerError::Metadata(MetadataError::TopicExists(_)) => {
                ResponseError::TopicAlreadyExists
            }
            BrokerError::Metadata(MetadataError::UnknownTopic(_))
            | BrokerError::Metadata(MetadataError::UnknownTopicId(_)) => {
                ResponseError::UnknownTopicOrPartition
            }
            BrokerError::Config(_) => ResponseError::InvalidConfig,
            // Served once opened at start (recovered after a crash): retriable.
            BrokerError::Log(LogError::Recovering(_)) => ResponseError::NotLeaderOrFollower,
            // A request that raced the deletion of its topic.
            BrokerError::Log(LogError::Deleted(_))
            | BrokerError::Log(LogError::UnknownPartition(_)) => {
                ResponseError::UnknownTopicOrPartition
            }
            BrokerError::Log(LogError::Producer(ProducerStateError::OutOfOrderSequence {
                ..
            })) => ResponseError::OutOfOrderSequenceNumber,
            BrokerError::Log(LogError::Producer(ProducerStateError::InvalidProducerEpoch {
                ..
            })) => ResponseError::InvalidProducerEpoch,
            BrokerError::Log(LogError::Producer(ProducerStateError::InvalidTxnState {
                ..
            })) => ResponseError::InvalidTxnState,
            BrokerError::Log(LogError::Producer(ProducerStateError::CoordinatorFenced {
                ..
            })) => ResponseError::TransactionCoordinatorFenced,
            _ => ResponseError::KafkaStorageError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_gone_before_its_flush_is_unknown_not_a_storage_fault() {
        let gone = BrokerError::Log(LogError::UnknownPartition("t-0".into()));
        assert_eq!(
            gone.response_error(),
            ResponseError::UnknownTopicOrPartition
        );
        let deleted = BrokerError::Log(LogError::Deleted("t-0".into()));
        assert_eq!(
            deleted.response_error(),
            ResponseError::UnknownTopicOrPartition
        );
        let offline = BrokerError::Log(LogError::DirOffline);
        assert_eq!(offline.response_error(), ResponseError::KafkaStorageError);
    }
}
