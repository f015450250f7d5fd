//! A controller decision refused: the Kafka error code the client gets and why.

use moldau_protocol::ResponseError;
use thiserror::Error;

/// A refused request, with the error code and message Kafka's controller would answer.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{message}")]
pub struct ControllerError {
    pub error: ResponseError,
    pub message: String,
}

impl ControllerError {
    pub fn new(error: ResponseError, message: impl Into<String>) -> Self {
        ControllerError {
            error,
            message: message.into(),
        }
    }
}
