//! Where log lines go and how they look: stderr, coloured only for a person at a
//! terminal (never with `NO_COLOR`), or JSON lines for log shippers.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::log_json::JsonLines;
use crate::raft_retry_filter::RaftRetryFilter;

/// `--log-format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, message, fields).
    Json,
}

/// Installs the global subscriber: `RUST_LOG` if set, else `level` (openraft at warn:
/// it logs every election step at info). openraft's per-attempt errors for an
/// unreachable peer are left out: the Raft transport logs each outage once.
pub fn init(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},openraft=warn")));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(RaftRetryFilter);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => registry
            .with(lines.with_ansi(use_colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            )))
            .init(),
        LogFormat::Json => registry.with(lines.event_format(JsonLines)).init(),
    }
}

/// Colour only at a terminal, and not when `NO_COLOR` is set to anything non-empty
/// (<https://no-color.org>).
fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
