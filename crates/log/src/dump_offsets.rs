//! Decoding `__consumer_offsets` records for the dump tool, printed as the JSON
//! Kafka's `--offsets-decoder` prints: `{"type":"1","data":{...}}` for keys and
//! `{"version":"3","data":{...}}` for values, `<DELETE>` for tombstones.
//!
//! Key version 0/1: OffsetCommitKey (group, topic, partition); 2: GroupMetadataKey
//! (group). Values: OffsetCommitValue v0-v4, GroupMetadataValue v0-v4 (v4 and
//! OffsetCommitValue v4 use the flexible encoding). Subscription and assignment
//! bytes are shown base64-encoded.

/// Longest string or byte field accepted from a record (they come from the disk).
pub const OFFSETS_FIELD_BYTES_MAX: usize = 1 << 20;
/// Most group members decoded from one GroupMetadataValue.
pub const GROUP_MEMBERS_MAX: usize = 100_000;

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    flexible: bool,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated")?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn i16(&mut self) -> R<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> R<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> R<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn uvarint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("bad varint".into())
    }
    /// Length of a string/bytes field; `None` for null.
    fn len(&mut self, wide: bool) -> R<Option<usize>> {
        let n: i64 = if self.flexible {
            self.uvarint()? as i64 - 1
        } else if wide {
            self.i32()? as i64
        } else {
            self.i16()? as i64
        };
        if n < 0 {
            return Ok(None);
        }
        if n as usize > OFFSETS_FIELD_BYTES_MAX {
            return Err(format!(
                "field of {n} bytes exceeds {OFFSETS_FIELD_BYTES_MAX}"
            ));
        }
        Ok(Some(n as usize))
    }
    fn nullable_string(&mut self) -> R<Option<String>> {
        match self.len(false)? {
            None => Ok(None),
            Some(n) => Ok(Some(String::from_utf8_lossy(self.take(n)?).into_owned())),
        }
    }
    fn string(&mut self) -> R<String> {
        self.nullable_string()?
            .ok_or_else(|| "null string".to_string())
    }
    fn bytes(&mut self) -> R<Vec<u8>> {
        match self.len(true)? {
            None => Ok(Vec::new()),
            Some(n) => Ok(self.take(n)?.to_vec()),
        }
    }
    fn array_len(&mut self) -> R<usize> {
        let n: i64 = if self.flexible {
            self.uvarint()? as i64 - 1
        } else {
            self.i32()? as i64
        };
        if n < 0 {
            return Ok(0);
        }
        if n as usize > GROUP_MEMBERS_MAX {
            return Err(format!("{n} array entries exceeds {GROUP_MEMBERS_MAX}"));
        }
        Ok(n as usize)
    }
    fn skip_tagged_fields(&mut self) -> R<()> {
        if !self.flexible {
            return Ok(());
        }
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "null".to_string(), json_string)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// (key, payload) text for one `__consumer_offsets` record.
pub fn format_offsets_record(
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> (String, String) {
    let Some(key) = key else {
        return (
            format!("Error at offset {offset}, skipping. Record had a missing key"),
            String::new(),
        );
    };
    let mut r = Reader {
        buf: key,
        at: 0,
        flexible: false,
    };
    let parsed = (|| -> R<(i16, String)> {
        let version = r.i16()?;
        let data = match version {
            0 | 1 => {
                let group = r.string()?;
                let topic = r.string()?;
                let partition = r.i32()?;
                format!(
                    "{{\"group\":{},\"topic\":{},\"partition\":{partition}}}",
                    json_string(&group),
                    json_string(&topic)
                )
            }
            2 => format!("{{\"group\":{}}}", json_string(&r.string()?)),
            other => {
                return Err(format!(
                    "Unknown record type {other} at offset {offset}, skipping."
                ))
            }
        };
        Ok((version, data))
    })();
    let (key_version, key_json) = match parsed {
        Ok(v) => v,
        Err(e) if e.starts_with("Unknown record type") => return (e, String::new()),
        Err(e) => {
            return (
                format!("Error at offset {offset}, skipping. {e}"),
                String::new(),
            )
        }
    };
    let key_text = format!("{{\"type\":\"{key_version}\",\"data\":{key_json}}}");
    let Some(value) = value else {
        return (key_text, "<DELETE>".to_string());
    };
    let value_text = match format_value(key_version, value) {
        Ok(v) => v,
        Err(e) => format!("Error at offset {offset}, skipping. {e}"),
    };
    (key_text, value_text)
}

fn format_value(key_version: i16, value: &[u8]) -> R<String> {
    let mut r = Reader {
        buf: value,
        at: 0,
        flexible: false,
    };
    let version = r.i16()?;
    let data = if key_version <= 1 {
        r.flexible = version >= 4;
        let off = r.i64()?;
        let leader_epoch = if version >= 3 { Some(r.i32()?) } else { None };
        let metadata = r.string()?;
        let commit_ts = r.i64()?;
        let expire_ts = if version == 1 { Some(r.i64()?) } else { None };
        r.skip_tagged_fields()?;
        let mut s = format!("{{\"offset\":{off}");
        if let Some(e) = leader_epoch {
            s.push_str(&format!(",\"leaderEpoch\":{e}"));
        }
        s.push_str(&format!(
            ",\"metadata\":{},\"commitTimestamp\":{commit_ts}",
            json_string(&metadata)
        ));
        if let Some(e) = expire_ts {
            s.push_str(&format!(",\"expireTimestamp\":{e}"));
        }
        s.push('}');
        s
    } else {
        r.flexible = version >= 4;
        let protocol_type = r.string()?;
        let generation = r.i32()?;
        let protocol = r.nullable_string()?;
        let leader = r.nullable_string()?;
        let state_ts = if version >= 2 { Some(r.i64()?) } else { None };
        let n = r.array_len()?;
        let mut members = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let member_id = r.string()?;
            let instance = if version >= 3 {
                r.nullable_string()?
            } else {
                None
            };
            let client_id = r.string()?;
            let client_host = r.string()?;
            let rebalance = if version >= 1 { Some(r.i32()?) } else { None };
            let session = r.i32()?;
            let subscription = r.bytes()?;
            let assignment = r.bytes()?;
            r.skip_tagged_fields()?;
            let mut m = format!("{{\"memberId\":{}", json_string(&member_id));
            if version >= 3 {
                m.push_str(&format!(",\"groupInstanceId\":{}", json_opt(&instance)));
            }
            m.push_str(&format!(
                ",\"clientId\":{},\"clientHost\":{}",
                json_string(&client_id),
                json_string(&client_host)
            ));
            if let Some(t) = rebalance {
                m.push_str(&format!(",\"rebalanceTimeout\":{t}"));
            }
            m.push_str(&format!(
                ",\"sessionTimeout\":{session},\"subscription\":\"{}\",\"assignment\":\"{}\"}}",
                base64(&subscription),
                base64(&assignment)
            ));
            members.push(m);
        }
        r.skip_tagged_fields()?;
        let mut s = format!(
            "{{\"protocolType\":{},\"generation\":{generation},\"protocol\":{},\"leader\":{}",
            json_string(&protocol_type),
            json_opt(&protocol),
            json_opt(&leader)
        );
        if let Some(t) = state_ts {
            s.push_str(&format!(",\"currentStateTimestamp\":{t}"));
        }
        s.push_str(&format!(",\"members\":[{}]}}", members.join(",")));
        s
    };
    Ok(format!("{{\"version\":\"{version}\",\"data\":{data}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s16(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn decodes_offset_commit_key_and_value() {
        let mut key = 1i16.to_be_bytes().to_vec();
        s16(&mut key, "grp");
        s16(&mut key, "orders");
        key.extend_from_slice(&7i32.to_be_bytes());
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
        let (_, tomb) = format_offsets_record(9, Some(&key), None);
        assert_eq!(tomb, "<DELETE>");
    }

    #[test]
    fn decodes_group_metadata_and_survives_garbage() {
        let mut key = 2i16.to_be_bytes().to_vec();
        s16(&mut key, "g");
        let mut value = 2i16.to_be_bytes().to_vec();
        s16(&mut value, "consumer");
        value.extend_from_slice(&3i32.to_be_bytes());
        s16(&mut value, "range");
        s16(&mut value, "m1");
        value.extend_from_slice(&77i64.to_be_bytes());
        value.extend_from_slice(&1i32.to_be_bytes());
        s16(&mut value, "m1");
        s16(&mut value, "cid");
        s16(&mut value, "/1.2.3.4");
        value.extend_from_slice(&300i32.to_be_bytes());
        value.extend_from_slice(&10i32.to_be_bytes());
        value.extend_from_slice(&2i32.to_be_bytes());
        value.extend_from_slice(&[1, 2]);
        value.extend_from_slice(&0i32.to_be_bytes());
        let (k, v) = format_offsets_record(0, Some(&key), Some(&value));
        assert_eq!(k, r#"{"type":"2","data":{"group":"g"}}"#);
        assert!(
            v.contains(
                r#""generation":3,"protocol":"range","leader":"m1","currentStateTimestamp":77"#
            ),
            "{v}"
        );
        assert!(
            v.contains(r#""subscription":"AQI=","assignment":"""#),
            "{v}"
        );
        let (k, _) = format_offsets_record(5, Some(&[0, 9]), None);
        assert_eq!(k, "Unknown record type 9 at offset 5, skipping.");
        let (k, _) = format_offsets_record(5, Some(&[0, 1, 0x7f]), None);
        assert!(k.starts_with("Error at offset 5"));
    }
}
