//! Keeps openraft's per-attempt replication failures out of the log: it logs a WARN
//! and an ERROR for every failed call to an unreachable peer, every few hundred
//! milliseconds. The Raft transport reports such an outage itself, once when it starts
//! (WARN), once when it ends (INFO) and each attempt at DEBUG. openraft's other
//! errors (storage, a peer's own error, oversized payloads) stay visible.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The prefixes of openraft's messages for an RPC that failed in the network:
/// `Unreachable`, `Timeout` and `NetworkError` as displayed.
const NETWORK_FAILURE_PREFIXES: [&str; 3] =
    ["Unreachable node:", "timeout after ", "NetworkError:"];

/// A layer whose only job is to disable those events for the whole subscriber.
pub struct RaftRetryFilter;

impl<S: Subscriber> Layer<S> for RaftRetryFilter {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if !meta.target().starts_with("openraft::replication") || *meta.level() > Level::WARN {
            return true;
        }
        let mut error = ErrorField(None);
        event.record(&mut error);
        !error.0.as_deref().is_some_and(is_network_failure)
    }
}

/// An error's text that says the call failed in the network.
fn is_network_failure(text: &str) -> bool {
    NETWORK_FAILURE_PREFIXES.iter().any(|p| text.starts_with(p))
}

/// The `error` or `err` field of an event, as text.
struct ErrorField(Option<String>);

impl Visit for ErrorField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "error" | "err") {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "error" | "err") {
            self.0 = Some(value.to_string());
        }
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
            tracing::error!(target: "openraft::core", err = %unreachable, "other module kept");
            tracing::info!(target: "openraft::replication", "info kept");
            tracing::error!(target: "moldau_broker", error = %unreachable, "ours kept");
        });
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(
            seen,
            [
                "storage kept",
                "other module kept",
                "info kept",
                "ours kept"
            ]
        );
    }
}
