//! Builds one magic-2 record batch incrementally: records are encoded as they are
//! pushed (so a producer's accumulator always knows a batch's exact size and can
//! fill it to a byte limit), and the header, compression and CRC are added once,
//! when the batch is sealed. The one batch writer of the workspace: the client's
//! producer, the broker's own records (metadata, groups), the console and tests
//! all build through it.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::batch::{Codec, BATCH_HEADER_BYTES, CONTROL_BIT, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT};
use crate::batch_header::{BatchHeader, ProducerStamp, BATCH_BYTES_MAX, NO_PARTITION_LEADER_EPOCH};
use crate::record::{RecordError, RECORD_HEADERS_MAX};
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Why a batch could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BuildError {
    #[error("batch would be {size_bytes} bytes, more than the limit of {limit_bytes}")]
    TooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    #[error("a batch holds at most {} records", i32::MAX)]
    TooManyRecords,
    #[error("a record may have at most {RECORD_HEADERS_MAX} headers, not {0}")]
    TooManyHeaders(usize),
    #[error("{0}")]
    Compress(RecordError),
}

impl From<BuildError> for RecordError {
    fn from(e: BuildError) -> RecordError {
        match e {
            BuildError::TooLarge { limit_bytes, .. } => {
                RecordError::TooLarge { limit: limit_bytes }
            }
            BuildError::TooManyRecords => RecordError::BadLength(i32::MAX as i64 + 1),
            BuildError::TooManyHeaders(n) => RecordError::BadLength(n as i64),
            BuildError::Compress(e) => e,
        }
    }
}

/// The fields of one record header, whatever type the caller keeps headers in.
pub trait RecordHeader {
    /// Header key (a string in Kafka's API; any bytes on the wire).
    fn key(&self) -> &[u8];
    /// Header value; `None` is a null value.
    fn value(&self) -> Option<&[u8]>;
}

impl RecordHeader for (&[u8], Option<&[u8]>) {
    fn key(&self) -> &[u8] {
        self.0
    }
    fn value(&self) -> Option<&[u8]> {
        self.1
    }
}

impl RecordHeader for (String, Option<Bytes>) {
    fn key(&self) -> &[u8] {
        self.0.as_bytes()
    }
    fn value(&self) -> Option<&[u8]> {
        self.1.as_deref()
    }
}

/// No headers, for records without any (`&NO_HEADERS`).
pub const NO_HEADERS: [(&[u8], Option<&[u8]>); 0] = [];

/// An open batch accepting records.
#[derive(Debug)]
pub struct BatchBuilder {
    /// The header's room (zeroes until sealed), then the encoded records, so an
    /// uncompressed batch is sealed in place without copying.
    buffer: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    codec: Codec,
    flags: i16,
    limit_bytes: usize,
}

impl BatchBuilder {
    /// An empty batch whose buffer starts with room for `capacity_bytes` of records.
    pub fn new(codec: Codec, capacity_bytes: usize) -> BatchBuilder {
        BatchBuilder::with_buffer(
            codec,
            BytesMut::with_capacity(BATCH_HEADER_BYTES + capacity_bytes),
        )
    }

    /// An empty batch that writes into `buffer` (cleared first), so buffers of sent
    /// batches can be reused instead of allocating anew.
    pub fn with_buffer(codec: Codec, mut buffer: BytesMut) -> BatchBuilder {
        assert!(
            !matches!(codec, Codec::Unknown(_)),
            "a batch is built with a codec Kafka defines"
        );
        buffer.clear();
        buffer.resize(BATCH_HEADER_BYTES, 0);
        BatchBuilder {
            buffer,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
            codec,
            flags: 0,
            limit_bytes: BATCH_BYTES_MAX,
        }
    }

