//! JSON log lines for log shippers (`--log-format json`): one object per event with
//! `timestamp`, `level`, `target`, `message` and the event's fields beside them.

use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object on one line.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let line = event_json(&timestamp, meta.level().as_str(), meta.target(), fields.0);
        writeln!(writer, "{line}")
    }
}

/// Keys every line starts with; a field of the same name is dropped.
const FIXED_KEYS: [&str; 3] = ["timestamp", "level", "target"];

/// The object of one event, keys in a stable order: the fixed ones, then the fields
/// in the order the event lists them (`message` first).
fn event_json(timestamp: &str, level: &str, target: &str, fields: Vec<(String, Value)>) -> String {
    let mut line = String::from("{");
    let fixed = [timestamp, level, target].map(Value::from);
    let fields = fields
        .into_iter()
        .filter(|(k, _)| !FIXED_KEYS.contains(&k.as_str()));
    let all = FIXED_KEYS
        .iter()
        .map(|k| k.to_string())
        .zip(fixed)
        .chain(fields);
    for (i, (k, v)) in all.enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(k).to_string());
        line.push(':');
        line.push_str(&v.to_string());
    }
    line.push('}');
    line
}

/// An event's fields as JSON values (numbers and booleans stay typed), in order.
#[derive(Default)]
struct FieldMap(Vec<(String, Value)>);

impl FieldMap {
    fn insert(&mut self, name: &str, value: Value) {
        self.0.push((name.to_string(), value));
    }
}

impl Visit for FieldMap {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field.name(), Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_keys_come_first_and_are_not_overwritten() {
        let fields = vec![
            ("message".to_string(), Value::from("logs \"loaded\"")),
            ("partitions".to_string(), Value::from(3)),
            ("level".to_string(), Value::from("spoofed")),
        ];
        let line = event_json("2026-01-01T00:00:00Z", "INFO", "moldau::serve", fields);
        assert_eq!(
            line,
            r#"{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","target":"moldau::serve","message":"logs \"loaded\"","partitions":3}"#
        );
    }
}
