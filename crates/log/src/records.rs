//! Records inside a batch, parsed without copying: used by compaction (which keeps
//! records byte for byte), timestamp search and the dump tool.
//!
//! Layout of one record (magic 2): length varint, attributes i8, timestampDelta
//! varlong, offsetDelta varint, keyLength varint, key, valueLength varint, value,
//! header count varint, then per header keyLength varint, key, valueLength varint, value.

use bytes::{Bytes, BytesMut};
use moldau_protocol::batch::{BatchView, Codec};
use moldau_protocol::kafka::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use thiserror::Error;

/// Largest decompressed record payload the log will materialise for one batch.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Most headers one record may declare.
pub const RECORD_HEADERS_MAX: usize = 65_536;

/// Why a batch's records could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("record data truncated")]
    Truncated,
    #[error("bad varint")]
    BadVarint,
    #[error("invalid length {0}")]
    BadLength(i64),
    #[error("record count {declared} in header but {found} records parsed")]
    CountMismatch { declared: i32, found: usize },
    #[error("unsupported compression codec {0}")]
    UnsupportedCodec(u8),
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("decompressed size exceeds {DECOMPRESSED_BATCH_BYTES_MAX} bytes")]
    TooLarge,
}

/// One record, borrowing the (uncompressed) record bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
    /// The whole record including its length prefix.
    pub bytes: &'a [u8],
    /// The record body after the timestamp delta (offset delta onwards), for
    /// re-encoding a record under a new base timestamp.
    pub after_timestamp: &'a [u8],
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varlong(&mut self) -> Result<i64, RecordError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self.buf.get(self.at).ok_or(RecordError::Truncated)?;
            self.at += 1;
            if shift == 63 && b > 1 {
                return Err(RecordError::BadVarint);
            }
            value |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                // zigzag
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(RecordError::BadVarint)
    }
    fn varint(&mut self) -> Result<i32, RecordError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| RecordError::BadVarint)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.at.checked_add(n).ok_or(RecordError::Truncated)?;
        let s = self.buf.get(self.at..end).ok_or(RecordError::Truncated)?;
        self.at = end;
        Ok(s)
    }
    fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        let len = self.varint()?;
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(RecordError::BadLength(n as i64)),
            n => self.take(n as usize).map(Some),
        }
    }
}

/// Appends the zigzag varint encoding of `v` to `out`.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Re-encodes a record with a different timestamp delta (attributes and the rest
/// unchanged), appending it to `out`.
pub fn reencode_with_timestamp_delta(
    out: &mut Vec<u8>,
    record: &RawRecord<'_>,
    timestamp_delta: i64,
) {
    let mut body = Vec::with_capacity(record.bytes.len() + 10);
    body.push(record.attributes as u8);
    put_varlong(&mut body, timestamp_delta);
    body.extend_from_slice(record.after_timestamp);
    put_varlong(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// Parses `count` records laid end to end in `data` (uncompressed).
pub fn parse_records(data: &[u8], count: i32) -> Result<Vec<RawRecord<'_>>, RecordError> {
    if count < 0 {
        return Err(RecordError::BadLength(count as i64));
    }
    let mut cur = Cursor { buf: data, at: 0 };
    // Each record takes at least 7 bytes, which bounds the allocation.
    let mut out = Vec::with_capacity((count.max(0) as usize).min(data.len() / 7 + 1));
    while cur.at < data.len() {
        let start = cur.at;
        let len = cur.varint()?;
        if len < 0 {
            return Err(RecordError::BadLength(len as i64));
        }
        let body = cur.take(len as usize)?;
        let mut r = Cursor { buf: body, at: 0 };
        let attributes = *r.take(1)?.first().ok_or(RecordError::Truncated)? as i8;
        let timestamp_delta = r.varlong()?;
        let after_timestamp = &body[r.at..];
        let offset_delta = r.varint()?;
        let key = r.nullable_bytes()?;
        let value = r.nullable_bytes()?;
        let header_count = r.varint()?;
        if header_count < 0 || header_count as usize > RECORD_HEADERS_MAX {
            return Err(RecordError::BadLength(header_count as i64));
        }
        let mut headers = Vec::with_capacity((header_count as usize).min(body.len() / 2 + 1));
        for _ in 0..header_count {
            let klen = r.varint()?;
            if klen < 0 {
                return Err(RecordError::BadLength(klen as i64));
            }
            let hk = r.take(klen as usize)?;
            let hv = r.nullable_bytes()?;
            headers.push((hk, hv));
        }
        if r.at != body.len() {
            return Err(RecordError::BadLength(len as i64));
        }
        out.push(RawRecord {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
            bytes: &data[start..cur.at],
            after_timestamp,
        });
    }
    if out.len() != count.max(0) as usize {
        return Err(RecordError::CountMismatch {
            declared: count,
            found: out.len(),
        });
    }
    Ok(out)
}

/// The batch's record bytes, decompressed if needed. Decompression is bounded by
/// `DECOMPRESSED_BATCH_BYTES_MAX`: a batch claiming more is refused before the memory
/// is taken.
pub fn record_data(view: &BatchView<'_>) -> Result<Bytes, RecordError> {
    let payload = view.records_payload();
    let limit = DECOMPRESSED_BATCH_BYTES_MAX;
    let out = match view.codec() {
        Codec::None => return Ok(Bytes::copy_from_slice(payload)),
        Codec::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(payload), limit)?,
        Codec::Lz4 => {
            let decoder =
                lz4::Decoder::new(payload).map_err(|e| RecordError::Decompress(e.to_string()))?;
            read_bounded(decoder, limit)?
        }
        Codec::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(payload)
                .map_err(|e| RecordError::Decompress(e.to_string()))?;
            read_bounded(decoder, limit)?
        }
        Codec::Snappy => snappy_decompress(payload, limit)?,
        Codec::Unknown(c) => return Err(RecordError::UnsupportedCodec(c)),
    };
    Ok(Bytes::from(out))
}

