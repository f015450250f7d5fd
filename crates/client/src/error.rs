//! Typed errors. A broker error keeps the Kafka error name and whether Kafka calls it
//! retriable, so callers can match on it without knowing error codes.

use moldau_protocol::kafka::error::ResponseError;
use thiserror::Error;

/// Result type of every fallible client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error code a broker returned, with its Kafka name (`NOT_LEADER_OR_FOLLOWER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    /// The numeric Kafka error code.
    pub code: i16,
    /// Kafka's name for the code, upper snake case as in the Java client's `Errors`.
    pub name: String,
    /// True when Kafka classifies the error as retriable.
    pub retriable: bool,
    /// The error message the broker sent along, if any.
    pub message: Option<String>,
}

impl BrokerError {
    /// Builds the error for a non-zero code; `None` for code 0.
    pub fn from_code(code: i16, message: Option<String>) -> Option<BrokerError> {
        let err = ResponseError::try_from_code(code)?;
        Some(BrokerError {
            code,
            name: kafka_error_name(err),
            retriable: err.is_retriable(),
            message: message.filter(|m| !m.is_empty()),
        })
    }

    /// The `kafka-protocol` enum value of this code.
    pub fn kind(&self) -> ResponseError {
        ResponseError::try_from_code(self.code).unwrap_or(ResponseError::Unknown(self.code))
    }
}

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.name, self.code)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// Converts `NotLeaderOrFollower` into `NOT_LEADER_OR_FOLLOWER`, the name Kafka uses.
fn kafka_error_name(err: ResponseError) -> String {
    if let ResponseError::Unknown(code) = err {
        return format!("UNKNOWN_ERROR_CODE_{code}");
    }
    let camel = format!("{err:?}");
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Everything that can go wrong in the client.
#[derive(Debug, Error, Clone)]
pub enum Error {
    /// The broker answered with a Kafka error code.
    #[error("broker error {0}")]
    Broker(BrokerError),
    /// A socket operation failed.
    #[error("I/O error with {addr}: {message}")]
    Io {
        /// The broker address.
        addr: String,
        /// The operating system's description.
        message: String,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {0} closed")]
    Disconnected(String),
    /// The server answered in another protocol (HTTP, TLS, …): a wrong port.
    #[error("{addr} answered with {protocol}, not the Kafka protocol")]
    NotKafka {
        /// The server's address.
        addr: String,
        /// The protocol it answered with.
        protocol: String,
    },
    /// The broker sent bytes that do not decode as the expected response.
    #[error("malformed response from broker: {0}")]
    Protocol(String),
    /// A request or operation did not finish in its deadline.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The broker serves no version of an API that this client can speak.
    #[error("broker supports no usable version of {0}")]
    UnsupportedApi(String),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The producer, consumer or client has been closed.
    #[error("client is closed")]
    Closed,
    /// A record is larger than the producer may send.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// Encoded size of the record.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The topic is unknown to the cluster (after metadata refreshes).
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The consumer has no position for the partition and `auto.offset.reset` is `none`.
    #[error("no offset for {0} and auto.offset.reset is none")]
    NoOffset(String),
    /// A consumer-group operation was cut short because the group rebalanced.
    #[error("group rebalanced: {0}")]
    Rebalance(String),
    /// The application's own processing failed (chunk processing).
    #[error("processing failed: {0}")]
    Processing(String),
    /// Encoding a request or record batch failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// Another producer with the same `transactional.id` (a newer epoch) took over:
    /// this producer can only be closed.
    #[error("producer fenced: {0}")]
    Fenced(String),
    /// A transactional call out of order (`send` before `begin_transaction`, a
    /// second `begin_transaction`, ...) or on a non-transactional producer.
    #[error("transaction state: {0}")]
    TransactionState(String),
}

impl Error {
    /// The broker error, if this is one.
    pub fn broker(&self) -> Option<&BrokerError> {
        match self {
            Error::Broker(b) => Some(b),
            _ => None,
        }
    }

    /// True when retrying the same operation may succeed (network trouble, moved
    /// leaders or coordinators, timeouts).
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Broker(b) => b.retriable,
            Error::Io { .. } | Error::Disconnected(_) | Error::Timeout(_) => true,
            _ => false,
        }
    }

    /// True when the broker returned exactly this error.
    pub fn is(&self, kind: ResponseError) -> bool {
        matches!(self, Error::Broker(b) if b.code == kind.code())
    }

    /// The typed error for a transactional call's answer: PRODUCER_FENCED and
    /// INVALID_PRODUCER_EPOCH mean a newer producer took the transactional id.
    pub(crate) fn transactional(e: Error) -> Error {
        let fenced = e.is(ResponseError::ProducerFenced)
            || e.is(ResponseError::InvalidProducerEpoch)
            || e.is(ResponseError::TransactionCoordinatorFenced);
        if fenced {
            Error::Fenced(e.to_string())
        } else {
            e
        }
    }

    pub(crate) fn io(addr: &str, e: &std::io::Error) -> Error {
        Error::Io {
            addr: addr.to_string(),
            message: e.to_string(),
        }
    }
}

/// Turns a response error code into `Ok(())` or the typed error.
pub fn check_code(code: i16, message: Option<&str>) -> Result<()> {
    match BrokerError::from_code(code, message.map(str::to_string)) {
        None => Ok(()),
        Some(b) => Err(Error::Broker(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_convention() {
        let e = BrokerError::from_code(6, Some("moved".into())).unwrap();
        assert_eq!(e.name, "NOT_LEADER_OR_FOLLOWER");
        assert!(e.retriable);
        assert_eq!(e.to_string(), "NOT_LEADER_OR_FOLLOWER (code 6): moved");
        let e = BrokerError::from_code(1, None).unwrap();
        assert_eq!(e.name, "OFFSET_OUT_OF_RANGE");
        assert!(!e.retriable);
        assert!(BrokerError::from_code(0, None).is_none());
        assert_eq!(
            BrokerError::from_code(-1, None).unwrap().name,
            "UNKNOWN_SERVER_ERROR"
        );
    }

    #[test]
    fn unknown_codes_are_kept_and_not_retriable() {
        let e = BrokerError::from_code(999, None).unwrap();
        assert_eq!(e.code, 999);
        assert!(!e.retriable);
        assert_eq!(e.name, "UNKNOWN_ERROR_CODE_999");
    }

    #[test]
    fn check_code_and_retriable_classes() {
        assert!(check_code(0, None).is_ok());
        let err = check_code(16, None).unwrap_err();
        assert!(err.is_retriable());
        assert!(err.is(ResponseError::NotCoordinator));
        assert!(Error::Disconnected("x".into()).is_retriable());
        assert!(!Error::Config("x".into()).is_retriable());
    }
}
