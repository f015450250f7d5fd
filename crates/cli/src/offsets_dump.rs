//! `__consumer_offsets` records for `moldau dump-log`, decoded with the group
//! coordinator's codecs and printed as Kafka's `--offsets-decoder` prints them:
//! `{"type":"1","data":{...}}` for keys, `{"version":"3","data":{...}}` for values,
//! `<DELETE>` for tombstones; subscription and assignment bytes in base64.
//!
//! The log crate reads the segment but does not know these schemas (it sits below the
//! coordinator), so the CLI hands this formatter to [`moldau_log::dump::dump_files`].

use std::io;

use moldau_coordinator::records::OFFSET_COMMIT_VALUE_EXPIRING_VERSION;
use moldau_coordinator::{GroupMetadataValue, OffsetCommitValue, RecordError, RecordKey};
use serde::Serialize as _;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use crate::base64::Base64;

/// `(key, payload)` text for the `__consumer_offsets` record at `offset`; `value` is
/// `None` for a tombstone. Records that do not decode are described, never fatal.
pub fn format_offsets_record(
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> (String, String) {
    let skipping = |reason: &dyn std::fmt::Display| {
        (
            format!("Error at offset {offset}, skipping. {reason}"),
            String::new(),
        )
    };
    let Some(key) = key else {
        return skipping(&"Record had a missing key");
    };
    let key_type = match schema_version(key) {
        Ok(t) => t,
        Err(e) => return skipping(&e),
    };
    let (key_data, is_offset_commit) = match RecordKey::decode(key) {
        Ok(RecordKey::OffsetCommit(k)) => (
            format!(
                "{{\"group\":{},\"topic\":{},\"partition\":{}}}",
                json_string(&k.group),
                json_string(&k.topic),
                k.partition
            ),
            true,
        ),
        Ok(RecordKey::GroupMetadata(k)) => {
            (format!("{{\"group\":{}}}", json_string(&k.group)), false)
        }
        // KIP-848 consumer group records: the coordinator's own rendering.
        Ok(RecordKey::Consumer(k)) => {
            let text =
                moldau_coordinator::consumer_group::records::describe_consumer_record(&k, value);
            return match text.split_once(" payload: ") {
                Some((key, payload)) => (
                    key.trim_start_matches("key: ").to_string(),
                    payload.to_string(),
                ),
                None => (text, String::new()),
            };
        }
        // Types above group metadata (share groups) and negative ones.
        Ok(RecordKey::Other { .. }) | Err(RecordError::UnsupportedVersion { .. }) => {
            return (
                format!("Unknown record type {key_type} at offset {offset}, skipping."),
                String::new(),
            )
        }
        Err(e) => return skipping(&e),
    };
    let key_text = format!("{{\"type\":\"{key_type}\",\"data\":{key_data}}}");
    let Some(value) = value else {
        return (key_text, "<DELETE>".to_string());
    };
    let value_data = if is_offset_commit {
        offset_commit_json(value)
    } else {
        group_metadata_json(value)
    };
    let value_text = match value_data {
        Ok(text) => text,
        Err(e) => skipping(&e).0,
    };
    (key_text, value_text)
}

/// The int16 every key (its record type) and value (its schema version) starts with.
fn schema_version(bytes: &[u8]) -> Result<i16, RecordError> {
    match *bytes {
        [a, b, ..] => Ok(i16::from_be_bytes([a, b])),
        _ => Err(RecordError::Truncated {
            at: 0,
            needed: 2,
            available: bytes.len(),
        }),
    }
}

/// Fields appear only in the value versions that have them, as Kafka prints them.
fn offset_commit_json(value: &[u8]) -> Result<String, RecordError> {
    let version = schema_version(value)?;
    let v = OffsetCommitValue::decode(value)?;
    let mut s = format!("{{\"offset\":{}", v.offset);
    if version >= 3 {
        s.push_str(&format!(",\"leaderEpoch\":{}", v.leader_epoch));
    }
    s.push_str(&format!(
        ",\"metadata\":{},\"commitTimestamp\":{}",
        json_string(&v.metadata),
        v.commit_timestamp_ms
    ));
    if version == OFFSET_COMMIT_VALUE_EXPIRING_VERSION {
        // The decoder reads a negative expiry (Kafka writes -1) as none.
        let expire = v.expire_timestamp_ms.unwrap_or(-1);
        s.push_str(&format!(",\"expireTimestamp\":{expire}"));
    }
    s.push('}');
    Ok(format!("{{\"version\":\"{version}\",\"data\":{s}}}"))
}

fn group_metadata_json(value: &[u8]) -> Result<String, RecordError> {
    let version = schema_version(value)?;
    let g = GroupMetadataValue::decode(value)?;
    let members: Vec<String> = g
        .members
        .iter()
        .map(|m| {
            let mut s = format!("{{\"memberId\":{}", json_string(&m.member_id));
            if version >= 3 {
                s.push_str(&format!(
                    ",\"groupInstanceId\":{}",
                    json_opt(m.group_instance_id.as_deref())
                ));
            }
            s.push_str(&format!(
                ",\"clientId\":{},\"clientHost\":{}",
                json_string(&m.client_id),
                json_string(&m.client_host)
            ));
            if version >= 1 {
                s.push_str(&format!(",\"rebalanceTimeout\":{}", m.rebalance_timeout_ms));
            }
            s.push_str(&format!(
                ",\"sessionTimeout\":{},\"subscription\":\"{}\",\"assignment\":\"{}\"}}",
                m.session_timeout_ms,
                Base64::Standard.encode(&m.subscription),
                Base64::Standard.encode(&m.assignment)
            ));
            s
        })
        .collect();
    let mut s = format!(
        "{{\"protocolType\":{},\"generation\":{},\"protocol\":{},\"leader\":{}",
        json_string(&g.protocol_type),
        g.generation,
        json_opt(g.protocol.as_deref()),
        json_opt(g.leader.as_deref())
    );
    if version >= 2 {
        s.push_str(&format!(
            ",\"currentStateTimestamp\":{}",
            g.current_state_timestamp_ms
        ));
    }
    s.push_str(&format!(",\"members\":[{}]}}", members.join(",")));
    Ok(format!("{{\"version\":\"{version}\",\"data\":{s}}}"))
}

/// serde_json's compact output, but every control character other than `\n`, `\r` and
/// `\t` written as `\u00xx` (backspace and form feed too), as the dump always has.
struct DumpJsonFormatter;

impl Formatter for DumpJsonFormatter {
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        match escape {
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            other => CompactFormatter.write_char_escape(writer, other),
        }
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, DumpJsonFormatter);
    // Writing a str into a Vec cannot fail, and serde_json writes valid UTF-8.
    match s.serialize(&mut serializer) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => "null".to_string(),
    }
}

