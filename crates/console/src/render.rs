//! How a record's key, value and headers appear in the browser: text, pretty JSON or
//! hex, cut to a preview size so one huge value cannot swamp a page (the full bytes
//! stay downloadable).

use crate::json_layout;
use moldau_client::{ConsumerRecord, TimestampType};
use serde::{Deserialize, Serialize};

/// Longest text or JSON shown for one key, value or header, in bytes.
pub const PREVIEW_TEXT_BYTES_MAX: usize = 16 * 1024;
/// Bytes shown as hex (three characters each) for binary data.
pub const PREVIEW_HEX_BYTES_MAX: usize = 4 * 1024;

/// How to show bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenderMode {
    /// JSON when it parses as an object or array, else text when UTF-8, else hex.
    #[default]
    Auto,
    Text,
    Json,
    Hex,
}

/// Bytes ready to show.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rendered {
    /// `text`, `json` or `hex`.
    pub format: &'static str,
    pub data: String,
    /// Size of the whole original, in bytes.
    pub size: usize,
    /// `data` shows only the start.
    pub truncated: bool,
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn text(s: &str, size: usize) -> Rendered {
    let shown = cut(s, PREVIEW_TEXT_BYTES_MAX);
    Rendered {
        format: "text",
        truncated: shown.len() < s.len(),
        data: shown.to_string(),
        size,
    }
}

fn hex(bytes: &[u8]) -> Rendered {
    let shown = &bytes[..bytes.len().min(PREVIEW_HEX_BYTES_MAX)];
    let mut data = String::with_capacity(shown.len() * 3);
    for (i, b) in shown.iter().enumerate() {
        if i > 0 {
            data.push(if i % 16 == 0 { '\n' } else { ' ' });
        }
        data.push_str(&format!("{b:02x}"));
    }
    Rendered {
        format: "hex",
        data,
        size: bytes.len(),
        truncated: shown.len() < bytes.len(),
    }
}

/// Pretty JSON if `s` is a JSON object or array that fits the preview, with its keys
/// in the order they were written.
fn pretty_json(s: &str) -> Option<String> {
    let t = s.trim_start();
    if s.len() > PREVIEW_TEXT_BYTES_MAX || !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    json_layout::pretty(s)
}

/// Renders bytes for display.
pub fn render(bytes: &[u8], mode: RenderMode) -> Rendered {
    let size = bytes.len();
    match mode {
        RenderMode::Hex => hex(bytes),
        RenderMode::Text => text(&String::from_utf8_lossy(bytes), size),
        RenderMode::Json | RenderMode::Auto => match std::str::from_utf8(bytes) {
            Ok(s) => match pretty_json(s) {
                Some(p) => Rendered {
                    format: "json",
                    truncated: p.len() > PREVIEW_TEXT_BYTES_MAX,
                    data: cut(&p, PREVIEW_TEXT_BYTES_MAX).to_string(),
                    size,
                },
                None => text(s, size),
            },
            Err(_) if mode == RenderMode::Json => text(&String::from_utf8_lossy(bytes), size),
            Err(_) => hex(bytes),
        },
    }
}

/// A header as shown.
#[derive(Debug, Clone, Serialize)]
pub struct HeaderView {
    pub key: String,
    pub value: Option<Rendered>,
}

/// A record as shown.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: &'static str,
    pub key: Option<Rendered>,
    /// `None` for a tombstone.
    pub value: Option<Rendered>,
    pub headers: Vec<HeaderView>,
}

impl RecordView {
    pub fn new(r: &ConsumerRecord, mode: RenderMode) -> Self {
        RecordView {
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type: match r.timestamp_type {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            },
            key: r.key.as_deref().map(|k| render(k, mode)),
            value: r.value.as_deref().map(|v| render(v, mode)),
            headers: r
                .headers
                .iter()
                .map(|h| HeaderView {
                    key: h.key.clone(),
                    value: h.value.as_deref().map(|v| render(v, mode)),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_json_text_or_hex() {
        let j = render(br#"{"a":1,"b":[true]}"#, RenderMode::Auto);
        assert_eq!(j.format, "json");
        assert!(j.data.contains("\n  \"a\": 1"));
        // Keys as written, not sorted.
        let z = render(br#"{"z":1,"a":2}"#, RenderMode::Auto);
        assert_eq!(z.data, "{\n  \"z\": 1,\n  \"a\": 2\n}");
        let t = render("grüße".as_bytes(), RenderMode::Auto);
        assert_eq!((t.format, t.data.as_str()), ("text", "grüße"));
        let h = render(&[0xff, 0x00, 0x10], RenderMode::Auto);
        assert_eq!((h.format, h.data.as_str()), ("hex", "ff 00 10"));
        assert_eq!(render(b"42", RenderMode::Auto).format, "text");
        assert_eq!(render(b"{broken", RenderMode::Auto).format, "text");
    }

    #[test]
    fn forced_modes() {
        assert_eq!(render(b"ab", RenderMode::Hex).data, "61 62");
        assert_eq!(render(&[0xff], RenderMode::Text).data, "\u{fffd}");
        assert_eq!(render(&[0xff], RenderMode::Json).format, "text");
    }

    #[test]
    fn huge_values_are_truncated_on_char_boundaries() {
        let big = "é".repeat(PREVIEW_TEXT_BYTES_MAX);
        let r = render(big.as_bytes(), RenderMode::Auto);
        assert!(r.truncated);
        assert_eq!(r.size, big.len());
        assert!(r.data.len() <= PREVIEW_TEXT_BYTES_MAX);
        let bin = vec![0xffu8; PREVIEW_HEX_BYTES_MAX * 2];
        let h = render(&bin, RenderMode::Auto);
        assert!(h.truncated);
        assert_eq!(h.data.split_whitespace().count(), PREVIEW_HEX_BYTES_MAX);
    }
}
