//! Why an authentication failed. Messages never contain a password.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthenticationError {
    /// Wrong user or password: Kafka's SASL_AUTHENTICATION_FAILED.
    #[error("Authentication failed: invalid credentials with SASL mechanism {mechanism}")]
    InvalidCredentials { mechanism: &'static str },
    /// The client's message does not follow the mechanism's grammar.
    #[error("Authentication failed: malformed {mechanism} message: {reason}")]
    Malformed {
        mechanism: &'static str,
        reason: String,
    },
    /// A message arrived after the exchange had ended.
    #[error("Authentication failed: unexpected message after the {mechanism} exchange ended")]
    UnexpectedMessage { mechanism: &'static str },
}
