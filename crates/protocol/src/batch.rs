//! A zero-copy view of a record batch (magic 2) header.
//!
//! Batches are stored exactly as produced, so the broker and the log only ever need
//! the fixed 61-byte header: where the batch ends, how many records it holds, its
//! CRC, and the producer fields. Records themselves are never decoded on the hot path.

use thiserror::Error;

/// Size of the fixed part of a magic-2 record batch header.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` ends: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Where the CRC-covered part of the batch starts (the attributes field).
const CRC_START: usize = 21;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

/// The attribute bits naming the compression codec.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit: timestamps are LogAppendTime.
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit: the batch belongs to a transaction.
pub const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attribute bit: the batch holds a control record (a transaction marker).
pub const CONTROL_BIT: i16 = 0x20;
/// Attribute bit: the base timestamp is the delete horizon of its tombstones.
pub const DELETE_HORIZON_BIT: i16 = 0x40;

/// Why a byte range is not a valid record batch.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum BatchError {
    #[error("batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("unsupported magic {0} (only magic 2 is accepted)")]
    UnsupportedMagic(i8),
    #[error("batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record count {count} does not match last offset delta {last_offset_delta}")]
    CountMismatch { count: i32, last_offset_delta: i32 },
}

/// Compression codec named by the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    /// A value Kafka does not define; such a batch is rejected on produce.
    Unknown(u8),
}

impl Codec {
    /// The low three attribute bits naming this codec.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
            Codec::Unknown(c) => (c as i16) & COMPRESSION_MASK,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
            Codec::Unknown(_) => "unknown",
        }
    }
}

/// A borrowed view of one record batch. Construct with [`BatchView::parse`], which
/// checks only that the header and the declared length fit in the buffer.
#[derive(Clone, Copy)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl<'a> BatchView<'a> {
    /// Views the batch at the start of `buf`. The view covers exactly the batch's
    /// declared size (`LOG_OVERHEAD_BYTES + batchLength`), which must fit in `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_BYTES,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let length = be_i32(buf, BATCH_LENGTH);
        if length < (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32 {
            return Err(BatchError::InvalidLength(length));
        }
        let total = LOG_OVERHEAD_BYTES + length as usize;
        if buf.len() < total {
            return Err(BatchError::Truncated {
                needed: total,
                available: buf.len(),
            });
        }
        Ok(BatchView {
            bytes: &buf[..total],
        })
    }

    /// Total size of the batch in bytes, including the 12-byte log overhead.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, BASE_OFFSET)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64
    }
    pub fn batch_length(&self) -> i32 {
        be_i32(self.bytes, BATCH_LENGTH)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, PARTITION_LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8
    }
    pub fn stored_crc(&self) -> u32 {
        be_i32(self.bytes, CRC) as u32
    }
    pub fn computed_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[CRC_START..])
    }
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, ATTRIBUTES)
    }
    pub fn codec(&self) -> Codec {
        match (self.attributes() & COMPRESSION_MASK) as u8 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => Codec::Unknown(other),
        }
    }
    /// True when timestamps are the broker's append time (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_BIT != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA)
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE)
    }
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base < 0 {
            return -1;
        }
        // Sequences wrap at i32::MAX, as Kafka's do.
        ((base as i64 + self.last_offset_delta() as i64) % (i32::MAX as i64 + 1)) as i32
    }
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT)
    }
    /// The record bytes after the fixed header (compressed when the codec says so).
    pub fn records_payload(&self) -> &'a [u8] {
        &self.bytes[BATCH_HEADER_BYTES..]
    }

    /// Checks the CRC and that the record count agrees with the offset delta.
    pub fn validate(&self) -> Result<(), BatchError> {
        let stored = self.stored_crc();
        let computed = self.computed_crc();
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        let count = self.records_count();
        let delta = self.last_offset_delta();
        if count < 0 || delta < 0 || (count > 0 && delta != count - 1) {
            return Err(BatchError::CountMismatch {
                count,
                last_offset_delta: delta,
            });
        }
        Ok(())
    }
}

