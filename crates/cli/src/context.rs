//! What every client subcommand shares: where the cluster is, how to print, how long
//! to wait, and how a client error becomes a one-line reason a person can act on.

use std::future::Future;
use std::time::Duration;

use anyhow::anyhow;
use moldau_client::{AdminClient, BrokerError, ClientConfig, Error as ClientError};

use crate::timeparse;

/// Longest a TCP connect to one broker may take; an unreachable host is reported
/// after this even when `--timeout` is longer.
const CONNECT_TIMEOUT_MAX: Duration = Duration::from_secs(5);
/// The `client.id` the tools announce, so brokers and group listings show them.
const CLIENT_ID: &str = "moldau-cli";
/// Worker threads of the tools' runtime (they mostly wait on the network).
const RUNTIME_WORKER_THREADS: usize = 2;

/// Flags every client subcommand takes (global, so they go before or after it).
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Cluster options")]
pub struct ClientArgs {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    #[arg(
        short = 'b',
        long,
        global = true,
        env = "MOLDAU_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// How long an admin operation may take before giving up (`30s`, `500ms`, `2m`).
    #[arg(long, global = true, default_value = "30s", value_parser = timeparse::parse_duration_arg)]
    timeout: Duration,
}

impl ClientArgs {
    /// True when `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// The context the subcommands run with.
    pub fn context(&self) -> anyhow::Result<Context> {
        if self.bootstrap.split(',').all(|s| s.trim().is_empty()) {
            anyhow::bail!("--bootstrap is empty");
        }
        Ok(Context {
            bootstrap: self.bootstrap.clone(),
            json: self.json,
            timeout: self.timeout,
        })
    }
}

/// Settings of one tool invocation.
#[derive(Debug, Clone)]
pub struct Context {
    /// Bootstrap brokers as given.
    pub bootstrap: String,
    /// JSON output instead of tables.
    pub json: bool,
    /// Deadline of one admin operation.
    pub timeout: Duration,
}

impl Context {
    /// Client settings: bootstrap list, client id and timeouts.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig {
            bootstrap_servers: self
                .bootstrap
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            ..ClientConfig::default()
        };
        config.connection.client_id = CLIENT_ID.to_string();
        config.connection.connect_timeout = self.timeout.min(CONNECT_TIMEOUT_MAX);
        config.connection.request_timeout = self.timeout;
        config
    }

    /// An admin client (connects lazily).
    pub fn admin(&self) -> anyhow::Result<AdminClient> {
        AdminClient::new(self.client_config()).map_err(|e| self.explain(e))
    }

    /// A runtime for the async client.
    pub fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKER_THREADS)
            .enable_all()
            .build()?)
    }

    /// Runs `op` to completion, failing with a clear reason after `--timeout`.
    pub async fn timed<T, F>(&self, op: F) -> anyhow::Result<T>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(anyhow!(
                "no answer from the cluster at {} within {} (is a broker running there?)",
                self.bootstrap,
                timeparse::format_duration(self.timeout)
            )),
        }
    }

    /// A client error as one line a person can act on.
    pub fn explain(&self, e: ClientError) -> anyhow::Error {
        anyhow!(reason(&e, &self.bootstrap))
    }
}

/// The one-line reason for a client error.
pub fn reason(e: &ClientError, bootstrap: &str) -> String {
    match e {
        ClientError::Io { addr, message } => {
            format!("cannot reach a broker at {addr}: {message}")
        }
        ClientError::Disconnected(addr) if addr == "no broker reachable" => {
            format!("cannot reach a broker at {bootstrap}")
        }
        ClientError::Disconnected(addr) => {
            format!("the broker at {addr} closed the connection")
        }
        ClientError::Timeout(what) => format!("timed out {what} (bootstrap {bootstrap})"),
        ClientError::Broker(b) => broker_reason(b),
        ClientError::UnknownTopic(t) => format!("topic '{t}' does not exist"),
        ClientError::NotKafka { addr, protocol } => {
            let hint = match protocol.as_str() {
                "HTTP" => " — is this the console port?",
                "TLS" => " — is this a TLS (SSL) listener?",
                _ => "",
            };
            format!("the server at {addr} answered with {protocol}, not the Kafka protocol{hint}")
        }
        other => other.to_string(),
    }
}

