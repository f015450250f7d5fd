//! Errors of the console API, each with an HTTP status and a stable machine-readable
//! code. Every error leaves as JSON `{"error": code, "message": text}`; nothing
//! internal (no backtrace, no debug dump) reaches the browser.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use moldau_broker::BrokerError;
use moldau_protocol::ResponseError;
use thiserror::Error;

/// Why an API request failed.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("Topic '{0}' does not exist.")]
    UnknownTopic(String),
    #[error("Consumer group '{0}' does not exist.")]
    UnknownGroup(String),
    #[error("Partition {partition} of topic '{topic}' does not exist.")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("No record at offset {offset} of {topic}-{partition}.")]
    UnknownRecord {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("This change needs confirmation: {0}")]
    ConfirmationRequired(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    GroupActive(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    /// A Kafka error from the broker or the coordinator, with its message.
    #[error("{message}")]
    Kafka {
        error: ResponseError,
        message: String,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownTopic(_)
            | ApiError::UnknownGroup(_)
            | ApiError::UnknownPartition { .. }
            | ApiError::UnknownRecord { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::ConfirmationRequired(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::GroupActive(_) => StatusCode::CONFLICT,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Kafka { error, .. } => kafka_status(*error),
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable code for scripts, e.g. `unknown_topic` or `topic_already_exists`.
    pub fn code(&self) -> String {
        match self {
            ApiError::UnknownTopic(_) => "unknown_topic".into(),
            ApiError::UnknownGroup(_) => "unknown_group".into(),
            ApiError::UnknownPartition { .. } => "unknown_partition".into(),
            ApiError::UnknownRecord { .. } => "unknown_record".into(),
            ApiError::BadRequest(_) => "bad_request".into(),
            ApiError::ConfirmationRequired(_) => "confirmation_required".into(),
            ApiError::Conflict(_) => "conflict".into(),
            ApiError::GroupActive(_) => "group_active".into(),
            ApiError::Forbidden(_) => "forbidden".into(),
            ApiError::TooLarge(_) => "too_large".into(),
            ApiError::Kafka {
                error: ResponseError::Unknown(code),
                ..
            } => format!("kafka_error_{code}"),
            ApiError::Kafka { error, .. } => snake_case(&format!("{error:?}")),
            ApiError::Unavailable(_) => "unavailable".into(),
            ApiError::Internal(_) => "internal".into(),
        }
    }

    /// A Kafka error code from a response, with a message for people.
    pub fn from_code(code: i16, context: &str) -> ApiError {
        match ResponseError::try_from_code(code) {
            Some(error) => ApiError::Kafka {
                error,
                message: format!("{context}: {error} (Kafka error {code})"),
            },
            None => ApiError::Internal(format!("{context}: no error (code 0)")),
        }
    }
}

/// HTTP status for a Kafka error the broker or coordinator returned.
fn kafka_status(error: ResponseError) -> StatusCode {
    use ResponseError::*;
    match error {
        TopicAlreadyExists => StatusCode::CONFLICT,
        UnknownTopicOrPartition | GroupIdNotFound => StatusCode::NOT_FOUND,
        InvalidTopicException
        | InvalidPartitions
        | InvalidReplicationFactor
        | InvalidConfig
        | InvalidRequest
        | PolicyViolation
        | InvalidRecord
        | CorruptMessage => StatusCode::BAD_REQUEST,
        MessageTooLarge | RecordListTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        TopicDeletionDisabled | TopicAuthorizationFailed | GroupAuthorizationFailed => {
            StatusCode::FORBIDDEN
        }
        UnknownMemberId | IllegalGeneration | RebalanceInProgress | NonEmptyGroup => {
            StatusCode::CONFLICT
        }
        NotCoordinator
        | CoordinatorNotAvailable
        | CoordinatorLoadInProgress
        | NotLeaderOrFollower
        | LeaderNotAvailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `TopicAlreadyExists` -> `topic_already_exists`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::Api { error, message } => ApiError::Kafka { error, message },
            other => {
                let code = other.code();
                match ResponseError::try_from_code(code) {
                    Some(error) => ApiError::Kafka {
                        error,
                        message: other.to_string(),
                    },
                    None => ApiError::Internal(other.to_string()),
                }
            }
        }
    }
}

impl From<moldau_log::LogError> for ApiError {
    fn from(e: moldau_log::LogError) -> Self {
        ApiError::from(BrokerError::from(e))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("background task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = %self.code(), "console API error: {self}");
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        (status, Json(body)).into_response()
    }
}

/// Result type of API handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_get_snake_case_codes_and_statuses() {
        let e = ApiError::Kafka {
            error: ResponseError::TopicAlreadyExists,
            message: "exists".into(),
        };
        assert_eq!(e.code(), "topic_already_exists");
        assert_eq!(e.status(), StatusCode::CONFLICT);
        let e = ApiError::from_code(ResponseError::InvalidPartitions.code(), "creating");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("creating"));
        let unknown = ApiError::from_code(-12345, "x");
        assert_eq!(unknown.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(unknown.code(), "kafka_error_-12345");
    }

    #[test]
    fn unknown_things_are_not_found() {
        assert_eq!(
            ApiError::UnknownTopic("t".into()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(ApiError::UnknownGroup("g".into()).code(), "unknown_group");
        assert_eq!(
            snake_case("UnknownTopicOrPartition"),
            "unknown_topic_or_partition"
        );
    }
}
