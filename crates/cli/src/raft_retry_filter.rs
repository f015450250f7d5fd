//! Keeps openraft's per-attempt replication failures out of the log: it logs a WARN
//! and an ERROR for every failed call to an unreachable peer, and a WARN for every
//! failed heartbeat, every few hundred milliseconds, and an ERROR for every vote
//! request or leadership confirmation an unreachable peer did not answer. The Raft
//! transport reports such an outage itself, once when it starts (WARN), once when it
//! ends (INFO) and each attempt at DEBUG. openraft's other errors (storage, a peer's
//! own error, oversized payloads) stay visible.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The prefixes of openraft's messages for an RPC that failed in the network:
/// `Unreachable`, `Timeout` and `NetworkError` as displayed.
const NETWORK_FAILURE_PREFIXES: [&str; 3] =
    ["Unreachable node:", "timeout after ", "NetworkError:"];

/// A layer whose only job is to disable those events for the whole subscriber.
pub struct RaftRetryFilter;

/// openraft's module that replicates to one peer: its failures carry the error as a
/// field.
const REPLICATION_TARGET: &str = "openraft::replication";
/// openraft's engine handler that logs each failed heartbeat, the error in the message.
const HEARTBEAT_TARGET: &str = "openraft::engine::handler::replication_handler";
const HEARTBEAT_ERROR_PREFIX: &str = "heartbeat error: ";
/// openraft's core, whose vote requests and leadership confirmations carry the
/// error as a field.
const CORE_TARGET: &str = "openraft::core::raft_core";

impl<S: Subscriber> Layer<S> for RaftRetryFilter {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        let target = meta.target();
        if *meta.level() > Level::WARN
            || ![REPLICATION_TARGET, HEARTBEAT_TARGET, CORE_TARGET]
                .iter()
                .any(|t| target.starts_with(t))
        {
            return true;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let failed_in_network = if target.starts_with(HEARTBEAT_TARGET) {
            fields
                .message
                .as_deref()
                .and_then(|m| m.strip_prefix(HEARTBEAT_ERROR_PREFIX))
                .is_some_and(is_network_failure)
        } else {
            fields.error.as_deref().is_some_and(is_network_failure)
        };
        !failed_in_network
    }
}

/// An error's text that says the call failed in the network.
fn is_network_failure(text: &str) -> bool {
    NETWORK_FAILURE_PREFIXES.iter().any(|p| text.starts_with(p))
}

/// An event's message and its `error` or `err` field, as text.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    error: Option<String>,
}

impl Fields {
    fn keep(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = Some(text),
            "error" | "err" => self.error = Some(text),
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.keep(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// Records the messages of the events that reach it.
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            struct Message(String);
            impl Visit for Message {
                fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut m = Message(String::new());
            event.record(&mut m);
            if let Ok(mut seen) = self.0.lock() {
                seen.push(m.0);
            }
        }
    }

    #[test]
    fn network_failures_of_replication_are_dropped_and_other_errors_kept() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(RaftRetryFilter)
            .with(Seen(Arc::clone(&seen)));
        tracing::subscriber::with_default(subscriber, || {
            let unreachable = "Unreachable node: connection refused (os error 111)";
            tracing::error!(target: "openraft::replication", err = %unreachable, "RPCError");
            tracing::warn!(target: "openraft::replication", error = %unreachable, "error replication to target=2");
            let timeout = "timeout after 150ms when AppendEntries 1->2";
            tracing::error!(target: "openraft::replication", err = %timeout, "RPCError");
            let storage = "when writing log: disk full";
            tracing::error!(target: "openraft::replication", error = %storage, "storage kept");
            tracing::error!(target: "openraft::core::raft_core", error = %unreachable, "while requesting vote");
            tracing::error!(target: "openraft::core::raft_core", target = 1, error = %unreachable, "timeout while confirming leadership for read request");
            tracing::error!(target: "openraft::core::raft_core", error = %storage, "core storage kept");
            tracing::error!(target: "openraft::storage", err = %unreachable, "other module kept");
            tracing::warn!(target: "openraft::engine::handler::replication_handler", "heartbeat error: NetworkError: broken pipe, no update to inflight data");
            tracing::warn!(target: "openraft::engine::handler::replication_handler", "heartbeat error: storage kept, no update");
            tracing::info!(target: "openraft::replication", "info kept");
            tracing::error!(target: "moldau_broker", error = %unreachable, "ours kept");
        });
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(
            seen,
            [
                "storage kept",
                "core storage kept",
                "other module kept",
                "heartbeat error: storage kept, no update",
                "info kept",
                "ours kept"
            ]
        );
    }
}
