//! The Moldau broker: listeners, connections, one handler per Kafka API, hosted
//! partitions, and the controller that owns topic changes (see DESIGN.md).

pub mod advertised_listeners;
pub mod alloc_guard;
pub mod broker;
pub mod client_quota_manager;
pub mod client_telemetry;
pub mod clock;
pub mod config;
pub mod connection;
pub mod connection_limits;
pub mod connection_settings;
pub mod controller;
pub mod controller_client;
mod coordinator_replay;
pub mod delayed_produce;
pub mod error;
pub mod fetch_response_encoder;
pub mod fetch_session;
pub mod frame_writer;
pub mod group_service;
mod handlers;
pub mod inter_broker_client;
pub mod internal_topics;
mod isr_maintenance;
pub mod leader_connection;
pub mod leadership;
pub mod lifecycle_agent;
pub mod listener_auth;
pub mod listener_config;
pub mod listener_security;
pub mod metadata_publisher;
pub mod metadata_quorum;
pub mod metrics;
pub mod node_config;
pub mod offsets_leadership;
pub mod open_files_limit;
pub mod partition;
pub mod password_check;
pub mod process_metrics;
pub mod producer_ids;
mod publish_plan;
pub mod quorum_view;
pub mod quorum_voters;
pub mod quota_rate;
pub mod raft_transport;
pub mod replica_fetcher;
pub mod replica_fetchers;
pub mod replica_manager;
pub mod replica_progress;
pub mod request;
pub mod request_settings;
pub mod response_frame;
pub mod sasl_session;
pub mod server;
#[cfg(test)]
mod test_images;
pub mod tls_acceptor;
pub mod topic_config;
pub mod txn_marker_sender;
pub mod txn_service;
pub mod voters_cluster_id;

pub use broker::Broker;
pub use config::{BrokerConfig, ConfigError};
pub use error::BrokerError;
/// For the `moldau user` command, which salts passwords as SCRAM clients do.
pub use moldau_security as security;