/// Iterates the batches laid end to end in a buffer. Stops at the first error, which
/// it yields once; a caller that needs "everything valid up to here" checks for it.
pub struct BatchIter<'a> {
    rest: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            rest: buf,
            position: 0,
            failed: false,
        }
    }
    /// Byte position in the original buffer of the next batch.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(usize, BatchView<'a>), BatchError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match BatchView::parse(self.rest) {
            Ok(view) => {
                let at = self.position;
                self.rest = &self.rest[view.size()..];
                self.position += view.size();
                Some(Ok((at, view)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Mutable access to the two header fields the broker is allowed to write: both lie
/// before the CRC-covered range, so the producer's CRC stays valid.
pub fn set_base_offset(batch: &mut [u8], offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
}

pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Rewrites the max timestamp (CreateTime: the largest record timestamp, as Kafka
/// sets it) and recomputes the CRC, which covers it.
pub fn set_max_timestamp(batch: &mut [u8], timestamp: i64) {
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    refresh_crc(batch);
}

/// Rewrites the producer id, epoch and base sequence (a producer re-sending a sealed
/// batch under a new identity) and recomputes the CRC, which covers them.
pub fn set_producer(batch: &mut [u8], producer_id: i64, producer_epoch: i16, base_sequence: i32) {
    batch[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    refresh_crc(batch);
}

/// Recomputes the CRC after a change to the covered bytes.
pub fn refresh_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Rewrites the max timestamp (for LogAppendTime) and sets the timestamp-type bit,
/// then recomputes the CRC, since both fields are covered by it.
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    let attrs = be_i16(batch, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    refresh_crc(batch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn sample(n: i64) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 7,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: 10 + i as i32,
                timestamp: 1000 + i,
                key: Some(bytes::Bytes::from(format!("k{i}"))),
                value: Some(bytes::Bytes::from(format!("v{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn reads_header_fields_of_an_encoded_batch() {
        let buf = sample(3);
        let view = BatchView::parse(&buf).unwrap();
        assert_eq!(view.size(), buf.len());
        assert_eq!(view.records_count(), 3);
        assert_eq!(view.last_offset_delta(), 2);
        assert_eq!(view.producer_id(), 7);
        assert_eq!(view.producer_epoch(), 1);
        assert_eq!(view.base_sequence(), 10);
        assert_eq!(view.last_sequence(), 12);
        assert_eq!(view.max_timestamp(), 1002);
        assert_eq!(view.codec(), Codec::None);
        view.validate().unwrap();
    }

    #[test]
    fn base_offset_and_epoch_rewrite_keeps_crc_valid() {
        let mut buf = sample(2);
        set_base_offset(&mut buf, 12345);
        set_partition_leader_epoch(&mut buf, 9);
        let view = BatchView::parse(&buf).unwrap();
        assert_eq!(view.base_offset(), 12345);
        assert_eq!(view.last_offset(), 12346);
        assert_eq!(view.partition_leader_epoch(), 9);
        view.validate().unwrap();
    }

    #[test]
    fn log_append_time_rewrite_recomputes_crc() {
        let mut buf = sample(2);
        set_log_append_time(&mut buf, 99);
        let view = BatchView::parse(&buf).unwrap();
        assert!(view.is_log_append_time());
        assert_eq!(view.max_timestamp(), 99);
        view.validate().unwrap();
    }

    #[test]
    fn flipped_byte_fails_crc_and_short_buffer_is_truncated() {
        let mut buf = sample(2);
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        assert!(matches!(
            BatchView::parse(&buf).unwrap().validate(),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(matches!(
            BatchView::parse(&buf[..buf.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
    }

    #[test]
    fn iterates_concatenated_batches_and_stops_at_garbage() {
        let mut buf = sample(2);
        buf.extend_from_slice(&sample(3));
        buf.extend_from_slice(&[0u8; 5]);
        let items: Vec<_> = BatchIter::new(&buf).collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert!(items[2].is_err());
    }
}
