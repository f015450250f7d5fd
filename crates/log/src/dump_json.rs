//! `moldau dump-log --json`: `.log` segments as JSON lines for scripts, one object
//! per batch and (with `--print-data-log`) one per record, with the fields the text
//! dump prints under snake_case names. Every object names its `file` and its `type`
//! (`batch`, `record`, `invalid_bytes`, `undecodable_records`).

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use moldau_protocol::batch::BatchView;

use crate::dump::{codec_name, timestamp_type, OffsetsRecordFormat};
use crate::error::LogError;
use crate::segment::LOG_SUFFIX;
use crate::segment_walk::{walk_segment, RecordContent, RecordLine, SegmentSink};

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bytes_text(b: Option<&[u8]>) -> String {
    b.map_or_else(
        || "null".to_string(),
        |b| string(&String::from_utf8_lossy(b)),
    )
}

/// One object per line: `fields` are `(name, JSON text)` pairs, in order.
fn line(
    out: &mut dyn Write,
    path: &Path,
    kind: &str,
    fields: &[(&str, String)],
) -> Result<(), LogError> {
    let mut text = format!(
        "{{\"file\":{},\"type\":{}",
        string(&path.display().to_string()),
        string(kind)
    );
    for (name, value) in fields {
        let _ = write!(text, ",{}:{value}", string(name));
    }
    text.push_str("}\n");
    out.write_all(text.as_bytes()).map_err(LogError::at(path))
}

/// Dumps `.log` files as JSON lines; any other kind of file is refused before anything
/// is printed.
pub fn dump_logs_json(
    files: &[PathBuf],
    print_data_log: bool,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
    out: &mut dyn Write,
) -> Result<(), LogError> {
    if let Some(other) = files.iter().find(|f| {
        !f.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(LOG_SUFFIX))
    }) {
        return Err(LogError::InvalidConfig(format!(
            "dump-log --json prints .log segments only; {} is not one",
            other.display()
        )));
    }
    for file in files {
        dump_log_json(file, print_data_log, offsets_format, out)?;
    }
    Ok(())
}

fn batch_fields(view: &BatchView<'_>, position: u64) -> Vec<(&'static str, String)> {
    let delete_horizon = if view.has_delete_horizon() {
        view.base_timestamp().to_string()
    } else {
        "null".to_string()
    };
    vec![
        ("base_offset", view.base_offset().to_string()),
        ("last_offset", view.last_offset().to_string()),
        ("count", view.records_count().to_string()),
        ("base_sequence", view.base_sequence().to_string()),
        ("last_sequence", view.last_sequence().to_string()),
        ("producer_id", view.producer_id().to_string()),
        ("producer_epoch", view.producer_epoch().to_string()),
        (
            "partition_leader_epoch",
            view.partition_leader_epoch().to_string(),
        ),
        ("is_transactional", view.is_transactional().to_string()),
        ("is_control", view.is_control().to_string()),
        ("delete_horizon_ms", delete_horizon),
        ("position", position.to_string()),
        ("timestamp_type", string(timestamp_type(view))),
        ("max_timestamp", view.max_timestamp().to_string()),
        ("size", view.size().to_string()),
        ("magic", view.magic().to_string()),
        ("compression", string(codec_name(view.codec()))),
        ("crc", view.stored_crc().to_string()),
        (
            "is_valid",
            (view.stored_crc() == view.computed_crc()).to_string(),
        ),
    ]
}

fn dump_log_json(
    path: &Path,
    print_data_log: bool,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
    out: &mut dyn Write,
) -> Result<(), LogError> {
    walk_segment(
        path,
        print_data_log,
        offsets_format,
        &mut JsonSink { path, out },
    )
}

/// One JSON object per line, named by `type`.
struct JsonSink<'a> {
    path: &'a Path,
    out: &'a mut dyn Write,
}

impl SegmentSink for JsonSink<'_> {
    fn batch(&mut self, view: &BatchView<'_>, position: u64) -> Result<(), LogError> {
        line(self.out, self.path, "batch", &batch_fields(view, position))
    }

    fn record(&mut self, view: &BatchView<'_>, r: RecordLine<'_>) -> Result<(), LogError> {
        let header_keys: Vec<String> = r.header_keys.iter().map(|k| string(k)).collect();
        let mut fields = vec![
            ("offset", r.offset.to_string()),
            ("timestamp_type", string(timestamp_type(view))),
            ("timestamp", r.timestamp.to_string()),
            ("key_size", r.key_size.to_string()),
            ("value_size", r.value_size.to_string()),
            ("sequence", r.sequence.to_string()),
            ("header_keys", format!("[{}]", header_keys.join(","))),
        ];
        match r.content {
            RecordContent::Control(description) => {
                fields.push(("control", string(description.trim())))
            }
            RecordContent::Offsets { key, payload } => {
                fields.push(("key", string(&key)));
                fields.push(("payload", string(&payload)));
            }
            RecordContent::Raw { key, value } => {
                fields.push(("key", bytes_text(key)));
                fields.push(("payload", bytes_text(value)));
            }
        }
        line(self.out, self.path, "record", &fields)
    }

    fn undecodable_records(&mut self, view: &BatchView<'_>, error: &str) -> Result<(), LogError> {
        line(
            self.out,
            self.path,
            "undecodable_records",
            &[
                ("base_offset", view.base_offset().to_string()),
                ("error", string(error)),
            ],
        )
    }

    fn invalid_bytes(&mut self, valid_bytes: u64, invalid: u64) -> Result<(), LogError> {
        line(
            self.out,
            self.path,
            "invalid_bytes",
            &[
                ("position", valid_bytes.to_string()),
                ("bytes", invalid.to_string()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn other_files_are_refused_before_printing() {
        let mut out = Vec::new();
        let files = [PathBuf::from("a/00000000000000000000.index")];
        let err = dump_logs_json(&files, true, None, &mut out).err();
        assert!(
            err.is_some_and(|e| e.to_string().contains(".log segments only")),
            "refused"
        );
        assert!(out.is_empty());
    }
}