    /// Refuses records (and a sealed batch) that would make the batch larger than
    /// `limit_bytes` (at most [`BATCH_BYTES_MAX`]).
    pub fn size_limit(mut self, limit_bytes: usize) -> BatchBuilder {
        assert!(limit_bytes <= BATCH_BYTES_MAX);
        self.limit_bytes = limit_bytes;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(mut self, on: bool) -> BatchBuilder {
        self.set_flag(TRANSACTIONAL_BIT, on);
        self
    }

    /// Marks the batch as holding control records (transaction markers).
    pub fn control(mut self, on: bool) -> BatchBuilder {
        self.set_flag(CONTROL_BIT, on);
        self
    }

    /// Marks the timestamps as the broker's append time rather than create time.
    pub fn log_append_time(mut self, on: bool) -> BatchBuilder {
        self.set_flag(TIMESTAMP_TYPE_BIT, on);
        self
    }

    fn set_flag(&mut self, bit: i16, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    /// The codec the batch is compressed with when sealed.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Number of records pushed.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// True when nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if sealed now without compression, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Bytes a record with these fields adds to this batch (length prefix included).
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[impl RecordHeader],
    ) -> usize {
        let body = body_size(
            self.timestamp_delta(timestamp),
            self.count,
            key,
            value,
            headers,
        );
        varint_len(clamp_i32(body)) + body
    }

    /// Appends a record. The first record's timestamp becomes the batch's base.
    /// Refused, with the batch unchanged, when the record would take the batch past
    /// its size limit.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[impl RecordHeader],
    ) -> Result<(), BuildError> {
        let size = self.record_size(timestamp, key, value, headers);
        let size_bytes = self.buffer.len().saturating_add(size);
        if size_bytes > self.limit_bytes {
            return Err(BuildError::TooLarge {
                size_bytes,
                limit_bytes: self.limit_bytes,
            });
        }
        if self.count == i32::MAX {
            return Err(BuildError::TooManyRecords);
        }
        // Readers refuse more, so a batch with more could never be read back.
        if headers.len() > RECORD_HEADERS_MAX {
            return Err(BuildError::TooManyHeaders(headers.len()));
        }
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let ts_delta = self.timestamp_delta(timestamp);
        let offset_delta = self.count;
        // Within the limit, so every length below fits an i32.
        let body = body_size(ts_delta, offset_delta, key, value, headers);
        let start = self.buffer.len();
        let buf = &mut self.buffer;
        buf.reserve(size);
        put_varint(buf, body as i32);
        buf.put_i8(0); // record attributes: unused in magic 2
        put_varlong(buf, ts_delta);
        put_varint(buf, offset_delta);
        put_field(buf, key);
        put_field(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_field(buf, Some(h.key()));
            put_field(buf, h.value());
        }
        assert_eq!(
            buf.len() - start,
            size,
            "record_size predicts what push writes"
        );
        self.count += 1;
        Ok(())
    }

    fn timestamp_delta(&self, timestamp: i64) -> i64 {
        if self.count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        }
    }

    /// Seals the batch: header, compression, CRC. The base offset is 0 and the
    /// leader epoch "none": the broker writes both when it appends. Writable, so the
    /// broker can stamp those in; a producer freezes it.
    pub fn build(self, stamp: ProducerStamp) -> Result<BytesMut, BuildError> {
        let header = BatchHeader {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            flags: self.flags,
            last_offset_delta: (self.count - 1).max(0),
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp.max(self.base_timestamp),
            producer: stamp,
            records_count: self.count,
        };
        header.seal(self.codec, self.buffer, self.limit_bytes)
    }
}

/// A length that went past i32 is refused by the size limit before it is written;
/// for the size estimate it only needs to stay large.
fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn put_field(buf: &mut BytesMut, field: Option<&[u8]>) {
    match field {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

fn field_size(field: Option<&[u8]>) -> usize {
    match field {
        Some(b) => varint_len(clamp_i32(b.len())).saturating_add(b.len()),
        None => varint_len(-1),
    }
}

fn body_size(
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[impl RecordHeader],
) -> usize {
    let mut n = 1 + varlong_len(ts_delta) + varint_len(offset_delta);
    n = n
        .saturating_add(field_size(key))
        .saturating_add(field_size(value));
    n += varint_len(clamp_i32(headers.len()));
    for h in headers {
        n = n
            .saturating_add(field_size(Some(h.key())))
            .saturating_add(field_size(h.value()));
    }
    n
}

#[cfg(test)]
#[path = "batch_builder_tests.rs"]
mod tests;
