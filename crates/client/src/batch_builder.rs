//! Builds one magic-2 record batch incrementally: records are encoded as they are
//! appended (so the accumulator always knows a batch's exact size), and the header,
//! compression and CRC are added once, when the batch is sealed.

use bytes::{BufMut, Bytes, BytesMut};
use moldau_protocol::batch::BATCH_HEADER_BYTES;

use crate::codec::{compress, Compression};
use crate::error::Result;
use crate::record::Header;
use moldau_protocol::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Where the CRC-covered part of a batch header starts (the attributes field).
const CRC_COVERED_FROM: usize = 21;
/// Offset of the CRC field in the header.
const CRC_AT: usize = 17;
/// "No producer id / epoch / sequence" in a batch header.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;
/// Leader epoch a producer writes; the broker fills in its own.
const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Producer identity stamped into a batch (idempotent producers), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record.
    pub base_sequence: i32,
}

impl Default for ProducerStamp {
    fn default() -> Self {
        ProducerStamp {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
        }
    }
}

/// An open batch accepting records.
#[derive(Debug)]
pub struct BatchBuilder {
    /// The header's room (zeroes until sealed), then the encoded records, so an
    /// uncompressed batch is sealed in place without copying.
    records: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    compression: Compression,
}

impl BatchBuilder {
    /// An empty batch whose record buffer starts with `capacity_bytes` reserved.
    pub fn new(compression: Compression, capacity_bytes: usize) -> BatchBuilder {
        BatchBuilder::with_buffer(
            compression,
            BytesMut::with_capacity(BATCH_HEADER_BYTES + capacity_bytes),
        )
    }

    /// An empty batch that writes into `buffer` (cleared first), so buffers of sent
    /// batches can be reused instead of allocating anew.
    pub fn with_buffer(compression: Compression, mut buffer: BytesMut) -> BatchBuilder {
        buffer.clear();
        buffer.resize(BATCH_HEADER_BYTES, 0);
        BatchBuilder {
            records: buffer,
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
            compression,
        }
    }

    /// Number of records appended.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// True when nothing has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if sealed now without compression, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.records.len()
    }

    /// Bytes a record with these fields adds to this batch (length prefix included).
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let ts_delta = if self.count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        };
        let body = body_size(ts_delta, self.count, key, value, headers);
        varint_len(body as i32) + body
    }

    /// Appends a record. The first record's timestamp becomes the batch's base.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let ts_delta = timestamp.wrapping_sub(self.base_timestamp);
        let offset_delta = self.count;
        let body = body_size(ts_delta, offset_delta, key, value, headers);
        let buf = &mut self.records;
        buf.reserve(body + 5);
        put_varint(buf, body as i32);
        buf.put_i8(0); // record attributes: unused
        put_varlong(buf, ts_delta);
        put_varint(buf, offset_delta);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_bytes(buf, Some(h.key.as_bytes()));
            put_bytes(buf, h.value.as_deref());
        }
        self.count += 1;
    }

    /// Seals the batch: header, compression, CRC.
    pub fn build(mut self, stamp: ProducerStamp) -> Result<Bytes> {
        let mut out = if self.compression == Compression::None {
            self.records
        } else {
            let raw = self.records.split_off(BATCH_HEADER_BYTES);
            let mut out = self.records;
            compress(self.compression, raw, &mut out)?;
            out
        };
        let mut header = &mut out[..BATCH_HEADER_BYTES];
        header.put_i64(0); // base offset: assigned by the broker
        header.put_i32(0); // batch length: filled below
        header.put_i32(NO_PARTITION_LEADER_EPOCH);
        header.put_i8(2); // magic
        header.put_u32(0); // CRC: filled below
        header.put_i16(self.compression.attribute());
        header.put_i32(self.count - 1);
        header.put_i64(self.base_timestamp);
        header.put_i64(self.max_timestamp.max(self.base_timestamp));
        header.put_i64(stamp.producer_id);
        header.put_i16(stamp.producer_epoch);
        header.put_i32(stamp.base_sequence);
        header.put_i32(self.count);
        let batch_length = (out.len() - 12) as i32;
        out[8..12].copy_from_slice(&batch_length.to_be_bytes());
        let crc = crc32c::crc32c(&out[CRC_COVERED_FROM..]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }
}

fn put_bytes(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

fn bytes_size(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varint_len(b.len() as i32) + b.len(),
        None => 1,
    }
}

fn body_size(
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let mut n = 1 + varlong_len(ts_delta) + varint_len(offset_delta);
    n += bytes_size(key) + bytes_size(value);
    n += varint_len(headers.len() as i32);
    for h in headers {
        n += bytes_size(Some(h.key.as_bytes())) + bytes_size(h.value.as_deref());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_protocol::batch::BatchView;
    use moldau_protocol::kafka::records::RecordBatchDecoder;

    #[test]
    fn built_batches_decode_with_kafka_protocol_for_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = BatchBuilder::new(codec, 1024);
            let headers = vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"hv")),
            }];
            let before = b.size_bytes();
            let predicted = b.record_size(1000, Some(b"k0"), Some(b"v0"), &headers);
            b.append(1000, Some(b"k0"), Some(b"v0"), &headers);
            assert_eq!(b.size_bytes() - before, predicted);
            b.append(999, None, Some(b"v1"), &[]);
            b.append(1005, Some(b"k2"), None, &[]);
            let bytes = b.build(ProducerStamp::default()).unwrap();
            let view = BatchView::parse(&bytes).unwrap();
            view.validate().unwrap();
            assert_eq!(view.records_count(), 3);
            assert_eq!(view.max_timestamp(), 1005);
            assert_eq!(view.base_timestamp(), 1000);
            let mut buf = bytes.clone();
            let set = RecordBatchDecoder::decode(&mut buf).unwrap();
            assert_eq!(set.records.len(), 3, "{codec:?}");
            let r = &set.records;
            assert_eq!(r[0].key.as_deref(), Some(&b"k0"[..]));
            assert_eq!(r[0].headers.len(), 1);
            assert_eq!(r[1].timestamp, 999);
            assert_eq!(r[1].key, None);
            assert_eq!(r[2].value, None);
            assert_eq!(r[2].offset, 2);
        }
    }
}
