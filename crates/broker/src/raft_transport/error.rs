//! Errors of the Raft transport.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RaftTransportError {
    #[error("controller connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {bytes} bytes exceeds the limit of {limit}")]
    FrameTooLarge { bytes: usize, limit: usize },
    #[error("malformed raft message: {0}")]
    Malformed(String),
    /// The controller listener refused this node's login, or a peer's.
    #[error("controller listener authentication: {0}")]
    Authentication(String),
    #[error("INCONSISTENT_CLUSTER_ID: the controller belongs to cluster {theirs}, this node to cluster {ours}")]
    InconsistentClusterId { ours: String, theirs: String },
    #[error("the peer answered a {got} to a {sent} request")]
    WrongReply {
        sent: &'static str,
        got: &'static str,
    },
}
