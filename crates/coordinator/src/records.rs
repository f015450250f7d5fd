//! Keys and values of `__consumer_offsets` records, in Kafka's schemas (see
//! `docs/format/consumer-offsets.md`). Every key starts with an int16 that is both its
//! schema version and its record type: 0 and 1 = offset commit, 2 = group metadata;
//! higher types (KIP-848 consumer groups, share groups) are recognised and skipped.
//! Every value starts with an int16 schema version.

use bytes::Bytes;

pub use crate::consumer_group::records::ConsumerRecordKey;
pub use crate::describe::describe_record;
use crate::wire::{Reader, RecordError, Writer};

/// Key version Moldau writes for offset commits (Kafka writes 1 as well).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version (record type) of group metadata.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Offset commit value version Moldau writes (with leader epoch).
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Offset commit value version for commits with an explicit expiry timestamp
/// (OffsetCommit v2-v4 with `retention_time_ms` set), as Kafka writes them.
pub const OFFSET_COMMIT_VALUE_EXPIRING_VERSION: i16 = 1;
/// Highest offset commit value version read (4 = first flexible version).
pub const OFFSET_COMMIT_VALUE_VERSION_MAX: i16 = 4;
/// Group metadata value version Moldau writes (with static member ids).
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// Highest group metadata value version read (4 = first flexible version).
pub const GROUP_METADATA_VALUE_VERSION_MAX: i16 = 4;
/// Smallest encoding of one member in a classic group metadata value (v0: three empty
/// strings, the session timeout, two empty byte arrays), used to bound the member count
/// read from disk before allocating.
const MEMBER_BYTES_MIN: usize = 3 * 2 + 4 + 2 * 4;
/// The same for flexible (v4+) values: one-byte lengths, two timeouts, tag section.
const MEMBER_BYTES_MIN_FLEXIBLE: usize = 3 + 1 + 2 * 4 + 2 + 1;

/// Key of a committed offset: (group, topic, partition).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetCommitKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// Leader epoch of the committed record, -1 when unknown.
    pub leader_epoch: i32,
    /// Client metadata ("" when none).
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Explicit expiry (value v1 only; old clients' `retention_time_ms`).
    pub expire_timestamp_ms: Option<i64>,
}

/// Key of a group's metadata: the group id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMetadataKey {
    pub group: String,
}

