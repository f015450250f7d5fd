//! `__consumer_offsets` records of consumer groups, in Kafka's schemas (record types
//! 3, 5, 6, 7 and 8; see `docs/format/consumer-offsets.md`). Keys are the int16
//! record type followed by classic strings; values are flexible (compact) version 0.

use bytes::Bytes;
use uuid::Uuid;

use super::assignment::{self, Assignment};
use crate::wire::{Reader, RecordError, Writer};

/// ConsumerGroupMetadata: the group epoch.
pub const CONSUMER_GROUP_METADATA_TYPE: i16 = 3;
/// ConsumerGroupPartitionMetadata (read past, not written: Kafka 4.1 dropped it).
pub const CONSUMER_GROUP_PARTITION_METADATA_TYPE: i16 = 4;
/// ConsumerGroupMemberMetadata: a member's subscription and client.
pub const CONSUMER_GROUP_MEMBER_METADATA_TYPE: i16 = 5;
/// ConsumerGroupTargetAssignmentMetadata: the assignment epoch.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_TYPE: i16 = 6;
/// ConsumerGroupTargetAssignmentMember: one member's target assignment.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_TYPE: i16 = 7;
/// ConsumerGroupCurrentMemberAssignment: a member's epochs and current assignment.
pub const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_TYPE: i16 = 8;
/// The only value version of these records.
pub const CONSUMER_GROUP_VALUE_VERSION: i16 = 0;
/// Smallest encoding of one topic in an assignment: uuid, empty array, tags.
const TOPIC_PARTITIONS_BYTES_MIN: usize = 16 + 1 + 1;

/// A consumer group record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecordKey {
    GroupMetadata { group: String },
    MemberMetadata { group: String, member: String },
    TargetAssignmentMetadata { group: String },
    TargetAssignmentMember { group: String, member: String },
    CurrentMemberAssignment { group: String, member: String },
}

impl ConsumerRecordKey {
    pub fn record_type(&self) -> i16 {
        match self {
            ConsumerRecordKey::GroupMetadata { .. } => CONSUMER_GROUP_METADATA_TYPE,
            ConsumerRecordKey::MemberMetadata { .. } => CONSUMER_GROUP_MEMBER_METADATA_TYPE,
            ConsumerRecordKey::TargetAssignmentMetadata { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_TYPE
            }
            ConsumerRecordKey::TargetAssignmentMember { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_TYPE
            }
            ConsumerRecordKey::CurrentMemberAssignment { .. } => {
                CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_TYPE
            }
        }
    }

    pub fn group(&self) -> &str {
        match self {
            ConsumerRecordKey::GroupMetadata { group }
            | ConsumerRecordKey::MemberMetadata { group, .. }
            | ConsumerRecordKey::TargetAssignmentMetadata { group }
            | ConsumerRecordKey::TargetAssignmentMember { group, .. }
            | ConsumerRecordKey::CurrentMemberAssignment { group, .. } => group,
        }
    }

    fn member(&self) -> Option<&str> {
        match self {
            ConsumerRecordKey::MemberMetadata { member, .. }
            | ConsumerRecordKey::TargetAssignmentMember { member, .. }
            | ConsumerRecordKey::CurrentMemberAssignment { member, .. } => Some(member),
            _ => None,
        }
    }

    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(64);
        w.i16(self.record_type());
        w.string(self.group())?;
        if let Some(member) = self.member() {
            w.string(member)?;
        }
        Ok(w.finish())
    }

    /// Decodes the fields after the record type `record_type` (already read).
    pub(crate) fn decode_after_type(
        record_type: i16,
        r: &mut Reader<'_>,
    ) -> Result<Option<Self>, RecordError> {
        let key = match record_type {
            CONSUMER_GROUP_METADATA_TYPE => ConsumerRecordKey::GroupMetadata { group: r.string()? },
            CONSUMER_GROUP_MEMBER_METADATA_TYPE => ConsumerRecordKey::MemberMetadata {
                group: r.string()?,
                member: r.string()?,
            },
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_TYPE => {
                ConsumerRecordKey::TargetAssignmentMetadata { group: r.string()? }
            }
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_TYPE => {
                ConsumerRecordKey::TargetAssignmentMember {
                    group: r.string()?,
                    member: r.string()?,
                }
            }
            CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_TYPE => {
                ConsumerRecordKey::CurrentMemberAssignment {
                    group: r.string()?,
                    member: r.string()?,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(key))
    }
}

/// ConsumerGroupMemberMetadataValue v0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// Tag 0: set for a member speaking the classic protocol.
    pub classic_member_metadata: Option<ClassicMemberMetadataValue>,
}

