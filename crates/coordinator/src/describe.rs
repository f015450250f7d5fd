//! Human-readable rendering of `__consumer_offsets` records for `moldau dump-log`, in
//! the spirit of `kafka-dump-log.sh --offsets-decoder`: one JSON object for the key and
//! one for the value.

use std::fmt::Write;

use crate::consumer_protocol::{
    assignment_partitions, subscription_topics, CONSUMER_PROTOCOL_TYPE,
};
use crate::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};

/// Renders one record: `key: {...} payload: {...}`; a tombstone's payload is `null`,
/// and bytes that do not decode are described with the reason.
pub fn describe_record(key: &[u8], value: Option<&[u8]>) -> String {
    let decoded = match RecordKey::decode(key) {
        Ok(k) => k,
        Err(e) => return format!("key: <undecodable: {e}> payload: {}", raw(value)),
    };
    let mut out = String::new();
    match &decoded {
        RecordKey::OffsetCommit(k) => {
            let _ = write!(
                out,
                "key: {{\"type\":1,\"data\":{{\"group\":{},\"topic\":{},\"partition\":{}}}}}",
                json(&k.group),
                json(&k.topic),
                k.partition
            );
        }
        RecordKey::GroupMetadata(k) => {
            let _ = write!(
                out,
                "key: {{\"type\":2,\"data\":{{\"group\":{}}}}}",
                json(&k.group)
            );
        }
        RecordKey::Consumer(k) => {
            return crate::consumer_group::records::describe_consumer_record(k, value);
        }
        RecordKey::Other { record_type } => {
            let _ = write!(
                out,
                "key: {{\"type\":{record_type}}} payload: {}",
                raw(value)
            );
            return out;
        }
    }
    out.push_str(" payload: ");
    let Some(value) = value else {
        out.push_str("null");
        return out;
    };
    let version = if value.len() >= 2 {
        i16::from_be_bytes([value[0], value[1]])
    } else {
        -1
    };
    match decoded {
        RecordKey::OffsetCommit(_) => match OffsetCommitValue::decode(value) {
            Ok(v) => {
                let _ = write!(
                    out,
                    "{{\"version\":{version},\"data\":{{\"offset\":{},\"leaderEpoch\":{},\"metadata\":{},\"commitTimestamp\":{}",
                    v.offset,
                    v.leader_epoch,
                    json(&v.metadata),
                    v.commit_timestamp_ms
                );
                if let Some(e) = v.expire_timestamp_ms {
                    let _ = write!(out, ",\"expireTimestamp\":{e}");
                }
                out.push_str("}}");
            }
            Err(e) => {
                let _ = write!(out, "<undecodable: {e}>");
            }
        },
        RecordKey::GroupMetadata(_) => match GroupMetadataValue::decode(value) {
            Ok(v) => group_json(&mut out, version, &v),
            Err(e) => {
                let _ = write!(out, "<undecodable: {e}>");
            }
        },
        RecordKey::Consumer(_) | RecordKey::Other { .. } => {}
    }
    out
}

fn group_json(out: &mut String, version: i16, v: &GroupMetadataValue) {
    let _ = write!(
        out,
        "{{\"version\":{version},\"data\":{{\"protocolType\":{},\"generation\":{},\"protocol\":{},\"leader\":{},\"currentStateTimestamp\":{},\"members\":[",
        json(&v.protocol_type),
        v.generation,
        opt_json(v.protocol.as_deref()),
        opt_json(v.leader.as_deref()),
        v.current_state_timestamp_ms
    );
    let consumer = v.protocol_type == CONSUMER_PROTOCOL_TYPE;
    for (i, m) in v.members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"memberId\":{},\"groupInstanceId\":{},\"clientId\":{},\"clientHost\":{},\"rebalanceTimeout\":{},\"sessionTimeout\":{},",
            json(&m.member_id),
            opt_json(m.group_instance_id.as_deref()),
            json(&m.client_id),
            json(&m.client_host),
            m.rebalance_timeout_ms,
            m.session_timeout_ms
        );
        match subscription_topics(&m.subscription)
            .ok()
            .filter(|_| consumer)
        {
            Some(topics) => {
                let list: Vec<String> = topics.iter().map(|t| json(t)).collect();
                let _ = write!(out, "\"subscription\":{{\"topics\":[{}]}},", list.join(","));
            }
            None => {
                let _ = write!(out, "\"subscription\":\"{} bytes\",", m.subscription.len());
            }
        }
        match assignment_partitions(&m.assignment)
            .ok()
            .filter(|_| consumer)
        {
            Some(parts) => {
                let list: Vec<String> = parts
                    .iter()
                    .map(|(t, ps)| format!("{}:{:?}", json(t), ps).replace(' ', ""))
                    .collect();
                let _ = write!(out, "\"assignment\":{{{}}}}}", list.join(","));
            }
            None => {
                let _ = write!(out, "\"assignment\":\"{} bytes\"}}", m.assignment.len());
            }
        }
    }
    out.push_str("]}}");
}

fn raw(value: Option<&[u8]>) -> String {
    match value {
        None => "null".into(),
        Some(v) => format!("\"{} bytes\"", v.len()),
    }
}

fn opt_json(s: Option<&str>) -> String {
    s.map_or_else(|| "null".into(), json)
}

/// A JSON string literal.
fn json(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer_protocol::tests::{assignment, subscription};
    use crate::records::{GroupMetadataKey, MemberMetadata, OffsetCommitKey};
    use bytes::Bytes;

    #[test]
    fn describes_offset_commits_and_tombstones() {
        let key = OffsetCommitKey {
            group: "g\"1".into(),
            topic: "t".into(),
            partition: 0,
        }
        .encode()
        .unwrap_or_else(|e| panic!("{e}"));
        let value = OffsetCommitValue {
            offset: 5,
            leader_epoch: 0,
            metadata: String::new(),
            commit_timestamp_ms: 1700,
            expire_timestamp_ms: None,
        }
        .encode()
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            describe_record(&key, Some(&value)),
            "key: {\"type\":1,\"data\":{\"group\":\"g\\\"1\",\"topic\":\"t\",\"partition\":0}} \
             payload: {\"version\":3,\"data\":{\"offset\":5,\"leaderEpoch\":0,\"metadata\":\"\",\"commitTimestamp\":1700}}"
        );
        assert!(describe_record(&key, None).ends_with("payload: null"));
        assert!(describe_record(&key, Some(&[0, 3, 1])).contains("undecodable"));
        assert!(describe_record(&[1], None).starts_with("key: <undecodable"));
    }

    #[test]
    fn describes_group_metadata_with_consumer_protocol() {
        let key = GroupMetadataKey { group: "g".into() }
            .encode()
            .unwrap_or_else(|e| panic!("{e}"));
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some("range".into()),
            leader: Some("m".into()),
            current_state_timestamp_ms: 9,
            members: vec![MemberMetadata {
                member_id: "m".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout_ms: 1,
                session_timeout_ms: 2,
                subscription: Bytes::from(subscription(&["t"])),
                assignment: Bytes::from(assignment(&[("t", &[0, 1])])),
            }],
        }
        .encode()
        .unwrap_or_else(|e| panic!("{e}"));
        let text = describe_record(&key, Some(&value));
        assert!(text.contains("\"generation\":1"), "{text}");
        assert!(
            text.contains("\"subscription\":{\"topics\":[\"t\"]}"),
            "{text}"
        );
        assert!(text.contains("\"assignment\":{\"t\":[0,1]}"), "{text}");
    }
}
