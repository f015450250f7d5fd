//! Keys and values of `__transaction_state` records, in Kafka's schemas
//! (TransactionLogKey v0 and TransactionLogValue v0/v1; see
//! `docs/format/transaction-state.md`). The key is the transactional id; the value is
//! the whole state of that id after a transition, so the last record of a key wins
//! and a tombstone (no value) removes it.

use bytes::Bytes;

use crate::txn::state::TxnState;
use crate::wire::{Reader, RecordError, Writer};

/// Key version Kafka writes (the only one).
pub const TXN_KEY_VERSION: i16 = 0;
/// Value version Moldau writes for version 1 clients (classic encoding).
pub const TXN_VALUE_VERSION: i16 = 0;
/// Value version written for transaction version 2 producers (flexible, with the
/// tagged producer ids and client transaction version).
pub const TXN_VALUE_VERSION_FLEXIBLE: i16 = 1;
/// Highest value version read (v1 = flexible, KIP-890's tagged producer ids).
pub const TXN_VALUE_VERSION_MAX: i16 = 1;
/// Smallest encoding of one topic entry of a value (empty name, empty id array),
/// bounding the count read from disk before allocating.
const TOPIC_ENTRY_BYTES_MIN: usize = 2 + 4;
/// Tag of `PreviousProducerId` in a v1 value.
const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
/// Tag of `NextProducerId` in a v1 value.
const TAG_NEXT_PRODUCER_ID: u32 = 1;
/// Tag of `ClientTransactionVersion` in a v1 value.
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;

/// Key of a `__transaction_state` record: the transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogKey {
    pub transactional_id: String,
}

/// The state of one transactional id, as written after each transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    /// The producer id before the last epoch exhaustion (v1's tagged field), -1 if none.
    pub previous_producer_id: i64,
    /// The producer id taken once the completing transaction is done (v1's tagged
    /// field; transaction version 2 exhausted the epoch), -1 if none.
    pub next_producer_id: i64,
    /// The producer's transaction version (v1's tagged field), 0 if absent.
    pub client_transaction_version: i16,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    pub state: TxnState,
    /// The partitions of the transaction, by topic (sorted).
    pub partitions: Vec<(String, Vec<i32>)>,
    pub last_update_timestamp_ms: i64,
    /// When the transaction began (-1 when none is open).
    pub start_timestamp_ms: i64,
}

impl TransactionLogKey {
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(4 + self.transactional_id.len());
        w.i16(TXN_KEY_VERSION);
        w.string(&self.transactional_id)?;
        Ok(w.finish())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?;
        if version != TXN_KEY_VERSION {
            return Err(RecordError::UnsupportedVersion {
                what: "transaction log key",
                version,
            });
        }
        Ok(TransactionLogKey {
            transactional_id: r.string()?,
        })
    }
}

