//! The Raft transport between controllers (the controller listener): a small
//! framed protocol of our own, JSON-encoded openraft RPCs over TCP, or TLS and a
//! SASL login when the controller listener's security protocol asks (channel.rs).

mod channel;
mod cluster_action_check;
mod cluster_id_check;
mod cluster_id_probe;
mod controller_write;
mod error;
mod frame;
mod lifecycle_call;
mod message;
mod peer_client;
mod peer_outages;
mod server;

pub use channel::{AcceptedPeer, ControllerChannel, RaftConnection};
pub use cluster_action_check::ClusterActionCheck;
pub use cluster_id_check::{ClusterIdCheck, ClusterIdConflict};
pub use cluster_id_probe::probe_cluster_ids;
pub use controller_write::forward_controller_write;
pub use error::RaftTransportError;
pub use frame::{read_frame, write_frame, RAFT_FRAME_BYTES_MAX};
pub use lifecycle_call::forward_lifecycle_call;
pub use message::{ControllerWriteError, RaftEnvelope, RaftReply, RaftRequest};
pub use peer_client::{PeerClient, TcpRaftNetwork};
pub use peer_outages::PeerOutages;
pub use server::{serve_raft, FORWARDED_WRITE_TIMEOUT, RAFT_CONNECTIONS_MAX};