/// Prose for the broker errors people meet with these tools; the Kafka name for
/// the rest (searchable, unlike a number).
pub fn broker_reason(b: &BrokerError) -> String {
    let prose = match b.name.as_str() {
        "UNKNOWN_TOPIC_OR_PARTITION" => "the topic or partition does not exist",
        "TOPIC_ALREADY_EXISTS" => "the topic already exists",
        "INVALID_PARTITIONS" => "invalid partition count",
        "INVALID_REPLICATION_FACTOR" => "invalid replication factor",
        "INVALID_CONFIG" => "invalid config",
        "INVALID_TOPIC_EXCEPTION" => "invalid topic name",
        "GROUP_ID_NOT_FOUND" => "the group does not exist",
        "NON_EMPTY_GROUP" => "the group still has active members",
        "GROUP_SUBSCRIBED_TO_TOPIC" => "the group is still subscribed to the topic",
        "UNKNOWN_MEMBER_ID" => "the group has active members",
        "TOPIC_AUTHORIZATION_FAILED"
        | "GROUP_AUTHORIZATION_FAILED"
        | "CLUSTER_AUTHORIZATION_FAILED" => "not authorized",
        "POLICY_VIOLATION" => "refused by the broker's policy",
        "UNSUPPORTED_VERSION" => "the broker does not support this request",
        "COORDINATOR_NOT_AVAILABLE" => "the group coordinator is not available",
        "NOT_ENOUGH_REPLICAS" => "not enough in-sync replicas",
        _ => "",
    };
    match (&b.message, prose.is_empty()) {
        (Some(m), true) => format!("{m} ({})", b.name),
        (Some(m), false) => format!("{prose}: {m}"),
        (None, true) => format!("the broker refused with {}", b.name),
        (None, false) => prose.to_string(),
    }
}

/// The Kafka error name of a client error, if the broker sent one.
pub fn broker_error_name(e: &ClientError) -> Option<&str> {
    e.broker().map(|b| b.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_name_the_address() {
        let e = ClientError::Io {
            addr: "127.0.0.1:1".into(),
            message: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            reason(&e, "127.0.0.1:1"),
            "cannot reach a broker at 127.0.0.1:1: Connection refused (os error 111)"
        );
        let e = ClientError::Disconnected("no broker reachable".into());
        assert_eq!(reason(&e, "h:9"), "cannot reach a broker at h:9");
    }

    #[test]
    fn a_foreign_protocol_is_named_with_a_hint() {
        let e = ClientError::NotKafka {
            addr: "127.0.0.1:8080".into(),
            protocol: "HTTP".into(),
        };
        assert_eq!(
            reason(&e, "127.0.0.1:8080"),
            "the server at 127.0.0.1:8080 answered with HTTP, not the Kafka protocol \
             — is this the console port?"
        );
    }

    #[test]
    fn broker_errors_read_as_prose_without_numbers() {
        let b = BrokerError::from_code(36, None).expect("36 is TOPIC_ALREADY_EXISTS");
        assert_eq!(broker_reason(&b), "the topic already exists");
        let b = BrokerError::from_code(37, Some("must grow".into())).expect("code 37");
        assert_eq!(broker_reason(&b), "invalid partition count: must grow");
        let b = BrokerError::from_code(58, None).expect("code 58");
        assert_eq!(
            broker_reason(&b),
            "the broker refused with SASL_AUTHENTICATION_FAILED"
        );
        assert!(!broker_reason(&b).contains("58"));
    }

    #[test]
    fn client_config_splits_bootstrap_and_caps_connect_timeout() {
        let ctx = Context {
            bootstrap: "a:1, b:2,".into(),
            json: false,
            timeout: Duration::from_secs(60),
        };
        let c = ctx.client_config();
        assert_eq!(
            c.bootstrap_servers,
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        assert_eq!(c.connection.connect_timeout, CONNECT_TIMEOUT_MAX);
        assert_eq!(c.connection.request_timeout, Duration::from_secs(60));
        assert_eq!(c.connection.client_id, CLIENT_ID);
    }
}
