//! How `moldau consume` prints a record: a kcat-style format string (`%k %s %o`) or
//! one JSON object per line.

use moldau_client::ConsumerRecord;
use serde_json::{json, Value};

/// Longest format string accepted, in bytes.
const FORMAT_BYTES_MAX: usize = 4096;

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    /// `%s`
    Value,
    /// `%S`: value length, -1 for null.
    ValueLen,
    /// `%k`
    Key,
    /// `%K`: key length, -1 for null.
    KeyLen,
    /// `%t`
    Topic,
    /// `%p`
    Partition,
    /// `%o`
    Offset,
    /// `%T`: timestamp in ms since the epoch.
    Timestamp,
    /// `%h`: headers as `k=v,k2=v2`.
    Headers,
}

/// A parsed format string. A record's text ends with a line break unless the format
/// already ends with one (so kcat's `'%s\n'` and plain `'%s'` both print lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFormat {
    parts: Vec<Part>,
}

/// The placeholders a format may use, for error messages and help.
pub const FORMAT_HELP: &str = "%s value, %k key, %t topic, %p partition, %o offset, \
%T timestamp (ms), %h headers (k=v,…), %S value length, %K key length, %% a percent \
sign; \\n \\t \\\\ escapes";

impl Default for RecordFormat {
    /// The value alone, like `kafka-console-consumer.sh`.
    fn default() -> Self {
        RecordFormat {
            parts: vec![Part::Value, Part::Literal(b"\n".to_vec())],
        }
    }
}

impl RecordFormat {
    /// Parses a format string.
    pub fn parse(format: &str) -> Result<RecordFormat, String> {
        if format.len() > FORMAT_BYTES_MAX {
            return Err(format!(
                "the format is longer than {FORMAT_BYTES_MAX} bytes"
            ));
        }
        let mut parts = Vec::new();
        let mut literal = Vec::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            let part = match c {
                '%' => match chars.next() {
                    Some('s') => Part::Value,
                    Some('S') => Part::ValueLen,
                    Some('k') => Part::Key,
                    Some('K') => Part::KeyLen,
                    Some('t') => Part::Topic,
                    Some('p') => Part::Partition,
                    Some('o') => Part::Offset,
                    Some('T') => Part::Timestamp,
                    Some('h') => Part::Headers,
                    Some('%') => {
                        literal.push(b'%');
                        continue;
                    }
                    Some(other) => {
                        return Err(format!("unknown placeholder %{other} (use {FORMAT_HELP})"))
                    }
                    None => return Err("the format ends with a lone %".into()),
                },
                '\\' => {
                    let escaped = match chars.next() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('0') => '\0',
                        Some('\\') => '\\',
                        Some(other) => {
                            literal.push(b'\\');
                            other
                        }
                        None => '\\',
                    };
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                other => {
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
        }
        if literal.last() != Some(&b'\n') {
            literal.push(b'\n');
        }
        parts.push(Part::Literal(literal));
        Ok(RecordFormat { parts })
    }

    /// Appends the record's text to `out`. Null keys and values print as nothing.
    pub fn write(&self, r: &ConsumerRecord, out: &mut Vec<u8>) {
        use std::io::Write;
        for part in &self.parts {
            // Writing into a Vec cannot fail.
            let _ = match part {
                Part::Literal(bytes) => {
                    out.extend_from_slice(bytes);
                    Ok(())
                }
                Part::Value => {
                    out.extend_from_slice(r.value.as_deref().unwrap_or_default());
                    Ok(())
                }
                Part::Key => {
                    out.extend_from_slice(r.key.as_deref().unwrap_or_default());
                    Ok(())
                }
                Part::ValueLen => {
                    write!(out, "{}", r.value.as_ref().map_or(-1, |v| v.len() as i64))
                }
                Part::KeyLen => write!(out, "{}", r.key.as_ref().map_or(-1, |k| k.len() as i64)),
                Part::Topic => {
                    out.extend_from_slice(r.topic.as_bytes());
                    Ok(())
                }
                Part::Partition => write!(out, "{}", r.partition),
                Part::Offset => write!(out, "{}", r.offset),
                Part::Timestamp => write!(out, "{}", r.timestamp),
                Part::Headers => {
                    for (i, h) in r.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(h.key.as_bytes());
                        out.push(b'=');
                        out.extend_from_slice(h.value.as_deref().unwrap_or_default());
                    }
                    Ok(())
                }
            };
        }
    }
}

/// A record as one JSON object (keys, values and headers as text; invalid UTF-8 is
/// replaced, null stays null).
pub fn record_json(r: &ConsumerRecord) -> Value {
    let text =
        |b: &Option<bytes::Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    json!({
        "topic": &*r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": text(&r.key),
        "value": text(&r.value),
        "headers": r.headers.iter().map(|h| json!([h.key, text(&h.value)])).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use moldau_client::{Header, TimestampType};

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            topic: "events".into(),
            partition: 2,
            offset: 41,
            timestamp: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            leader_epoch: 0,
            key: Some(Bytes::from_static(b"user-1")),
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                Header {
                    key: "src".into(),
                    value: Some(Bytes::from_static(b"web")),
                },
                Header {
                    key: "n".into(),
                    value: None,
                },
            ],
        }
    }

    fn render(format: &RecordFormat, r: &ConsumerRecord) -> String {
        let mut out = Vec::new();
        format.write(r, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn placeholders_print_record_fields() {
        let f = RecordFormat::parse("%k %s %o %p %T %h").expect("valid");
        assert_eq!(
            render(&f, &record()),
            "user-1 hello 41 2 1700000000000 src=web,n=\n"
        );
        let f = RecordFormat::parse("%t[%p]@%o\\t%K/%S 100%%\\n").expect("valid");
        assert_eq!(render(&f, &record()), "events[2]@41\t6/5 100%\n");
    }

    #[test]
    fn nulls_print_empty_with_length_minus_one() {
        let mut r = record();
        r.key = None;
        r.value = None;
        let f = RecordFormat::parse("[%k][%s] %K %S").expect("valid");
        assert_eq!(render(&f, &r), "[][] -1 -1\n");
        assert_eq!(render(&RecordFormat::default(), &record()), "hello\n");
    }

    #[test]
    fn bad_formats_are_refused() {
        assert!(RecordFormat::parse("%x").unwrap_err().contains("%x"));
        assert!(RecordFormat::parse("abc %").is_err());
        assert!(RecordFormat::parse(&"a".repeat(FORMAT_BYTES_MAX + 1)).is_err());
    }

    #[test]
    fn json_keeps_nulls_and_headers_in_order() {
        let mut r = record();
        r.key = None;
        let v = record_json(&r);
        assert_eq!(v["key"], Value::Null);
        assert_eq!(v["value"], "hello");
        assert_eq!(v["offset"], 41);
        assert_eq!(v["headers"][0], json!(["src", "web"]));
        assert_eq!(v["headers"][1], json!(["n", null]));
    }
}