fn read_bounded(reader: impl std::io::Read, limit: usize) -> Result<Vec<u8>, RecordError> {
    use std::io::Read;
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RecordError::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(RecordError::TooLarge);
    }
    Ok(out)
}

/// Kafka's snappy: xerial framing (16-byte magic header, then blocks of a u32 length
/// and a raw snappy block), or raw snappy when the header is absent.
const XERIAL_SNAPPY_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordError> {
    let len =
        snap::raw::decompress_len(block).map_err(|e| RecordError::Decompress(e.to_string()))?;
    if out.len().saturating_add(len) > limit {
        return Err(RecordError::TooLarge);
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| RecordError::Decompress(e.to_string()))?;
    Ok(())
}

fn snappy_decompress(payload: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    let Some(mut rest) = payload.strip_prefix(&XERIAL_SNAPPY_HEADER[..]) else {
        snappy_block(payload, &mut out, limit)?;
        return Ok(out);
    };
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(RecordError::Truncated);
        };
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail.get(..len).ok_or(RecordError::Truncated)?;
        snappy_block(block, &mut out, limit)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// Compresses uncompressed record bytes with `codec` (for rewritten batches).
pub fn compress_records(codec: Codec, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut out = BytesMut::new();
    let fill = |b: &mut BytesMut| -> anyhow::Result<()> {
        b.extend_from_slice(data);
        Ok(())
    };
    let result = match codec {
        Codec::None => return Ok(data.to_vec()),
        Codec::Gzip => Gzip::compress(&mut out, fill),
        Codec::Snappy => Snappy::compress(&mut out, fill),
        Codec::Lz4 => Lz4::compress(&mut out, fill),
        Codec::Zstd => Zstd::compress(&mut out, fill),
        Codec::Unknown(c) => return Err(RecordError::UnsupportedCodec(c)),
    };
    result.map_err(|e| RecordError::Decompress(e.to_string()))?;
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::keyed_batch;
    use moldau_protocol::kafka::records::Compression;

    #[test]
    fn parses_records_of_plain_and_compressed_batches() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Snappy,
        ] {
            let kv = vec![
                ("a".to_string(), Some(b"1".to_vec())),
                ("b".to_string(), None),
            ];
            let b = keyed_batch(&kv, 500, compression);
            let view = BatchView::parse(&b).unwrap();
            let data = record_data(&view).unwrap();
            let recs = parse_records(&data, view.records_count()).unwrap();
            assert_eq!(recs.len(), 2);
            assert_eq!(recs[0].key, Some(&b"a"[..]));
            assert_eq!(recs[0].value, Some(&b"1"[..]));
            assert_eq!(recs[1].value, None);
            assert_eq!(recs[1].offset_delta, 1);
            assert_eq!(view.base_timestamp() + recs[1].timestamp_delta, 501);
            // Round trip through compression.
            let again = compress_records(view.codec(), &data).unwrap();
            let mut rebuilt = b[..61].to_vec();
            rebuilt.extend_from_slice(&again);
            let len = (rebuilt.len() - 12) as i32;
            rebuilt[8..12].copy_from_slice(&len.to_be_bytes());
            let view2 = BatchView::parse(&rebuilt).unwrap();
            assert_eq!(&record_data(&view2).unwrap()[..], &data[..]);
        }
    }

    #[test]
    fn reencoding_changes_only_the_timestamp() {
        let kv = vec![("key".to_string(), Some(b"value".to_vec()))];
        let b = keyed_batch(&kv, 1000, Compression::None);
        let view = BatchView::parse(&b).unwrap();
        let data = record_data(&view).unwrap();
        let r = &parse_records(&data, 1).unwrap()[0];
        let mut out = Vec::new();
        reencode_with_timestamp_delta(&mut out, r, -123_456_789);
        let parsed = parse_records(&out, 1).unwrap();
        assert_eq!(parsed[0].timestamp_delta, -123_456_789);
        assert_eq!(parsed[0].key, r.key);
        assert_eq!(parsed[0].value, r.value);
    }

    #[test]
    fn decompression_bombs_are_refused_before_allocating() {
        let plain = keyed_batch(
            &[("k".to_string(), Some(b"v".to_vec()))],
            0,
            Compression::None,
        );
        // Snappy block claiming 2 GiB of output.
        let mut bomb = plain[..61].to_vec();
        bomb.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07, 0x00]);
        bomb[21..23].copy_from_slice(&2i16.to_be_bytes());
        let len = (bomb.len() - 12) as i32;
        bomb[8..12].copy_from_slice(&len.to_be_bytes());
        let view = BatchView::parse(&bomb).unwrap();
        assert_eq!(record_data(&view), Err(RecordError::TooLarge));
        // Gzip of more zeros than the limit.
        let zeros = vec![0u8; DECOMPRESSED_BATCH_BYTES_MAX + 1];
        let gz = compress_records(Codec::Gzip, &zeros).unwrap();
        let mut big = plain[..61].to_vec();
        big.extend_from_slice(&gz);
        big[21..23].copy_from_slice(&1i16.to_be_bytes());
        let len = (big.len() - 12) as i32;
        big[8..12].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            record_data(&BatchView::parse(&big).unwrap()),
            Err(RecordError::TooLarge)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_records(&[0x80], 1).is_err());
        assert!(parse_records(&[0x02, 0x00], 1).is_err());
        assert!(parse_records(&[], 1).is_err());
        assert_eq!(parse_records(&[], 0).unwrap().len(), 0);
        assert!(parse_records(&[], -1).is_err(), "negative count");
    }
}