/// ClassicMemberMetadata (tagged field 0 of ConsumerGroupMemberMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMemberMetadataValue {
    pub session_timeout_ms: i32,
    /// SupportedProtocols: (name, metadata) in the member's order.
    pub supported_protocols: Vec<(String, Bytes)>,
}

/// Tag of ClassicMemberMetadata in ConsumerGroupMemberMetadataValue.
const CLASSIC_MEMBER_METADATA_TAG: u32 = 0;
/// Smallest encoding of one supported protocol: empty name, empty metadata, tags.
const CLASSIC_PROTOCOL_BYTES_MIN: usize = 3;

impl ClassicMemberMetadataValue {
    fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(64);
        w.i32(self.session_timeout_ms);
        w.compact_array_len(self.supported_protocols.len())?;
        for (name, metadata) in &self.supported_protocols {
            w.compact_string(name)?;
            w.compact_bytes(metadata)?;
            w.no_tagged_fields();
        }
        w.no_tagged_fields();
        Ok(w.finish())
    }

    fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(bytes);
        let session_timeout_ms = r.i32()?;
        let count = r.compact_array_len(CLASSIC_PROTOCOL_BYTES_MIN)?;
        let mut supported_protocols = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.compact_string()?;
            let metadata = r.compact_bytes()?;
            r.skip_tagged_fields()?;
            supported_protocols.push((name, metadata));
        }
        r.skip_tagged_fields()?;
        Ok(ClassicMemberMetadataValue {
            session_timeout_ms,
            supported_protocols,
        })
    }
}

/// ConsumerGroupCurrentMemberAssignmentValue v0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

fn value_reader<'a>(value: &'a [u8], what: &'static str) -> Result<Reader<'a>, RecordError> {
    let mut r = Reader::new(value);
    let version = r.i16()?;
    if version != CONSUMER_GROUP_VALUE_VERSION {
        return Err(RecordError::UnsupportedVersion { what, version });
    }
    Ok(r)
}

/// An epoch value (ConsumerGroupMetadata, ConsumerGroupTargetAssignmentMetadata).
pub fn encode_epoch_value(epoch: i32) -> Bytes {
    let mut w = Writer::with_capacity(8);
    w.i16(CONSUMER_GROUP_VALUE_VERSION);
    w.i32(epoch);
    w.no_tagged_fields();
    w.finish()
}

pub fn decode_epoch_value(value: &[u8]) -> Result<i32, RecordError> {
    let mut r = value_reader(value, "consumer group epoch value")?;
    let epoch = r.i32()?;
    r.skip_tagged_fields()?;
    Ok(epoch)
}

fn write_assignment(w: &mut Writer, a: &Assignment) -> Result<(), RecordError> {
    w.compact_array_len(a.len())?;
    for (topic, partitions) in a {
        w.uuid(topic.as_bytes());
        w.compact_array_len(partitions.len())?;
        for p in partitions {
            w.i32(*p);
        }
        w.no_tagged_fields();
    }
    Ok(())
}

fn read_assignment(r: &mut Reader<'_>) -> Result<Assignment, RecordError> {
    let topics = r.compact_array_len(TOPIC_PARTITIONS_BYTES_MIN)?;
    let mut a = Assignment::new();
    for _ in 0..topics {
        let topic = Uuid::from_bytes(r.uuid()?);
        let count = r.compact_array_len(4)?;
        for _ in 0..count {
            assignment::insert(&mut a, topic, r.i32()?);
        }
        r.skip_tagged_fields()?;
    }
    Ok(a)
}