impl TransactionLogValue {
    /// Version 0 (classic encoding) for version 1 clients, version 1 (flexible,
    /// with tagged fields) for transaction version 2 producers. Empty transactions
    /// write a null partition list, as Kafka does.
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        if self.client_transaction_version >= 2 {
            return self.encode_flexible();
        }
        let mut w = Writer::with_capacity(64);
        w.i16(TXN_VALUE_VERSION);
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        w.i32(self.transaction_timeout_ms);
        w.i8(self.state.code());
        if self.state == TxnState::Empty && self.partitions.is_empty() {
            w.i32(-1);
        } else {
            w.i32(count_of(self.partitions.len())?);
            for (topic, ids) in &self.partitions {
                w.string(topic)?;
                w.i32(count_of(ids.len())?);
                for id in ids {
                    w.i32(*id);
                }
            }
        }
        w.i64(self.last_update_timestamp_ms);
        w.i64(self.start_timestamp_ms);
        Ok(w.finish())
    }

    /// Version 1: compact forms; the tagged fields that differ from their defaults.
    fn encode_flexible(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::with_capacity(96);
        w.i16(TXN_VALUE_VERSION_FLEXIBLE);
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        w.i32(self.transaction_timeout_ms);
        w.i8(self.state.code());
        if self.state == TxnState::Empty && self.partitions.is_empty() {
            w.uvarint(0);
        } else {
            w.compact_array_len(self.partitions.len())?;
            for (topic, ids) in &self.partitions {
                w.compact_string(topic)?;
                w.compact_array_len(ids.len())?;
                for id in ids {
                    w.i32(*id);
                }
                w.no_tagged_fields();
            }
        }
        w.i64(self.last_update_timestamp_ms);
        w.i64(self.start_timestamp_ms);
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
        if self.previous_producer_id != -1 {
            tags.push((
                TAG_PREVIOUS_PRODUCER_ID,
                self.previous_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if self.next_producer_id != -1 {
            tags.push((
                TAG_NEXT_PRODUCER_ID,
                self.next_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if self.client_transaction_version != 0 {
            tags.push((
                TAG_CLIENT_TRANSACTION_VERSION,
                self.client_transaction_version.to_be_bytes().to_vec(),
            ));
        }
        w.uvarint(tags.len() as u32);
        for (tag, bytes) in tags {
            w.uvarint(tag);
            w.uvarint(bytes.len() as u32);
            for b in bytes {
                w.i8(b as i8);
            }
        }
        Ok(w.finish())
    }

    /// Reads versions 0 and 1 (compact encoding with tagged fields).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?;
        if !(0..=TXN_VALUE_VERSION_MAX).contains(&version) {
            return Err(RecordError::UnsupportedVersion {
                what: "transaction log value",
                version,
            });
        }
        let flexible = version >= 1;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let transaction_timeout_ms = r.i32()?;
        let state_code = r.i8()?;
        let state = TxnState::from_code(state_code).ok_or(RecordError::UnsupportedVersion {
            what: "transaction state",
            version: state_code.into(),
        })?;
        let topics = if flexible {
            r.compact_array_len(TOPIC_ENTRY_BYTES_MIN / 2)?
        } else {
            nullable_array_len(&mut r, TOPIC_ENTRY_BYTES_MIN)?
        };
        let mut partitions = Vec::with_capacity(topics);
        for _ in 0..topics {
            let topic = if flexible {
                r.compact_string()?
            } else {
                r.string()?
            };
            let count = if flexible {
                r.compact_array_len(4)?
            } else {
                r.array_len(4)?
            };
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                ids.push(r.i32()?);
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            partitions.push((topic, ids));
        }
        let last_update_timestamp_ms = r.i64()?;
        let start_timestamp_ms = r.i64()?;
        let mut tagged = TaggedFields {
            previous_producer_id: -1,
            next_producer_id: -1,
            client_transaction_version: 0,
        };
        if flexible {
            read_tagged_fields(&mut r, &mut tagged)?;
        }
        Ok(TransactionLogValue {
            producer_id,
            previous_producer_id: tagged.previous_producer_id,
            next_producer_id: tagged.next_producer_id,
            client_transaction_version: tagged.client_transaction_version,
            producer_epoch,
            transaction_timeout_ms,
            state,
            partitions,
            last_update_timestamp_ms,
            start_timestamp_ms,
        })
    }
}

fn count_of(len: usize) -> Result<i32, RecordError> {
    i32::try_from(len).map_err(|_| RecordError::StringTooLong(len))
}

/// A classic array count where -1 means null (read as empty).
fn nullable_array_len(r: &mut Reader<'_>, min_element_bytes: usize) -> Result<usize, RecordError> {
    let count = r.i32()?;
    if count < 0 {
        return Ok(0);
    }
    let count = count as usize;
    if count.saturating_mul(min_element_bytes) > r.remaining() {
        return Err(RecordError::ArrayTooLong {
            count: count as u64,
            available: r.remaining(),
        });
    }
    Ok(count)
}

/// The tagged fields of a v1 value.
struct TaggedFields {
    previous_producer_id: i64,
    next_producer_id: i64,
    client_transaction_version: i16,
}

/// The tag section of a v1 value: the known tags are kept, unknown ones skipped.
fn read_tagged_fields(r: &mut Reader<'_>, tagged: &mut TaggedFields) -> Result<(), RecordError> {
    let count = r.uvarint()?;
    for _ in 0..count {
        let tag = r.uvarint()?;
        let size = r.uvarint()? as usize;
        match tag {
            TAG_PREVIOUS_PRODUCER_ID if size == 8 => tagged.previous_producer_id = r.i64()?,
            TAG_NEXT_PRODUCER_ID if size == 8 => tagged.next_producer_id = r.i64()?,
            TAG_CLIENT_TRANSACTION_VERSION if size == 2 => {
                tagged.client_transaction_version = r.i16()?
            }
            _ => r.skip(size)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(state: TxnState, partitions: Vec<(String, Vec<i32>)>) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: 4000,
            previous_producer_id: -1,
            next_producer_id: -1,
            client_transaction_version: 0,
            producer_epoch: 3,
            transaction_timeout_ms: 60_000,
            state,
            partitions,
            last_update_timestamp_ms: 1_700_000_000_000,
            start_timestamp_ms: 1_699_999_999_000,
        }
    }

    #[test]
    fn key_is_version_zero_and_the_id() {
        let key = TransactionLogKey {
            transactional_id: "tx".into(),
        };
        let bytes = key.encode().expect("encode");
        assert_eq!(&bytes[..], &[0, 0, 0, 2, b't', b'x']);
        assert_eq!(TransactionLogKey::decode(&bytes), Ok(key));
        assert!(TransactionLogKey::decode(&[0, 1, 0, 0]).is_err());
        assert!(TransactionLogKey::decode(&[0, 0, 0, 9, b'x']).is_err());
    }

    #[test]
    fn value_v0_bytes_match_kafkas_layout() {
        let v = value(TxnState::Ongoing, vec![("t".into(), vec![0, 2])]);
        let bytes = v.encode().expect("encode");
        let mut expected = vec![0, 0];
        expected.extend(4000i64.to_be_bytes());
        expected.extend(3i16.to_be_bytes());
        expected.extend(60_000i32.to_be_bytes());
        expected.push(1);
        expected.extend(1i32.to_be_bytes());
        expected.extend([0, 1, b't']);
        expected.extend(2i32.to_be_bytes());
        expected.extend(0i32.to_be_bytes());
        expected.extend(2i32.to_be_bytes());
        expected.extend(1_700_000_000_000i64.to_be_bytes());
        expected.extend(1_699_999_999_000i64.to_be_bytes());
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(TransactionLogValue::decode(&bytes), Ok(v));
    }

    #[test]
    fn empty_state_writes_a_null_partition_list_and_reads_it_back() {
        let v = value(TxnState::Empty, vec![]);
        let bytes = v.encode().expect("encode");
        assert_eq!(&bytes[17..21], &(-1i32).to_be_bytes());
        assert_eq!(TransactionLogValue::decode(&bytes), Ok(v));
    }

    #[test]
    fn value_v1_with_tagged_previous_producer_id_decodes() {
        let mut b = vec![0, 1];
        b.extend(7i64.to_be_bytes());
        b.extend(0i16.to_be_bytes());
        b.extend(1000i32.to_be_bytes());
        b.push(4); // CompleteCommit
        b.push(2); // one topic (compact: n + 1)
        b.extend([2, b'a']); // "a"
        b.extend([2]); // one id
        b.extend(5i32.to_be_bytes());
        b.push(0); // topic tags
        b.extend(10i64.to_be_bytes());
        b.extend((-1i64).to_be_bytes());
        b.push(2); // two tags
        b.extend([0, 8]);
        b.extend(6i64.to_be_bytes());
        b.extend([9, 1, 0xAA]); // unknown tag, skipped
        let v = TransactionLogValue::decode(&b).expect("decode");
        assert_eq!(v.previous_producer_id, 6);
        assert_eq!(v.state, TxnState::CompleteCommit);
        assert_eq!(v.partitions, vec![("a".to_string(), vec![5])]);
        assert_eq!(v.start_timestamp_ms, -1);
    }

    #[test]
    fn transaction_version_2_values_are_v1_and_round_trip_their_tags() {
        let mut v = value(TxnState::PrepareCommit, vec![("t".into(), vec![0, 2])]);
        v.client_transaction_version = 2;
        v.next_producer_id = 4001;
        v.previous_producer_id = 3999;
        let bytes = v.encode().expect("encode");
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(TransactionLogValue::decode(&bytes), Ok(v.clone()));
        // The tag section holds three fields; defaults are left out.
        let mut plain = value(TxnState::Empty, vec![]);
        plain.client_transaction_version = 2;
        let bytes = plain.encode().expect("encode");
        // version, id, epoch, timeout, state, null list, two timestamps, one tag.
        assert_eq!(bytes.len(), 2 + 8 + 2 + 4 + 1 + 1 + 8 + 8 + 1 + 1 + 1 + 2);
        assert_eq!(TransactionLogValue::decode(&bytes), Ok(plain));
        for cut in 0..bytes.len() {
            assert!(TransactionLogValue::decode(&bytes[..cut]).is_err(), "{cut}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic_or_a_huge_allocation() {
        let good = value(TxnState::Ongoing, vec![("t".into(), vec![1])])
            .encode()
            .expect("encode");
        for cut in 0..good.len() {
            assert!(TransactionLogValue::decode(&good[..cut]).is_err(), "{cut}");
        }
        let mut huge = good.to_vec();
        huge[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(TransactionLogValue::decode(&huge).is_err());
        let mut bad_state = good.to_vec();
        bad_state[16] = 42;
        assert!(TransactionLogValue::decode(&bad_state).is_err());
        assert!(TransactionLogValue::decode(&[0, 9]).is_err());
    }
}