/// A group's membership as of its last rebalance (or static member replacement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    /// Selected protocol (assignor); None while the group has no members.
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state, -1 when unknown (values before v2).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member inside a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// -1 in values before v1, which did not store it.
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A decoded `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    OffsetCommit(OffsetCommitKey),
    GroupMetadata(GroupMetadataKey),
    /// A KIP-848 consumer group record (types 3, 5, 6, 7, 8).
    Consumer(ConsumerRecordKey),
    /// A record type Moldau does not use (KIP-848, share or streams groups).
    Other {
        record_type: i16,
    },
}

impl RecordKey {
    /// Decodes a key of any known record type.
    pub fn decode(key: &[u8]) -> Result<RecordKey, RecordError> {
        let mut r = Reader::new(key);
        match r.i16()? {
            0 | 1 => Ok(RecordKey::OffsetCommit(OffsetCommitKey {
                group: r.string()?,
                topic: r.string()?,
                partition: r.i32()?,
            })),
            GROUP_METADATA_KEY_VERSION => Ok(RecordKey::GroupMetadata(GroupMetadataKey {
                group: r.string()?,
            })),
            t if t > GROUP_METADATA_KEY_VERSION => {
                Ok(match ConsumerRecordKey::decode_after_type(t, &mut r)? {
                    Some(k) => RecordKey::Consumer(k),
                    None => RecordKey::Other { record_type: t },
                })
            }
            version => Err(RecordError::UnsupportedVersion {
                what: "key",
                version,
            }),
        }
    }
}

impl OffsetCommitKey {
    /// Encodes as key version [`OFFSET_COMMIT_KEY_VERSION`].
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(2 + 2 + self.group.len() + 2 + self.topic.len() + 4);
        w.i16(OFFSET_COMMIT_KEY_VERSION);
        w.string(&self.group)?;
        w.string(&self.topic)?;
        w.i32(self.partition);
        Ok(w.finish())
    }
}

impl GroupMetadataKey {
    /// Encodes as key version [`GROUP_METADATA_KEY_VERSION`].
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(4 + self.group.len());
        w.i16(GROUP_METADATA_KEY_VERSION);
        w.string(&self.group)?;
        Ok(w.finish())
    }
}

impl OffsetCommitValue {
    /// Encodes as v3, or as v1 when an explicit expiry is set (v1 is the only version
    /// with that field, and Kafka does the same).
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(2 + 8 + 4 + 2 + self.metadata.len() + 16);
        match self.expire_timestamp_ms {
            Some(expire) => {
                w.i16(OFFSET_COMMIT_VALUE_EXPIRING_VERSION);
                w.i64(self.offset);
                w.string(&self.metadata)?;
                w.i64(self.commit_timestamp_ms);
                w.i64(expire);
            }
            None => {
                w.i16(OFFSET_COMMIT_VALUE_VERSION);
                w.i64(self.offset);
                w.i32(self.leader_epoch);
                w.string(&self.metadata)?;
                w.i64(self.commit_timestamp_ms);
            }
        }
        Ok(w.finish())
    }

    /// Decodes versions 0 to 4. Bytes after the known fields are ignored, as Kafka
    /// does for forward compatibility.
    pub fn decode(value: &[u8]) -> Result<OffsetCommitValue, RecordError> {
        let mut r = Reader::new(value);
        let version = r.i16()?;
        let mut v = OffsetCommitValue {
            offset: 0,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: -1,
            expire_timestamp_ms: None,
        };
        match version {
            0 | 2 => {
                v.offset = r.i64()?;
                v.metadata = r.string()?;
                v.commit_timestamp_ms = r.i64()?;
            }
            1 => {
                v.offset = r.i64()?;
                v.metadata = r.string()?;
                v.commit_timestamp_ms = r.i64()?;
                v.expire_timestamp_ms = Some(r.i64()?).filter(|t| *t >= 0);
            }
            3 => {
                v.offset = r.i64()?;
                v.leader_epoch = r.i32()?;
                v.metadata = r.string()?;
                v.commit_timestamp_ms = r.i64()?;
            }
            4 => {
                v.offset = r.i64()?;
                v.leader_epoch = r.i32()?;
                v.metadata = r.compact_string()?;
                v.commit_timestamp_ms = r.i64()?;
                r.skip_tagged_fields()?;
            }
            version => {
                return Err(RecordError::UnsupportedVersion {
                    what: "offset commit value",
                    version,
                })
            }
        }
        Ok(v)
    }
}

impl GroupMetadataValue {
    /// Encodes as v3.
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let members_bytes: usize = self
            .members
            .iter()
            .map(|m| {
                MEMBER_BYTES_MIN
                    + 8
                    + m.member_id.len()
                    + m.group_instance_id.as_ref().map_or(0, String::len)
                    + m.client_id.len()
                    + m.client_host.len()
                    + m.subscription.len()
                    + m.assignment.len()
            })
            .sum();
        let mut w = Writer::with_capacity(64 + self.protocol_type.len() + members_bytes);
        w.i16(GROUP_METADATA_VALUE_VERSION);
        w.string(&self.protocol_type)?;
        w.i32(self.generation);
        w.nullable_string(self.protocol.as_deref())?;
        w.nullable_string(self.leader.as_deref())?;
        w.i64(self.current_state_timestamp_ms);
        let count = i32::try_from(self.members.len())
            .map_err(|_| RecordError::StringTooLong(self.members.len()))?;
        w.i32(count);
        for m in &self.members {
            w.string(&m.member_id)?;
            w.nullable_string(m.group_instance_id.as_deref())?;
            w.string(&m.client_id)?;
            w.string(&m.client_host)?;
            w.i32(m.rebalance_timeout_ms);
            w.i32(m.session_timeout_ms);
            w.bytes(&m.subscription)?;
            w.bytes(&m.assignment)?;
        }
        Ok(w.finish())
    }

    /// Decodes versions 0 to 4.
    pub fn decode(value: &[u8]) -> Result<GroupMetadataValue, RecordError> {
        let mut r = Reader::new(value);
        let version = r.i16()?;
        if !(0..=GROUP_METADATA_VALUE_VERSION_MAX).contains(&version) {
            return Err(RecordError::UnsupportedVersion {
                what: "group metadata value",
                version,
            });
        }
        let flexible = version >= 4;
        let string = |r: &mut Reader| {
            if flexible {
                r.compact_string()
            } else {
                r.string()
            }
        };
        let nullable = |r: &mut Reader| {
            if flexible {
                r.compact_nullable_string()
            } else {
                r.nullable_string()
            }
        };
        let bytes = |r: &mut Reader| {
            if flexible {
                r.compact_bytes()
            } else {
                r.bytes()
            }
        };
        let protocol_type = string(&mut r)?;
        let generation = r.i32()?;
        let protocol = nullable(&mut r)?;
        let leader = nullable(&mut r)?;
        let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
        // Flexible encodings shrink every length prefix to one byte.
        let count = if flexible {
            r.compact_array_len(MEMBER_BYTES_MIN_FLEXIBLE)?
        } else {
            r.array_len(MEMBER_BYTES_MIN)?
        };
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let member_id = string(&mut r)?;
            let group_instance_id = if version >= 3 {
                nullable(&mut r)?
            } else {
                None
            };
            let client_id = string(&mut r)?;
            let client_host = string(&mut r)?;
            let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
            let session_timeout_ms = r.i32()?;
            let subscription = bytes(&mut r)?;
            let assignment = bytes(&mut r)?;
            if flexible {
                r.skip_tagged_fields()?;
            }
            members.push(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp_ms,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(r: Result<T, RecordError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn offset_commit_key_bytes_are_kafkas() {
        let key = OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let bytes = ok(key.encode());
        assert_eq!(&bytes[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(
            ok(RecordKey::decode(&bytes)),
            RecordKey::OffsetCommit(key.clone())
        );
        // Key version 0 has the same layout.
        let mut v0 = bytes.to_vec();
        v0[1] = 0;
        assert_eq!(ok(RecordKey::decode(&v0)), RecordKey::OffsetCommit(key));
    }

    #[test]
    fn group_key_and_other_types() {
        let key = GroupMetadataKey { group: "ab".into() };
        let bytes = ok(key.encode());
        assert_eq!(&bytes[..], &[0, 2, 0, 2, b'a', b'b']);
        assert_eq!(ok(RecordKey::decode(&bytes)), RecordKey::GroupMetadata(key));
        assert_eq!(
            ok(RecordKey::decode(&[0, 9, 0, 0])),
            RecordKey::Other { record_type: 9 }
        );
        assert_eq!(
            ok(RecordKey::decode(&[0, 5, 0, 1, b'g', 0, 1, b'm'])),
            RecordKey::Consumer(ConsumerRecordKey::MemberMetadata {
                group: "g".into(),
                member: "m".into()
            })
        );
        assert!(RecordKey::decode(&[0xff, 0xff]).is_err());
        assert!(RecordKey::decode(&[0, 1, 0, 9, b'x']).is_err());
    }

    #[test]
    fn offset_commit_value_v3_layout_and_round_trip() {
        let v = OffsetCommitValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "m".into(),
            commit_timestamp_ms: 1000,
            expire_timestamp_ms: None,
        };
        let bytes = ok(v.encode());
        let mut expect = vec![0, 3];
        expect.extend_from_slice(&42i64.to_be_bytes());
        expect.extend_from_slice(&7i32.to_be_bytes());
        expect.extend_from_slice(&[0, 1, b'm']);
        expect.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(&bytes[..], &expect[..]);
        assert_eq!(ok(OffsetCommitValue::decode(&bytes)), v);
        let expiring = OffsetCommitValue {
            expire_timestamp_ms: Some(5000),
            leader_epoch: -1,
            ..v
        };
        let bytes = ok(expiring.encode());
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(ok(OffsetCommitValue::decode(&bytes)), expiring);
    }

    #[test]
    fn offset_commit_value_old_and_flexible_versions() {
        let mut v0 = vec![0, 0];
        v0.extend_from_slice(&9i64.to_be_bytes());
        v0.extend_from_slice(&[0, 0]);
        v0.extend_from_slice(&77i64.to_be_bytes());
        let d = ok(OffsetCommitValue::decode(&v0));
        assert_eq!(
            (d.offset, d.leader_epoch, d.commit_timestamp_ms),
            (9, -1, 77)
        );
        let mut v4 = vec![0, 4];
        v4.extend_from_slice(&10i64.to_be_bytes());
        v4.extend_from_slice(&3i32.to_be_bytes());
        v4.extend_from_slice(&[3, b'h', b'i']);
        v4.extend_from_slice(&88i64.to_be_bytes());
        v4.extend_from_slice(&[1, 0, 2, 0xAA, 0xBB]); // one unknown tagged field
        let d = ok(OffsetCommitValue::decode(&v4));
        assert_eq!(
            (
                d.offset,
                d.leader_epoch,
                d.metadata.as_str(),
                d.commit_timestamp_ms
            ),
            (10, 3, "hi", 88)
        );
        assert!(OffsetCommitValue::decode(&[0, 9, 0]).is_err());
        assert!(OffsetCommitValue::decode(&v4[..12]).is_err());
    }

    fn sample_group() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp_ms: 12345,
            members: vec![MemberMetadata {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(&[0, 1, 2]),
                assignment: Bytes::from_static(&[9]),
            }],
        }
    }

    #[test]
    fn group_metadata_value_round_trips_v3() {
        let g = sample_group();
        let bytes = ok(g.encode());
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(ok(GroupMetadataValue::decode(&bytes)), g);
        // Every strict prefix is rejected, never panics.
        for cut in 0..bytes.len() {
            assert!(GroupMetadataValue::decode(&bytes[..cut]).is_err(), "{cut}");
        }
    }

    #[test]
    fn group_metadata_value_v0_and_v4() {
        // v0: no rebalance timeout, no state timestamp, no instance id.
        let mut v0 = vec![0, 0, 0, 1, b'c', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        v0.extend_from_slice(&1i32.to_be_bytes());
        v0.extend_from_slice(&[0, 1, b'm', 0, 1, b'x', 0, 1, b'h']);
        v0.extend_from_slice(&10_000i32.to_be_bytes());
        v0.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let g = ok(GroupMetadataValue::decode(&v0));
        assert_eq!(g.generation, 1);
        assert_eq!(g.protocol, None);
        assert_eq!(g.current_state_timestamp_ms, -1);
        assert_eq!(g.members[0].rebalance_timeout_ms, -1);
        assert_eq!(g.members[0].session_timeout_ms, 10_000);
        // v4: compact everything, tagged field sections.
        let mut v4 = vec![0, 4, 2, b'c'];
        v4.extend_from_slice(&2i32.to_be_bytes());
        v4.extend_from_slice(&[2, b'r', 0]); // protocol "r", leader null
        v4.extend_from_slice(&5i64.to_be_bytes());
        v4.extend_from_slice(&[2, 2, b'm', 0, 2, b'x', 2, b'h']); // 1 member
        v4.extend_from_slice(&1i32.to_be_bytes());
        v4.extend_from_slice(&2i32.to_be_bytes());
        v4.extend_from_slice(&[2, 7, 1, 0, 0]); // subscription [7], empty assignment, tags
        let g = ok(GroupMetadataValue::decode(&v4));
        assert_eq!(g.protocol.as_deref(), Some("r"));
        assert_eq!(g.leader, None);
        assert_eq!(g.members.len(), 1);
        assert_eq!(&g.members[0].subscription[..], &[7]);
        assert_eq!(
            (
                g.members[0].rebalance_timeout_ms,
                g.members[0].session_timeout_ms
            ),
            (1, 2)
        );
    }

    #[test]
    fn huge_member_count_is_rejected_before_allocating() {
        let mut v = vec![0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        v.extend_from_slice(&(-1i64).to_be_bytes());
        v.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            GroupMetadataValue::decode(&v),
            Err(RecordError::ArrayTooLong { .. })
        ));
    }
}