/// ConsumerGroupTargetAssignmentMemberValue v0.
pub fn encode_target_member_value(a: &Assignment) -> Result<Bytes, RecordError> {
    let mut w = Writer::with_capacity(16 + a.len() * 32);
    w.i16(CONSUMER_GROUP_VALUE_VERSION);
    write_assignment(&mut w, a)?;
    w.no_tagged_fields();
    Ok(w.finish())
}

pub fn decode_target_member_value(value: &[u8]) -> Result<Assignment, RecordError> {
    let mut r = value_reader(value, "target assignment member value")?;
    let a = read_assignment(&mut r)?;
    r.skip_tagged_fields()?;
    Ok(a)
}

impl MemberMetadataValue {
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(128);
        w.i16(CONSUMER_GROUP_VALUE_VERSION);
        w.compact_nullable_string(self.instance_id.as_deref())?;
        w.compact_nullable_string(self.rack_id.as_deref())?;
        w.compact_string(&self.client_id)?;
        w.compact_string(&self.client_host)?;
        w.compact_array_len(self.subscribed_topic_names.len())?;
        for t in &self.subscribed_topic_names {
            w.compact_string(t)?;
        }
        w.compact_nullable_string(self.subscribed_topic_regex.as_deref())?;
        w.i32(self.rebalance_timeout_ms);
        w.compact_nullable_string(self.server_assignor.as_deref())?;
        match &self.classic_member_metadata {
            Some(classic) => w.one_tagged_field(CLASSIC_MEMBER_METADATA_TAG, &classic.encode()?)?,
            None => w.no_tagged_fields(),
        }
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self, RecordError> {
        let mut r = value_reader(value, "consumer group member metadata value")?;
        let instance_id = r.compact_nullable_string()?;
        let rack_id = r.compact_nullable_string()?;
        let client_id = r.compact_string()?;
        let client_host = r.compact_string()?;
        let count = r.compact_array_len(1)?;
        let mut subscribed_topic_names = Vec::with_capacity(count);
        for _ in 0..count {
            subscribed_topic_names.push(r.compact_string()?);
        }
        let subscribed_topic_regex = r.compact_nullable_string()?;
        let rebalance_timeout_ms = r.i32()?;
        let server_assignor = r.compact_nullable_string()?;
        // Tag 0 (ClassicMemberMetadata) is for classic members of a consumer group.
        let classic_member_metadata = r
            .tagged_field(CLASSIC_MEMBER_METADATA_TAG)?
            .map(ClassicMemberMetadataValue::decode)
            .transpose()?;
        Ok(MemberMetadataValue {
            classic_member_metadata,
            instance_id,
            rack_id,
            client_id,
            client_host,
            subscribed_topic_names,
            subscribed_topic_regex,
            rebalance_timeout_ms,
            server_assignor,
        })
    }
}

impl CurrentAssignmentValue {
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(64);
        w.i16(CONSUMER_GROUP_VALUE_VERSION);
        w.i32(self.member_epoch);
        w.i32(self.previous_member_epoch);
        w.i8(self.state);
        write_assignment(&mut w, &self.assigned)?;
        write_assignment(&mut w, &self.pending_revocation)?;
        w.no_tagged_fields();
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self, RecordError> {
        let mut r = value_reader(value, "current member assignment value")?;
        let member_epoch = r.i32()?;
        let previous_member_epoch = r.i32()?;
        let state = r.i8()?;
        let assigned = read_assignment(&mut r)?;
        let pending_revocation = read_assignment(&mut r)?;
        r.skip_tagged_fields()?;
        Ok(CurrentAssignmentValue {
            member_epoch,
            previous_member_epoch,
            state,
            assigned,
            pending_revocation,
        })
    }
}