fn json_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), json_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offset commit key of `version` (0 and 1 share a layout).
    fn commit_key(version: i16, group: &str, topic: &str, partition: i32) -> Vec<u8> {
        let mut key = version.to_be_bytes().to_vec();
        s16(&mut key, group);
        s16(&mut key, topic);
        key.extend_from_slice(&partition.to_be_bytes());
        key
    }

    /// A group metadata value v2 or v3 (v3 adds each member's instance id) with one
    /// member whose subscription is [1, 2] and whose assignment is empty.
    fn group_value(version: i16, instance_id: &str) -> Vec<u8> {
        let mut value = version.to_be_bytes().to_vec();
        s16(&mut value, "consumer");
        value.extend_from_slice(&3i32.to_be_bytes());
        s16(&mut value, "range");
        s16(&mut value, "m1");
        value.extend_from_slice(&77i64.to_be_bytes());
        value.extend_from_slice(&1i32.to_be_bytes());
        s16(&mut value, "m1");
        if version >= 3 {
            s16(&mut value, instance_id);
        }
        s16(&mut value, "cid");
        s16(&mut value, "/1.2.3.4");
        value.extend_from_slice(&300i32.to_be_bytes());
        value.extend_from_slice(&10i32.to_be_bytes());
        value.extend_from_slice(&2i32.to_be_bytes());
        value.extend_from_slice(&[1, 2]);
        value.extend_from_slice(&0i32.to_be_bytes());
        value
    }

    fn s16(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn offset_commit_key_value_and_tombstone() {
        let key = commit_key(1, "grp", "orders", 7);
        let mut value = 3i16.to_be_bytes().to_vec();
        value.extend_from_slice(&42i64.to_be_bytes());
        value.extend_from_slice(&5i32.to_be_bytes());
        s16(&mut value, "m\"x");
        value.extend_from_slice(&1000i64.to_be_bytes());
        let (k, v) = format_offsets_record(9, Some(&key), Some(&value));
        assert_eq!(
            k,
            r#"{"type":"1","data":{"group":"grp","topic":"orders","partition":7}}"#
        );
        assert_eq!(
            v,
            r#"{"version":"3","data":{"offset":42,"leaderEpoch":5,"metadata":"m\"x","commitTimestamp":1000}}"#
        );
        let (k, tomb) = format_offsets_record(9, Some(&key), None);
        assert!(k.starts_with(r#"{"type":"1","#), "{k}");
        assert_eq!(tomb, "<DELETE>");
    }

    #[test]
    fn expiring_offset_commit_value_v1_and_old_key_v0() {
        let key = commit_key(0, "g", "t", 0);
        // v1: offset, metadata, commit timestamp, expire timestamp.
        let mut value = 1i16.to_be_bytes().to_vec();
        value.extend_from_slice(&5i64.to_be_bytes());
        s16(&mut value, "");
        value.extend_from_slice(&1700i64.to_be_bytes());
        value.extend_from_slice(&9000i64.to_be_bytes());
        let (k, v) = format_offsets_record(0, Some(&key), Some(&value));
        assert_eq!(
            k,
            r#"{"type":"0","data":{"group":"g","topic":"t","partition":0}}"#
        );
        assert_eq!(
            v,
            r#"{"version":"1","data":{"offset":5,"metadata":"","commitTimestamp":1700,"expireTimestamp":9000}}"#
        );
    }

    #[test]
    fn group_metadata_v2_and_v3() {
        let key = [0, 2, 0, 1, b'g'];
        let (k, v) = format_offsets_record(0, Some(&key), Some(&group_value(2, "")));
        assert_eq!(k, r#"{"type":"2","data":{"group":"g"}}"#);
        assert_eq!(
            v,
            r#"{"version":"2","data":{"protocolType":"consumer","generation":3,"protocol":"range","leader":"m1","currentStateTimestamp":77,"members":[{"memberId":"m1","clientId":"cid","clientHost":"/1.2.3.4","rebalanceTimeout":300,"sessionTimeout":10,"subscription":"AQI=","assignment":""}]}}"#
        );
        // Control characters are escaped as \u00xx, backspace included.
        let (_, v) = format_offsets_record(0, Some(&key), Some(&group_value(3, "i\u{8}\u{1f}")));
        assert_eq!(
            v,
            r#"{"version":"3","data":{"protocolType":"consumer","generation":3,"protocol":"range","leader":"m1","currentStateTimestamp":77,"members":[{"memberId":"m1","groupInstanceId":"i\u0008\u001f","clientId":"cid","clientHost":"/1.2.3.4","rebalanceTimeout":300,"sessionTimeout":10,"subscription":"AQI=","assignment":""}]}}"#
        );
        let (_, tomb) = format_offsets_record(0, Some(&key), None);
        assert_eq!(tomb, "<DELETE>");
    }

    #[test]
    fn unknown_and_broken_records_are_described() {
        let (k, v) = format_offsets_record(5, Some(&[0, 9]), None);
        assert_eq!(k, "Unknown record type 9 at offset 5, skipping.");
        assert_eq!(v, "");
        let (k, _) = format_offsets_record(5, Some(&[0xff, 0xfe]), None);
        assert_eq!(k, "Unknown record type -2 at offset 5, skipping.");
        let (k, _) = format_offsets_record(5, Some(&[0, 1, 0x7f]), None);
        assert!(k.starts_with("Error at offset 5, skipping. "), "{k}");
        let (k, _) = format_offsets_record(5, Some(&[0]), None);
        assert!(k.starts_with("Error at offset 5, skipping. "), "{k}");
        let (k, v) = format_offsets_record(6, None, Some(&[0, 3]));
        assert_eq!(k, "Error at offset 6, skipping. Record had a missing key");
        assert_eq!(v, "");
        let (k, v) = format_offsets_record(7, Some(&[0, 2, 0, 1, b'g']), Some(&[0, 3, 1]));
        assert_eq!(k, r#"{"type":"2","data":{"group":"g"}}"#);
        assert!(v.starts_with("Error at offset 7, skipping. "), "{v}");
    }
}