/// `moldau dump-log` rendering of a consumer group record: the key as JSON, the
/// value's fields as decoded (or why it does not decode).
pub fn describe_consumer_record(key: &ConsumerRecordKey, value: Option<&[u8]>) -> String {
    let member = key
        .member()
        .map(|m| format!(",\"memberId\":{m:?}"))
        .unwrap_or_default();
    let head = format!(
        "key: {{\"type\":{},\"data\":{{\"groupId\":{:?}{member}}}}} payload: ",
        key.record_type(),
        key.group()
    );
    let Some(value) = value else {
        return head + "null";
    };
    let body = match key {
        ConsumerRecordKey::GroupMetadata { .. } => {
            decode_epoch_value(value).map(|e| format!("{{\"epoch\":{e}}}"))
        }
        ConsumerRecordKey::TargetAssignmentMetadata { .. } => {
            decode_epoch_value(value).map(|e| format!("{{\"assignmentEpoch\":{e}}}"))
        }
        ConsumerRecordKey::MemberMetadata { .. } => {
            MemberMetadataValue::decode(value).map(|v| format!("{v:?}"))
        }
        ConsumerRecordKey::TargetAssignmentMember { .. } => {
            decode_target_member_value(value).map(|v| format!("{v:?}"))
        }
        ConsumerRecordKey::CurrentMemberAssignment { .. } => {
            CurrentAssignmentValue::decode(value).map(|v| format!("{v:?}"))
        }
    };
    match body {
        Ok(b) => head + &b,
        Err(e) => format!("{head}<undecodable: {e}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(r: Result<T, RecordError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn keys_are_type_then_classic_strings() {
        let key = ConsumerRecordKey::CurrentMemberAssignment {
            group: "g".into(),
            member: "m".into(),
        };
        let bytes = ok(key.encode());
        assert_eq!(&bytes[..], &[0, 8, 0, 1, b'g', 0, 1, b'm']);
        let mut r = Reader::new(&bytes[2..]);
        assert_eq!(
            ok(ConsumerRecordKey::decode_after_type(8, &mut r)),
            Some(key)
        );
        let meta = ConsumerRecordKey::GroupMetadata { group: "g".into() };
        assert_eq!(&ok(meta.encode())[..], &[0, 3, 0, 1, b'g']);
    }

    #[test]
    fn values_round_trip_and_reject_every_truncation() {
        assert_eq!(&encode_epoch_value(5)[..], &[0, 0, 0, 0, 0, 5, 0]);
        assert_eq!(ok(decode_epoch_value(&encode_epoch_value(5))), 5);
        let member = MemberMetadataValue {
            instance_id: Some("i".into()),
            rack_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            subscribed_topic_names: vec!["a".into(), "b".into()],
            subscribed_topic_regex: Some("x.*".into()),
            rebalance_timeout_ms: 300_000,
            server_assignor: Some("uniform".into()),
            classic_member_metadata: None,
        };
        let bytes = ok(member.encode());
        assert_eq!(ok(MemberMetadataValue::decode(&bytes)), member);
        for cut in 0..bytes.len() {
            assert!(MemberMetadataValue::decode(&bytes[..cut]).is_err(), "{cut}");
        }
        let classic = MemberMetadataValue {
            classic_member_metadata: Some(ClassicMemberMetadataValue {
                session_timeout_ms: 45_000,
                supported_protocols: vec![
                    ("range".into(), Bytes::from_static(&[0, 1, 2])),
                    ("roundrobin".into(), Bytes::new()),
                ],
            }),
            ..member
        };
        let bytes = ok(classic.encode());
        assert_eq!(ok(MemberMetadataValue::decode(&bytes)), classic);
        for cut in 0..bytes.len() {
            assert!(MemberMetadataValue::decode(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut assigned = Assignment::new();
        assignment::insert(&mut assigned, Uuid::from_u128(1), 0);
        assignment::insert(&mut assigned, Uuid::from_u128(1), 3);
        let mut pending = Assignment::new();
        assignment::insert(&mut pending, Uuid::from_u128(2), 1);
        let current = CurrentAssignmentValue {
            member_epoch: 4,
            previous_member_epoch: 3,
            state: 1,
            assigned: assigned.clone(),
            pending_revocation: pending,
        };
        let bytes = ok(current.encode());
        assert_eq!(ok(CurrentAssignmentValue::decode(&bytes)), current);
        for cut in 0..bytes.len() {
            assert!(
                CurrentAssignmentValue::decode(&bytes[..cut]).is_err(),
                "{cut}"
            );
        }
        let target = ok(encode_target_member_value(&assigned));
        assert_eq!(ok(decode_target_member_value(&target)), assigned);
    }
}
