//! Records inside a magic-2 batch, read in place and bounded: every length is checked
//! against the bytes that remain, every varint against its maximum width, and the
//! iterator yields no more records than the batch header declares.
//!
//! Layout of one record: length varint, attributes i8, timestampDelta varlong,
//! offsetDelta varint, keyLength varint, key, valueLength varint, value, header count
//! varint, then per header keyLength varint, key, valueLength varint, value.

use std::borrow::Cow;

use thiserror::Error;

use crate::batch::{BatchView, Codec};
use crate::compression::decompress;
use crate::varint::{get_varint, get_varlong, put_varlong};

/// Fewest bytes one record takes: length, attributes, timestamp delta, offset delta,
/// key length, value length and header count, one byte each.
pub const RECORD_BYTES_MIN: usize = 7;
/// Most headers one record may declare.
pub const RECORD_HEADERS_MAX: usize = 65_536;

/// Why a batch's records could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("record data truncated")]
    Truncated,
    #[error("malformed varint")]
    BadVarint,
    #[error("invalid length {0}")]
    BadLength(i64),
    #[error("record count {declared} in header but {found} records present")]
    CountMismatch { declared: i32, found: i64 },
    #[error("{0} bytes left after the last declared record")]
    TrailingBytes(usize),
    #[error("record size {declared} does not match its {read} bytes of fields")]
    SizeMismatch { declared: usize, read: usize },
    #[error("unsupported compression codec {0}")]
    UnsupportedCodec(u8),
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("compression failed: {0}")]
    Compress(String),
    #[error("records decompress to more than {limit} bytes")]
    TooLarge { limit: usize },
}

/// One record, borrowing the (uncompressed) record bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Headers<'a>,
    /// The whole record including its length prefix.
    pub bytes: &'a [u8],
    /// The record body after the timestamp delta (offset delta onwards), for
    /// re-encoding a record under a new base timestamp.
    pub after_timestamp: &'a [u8],
}

/// A record's headers, already checked when the record was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> Headers<'a> {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// (key, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let mut rest = self.raw;
        // Validated by `read_headers`, so reading cannot fail; `ok()?` ends early anyway.
        (0..self.count).map_while(move |_| {
            let key = take_bytes(&mut rest).ok()??;
            let value = take_bytes(&mut rest).ok()?;
            Some((key, value))
        })
    }
}

fn varint(buf: &mut &[u8]) -> Result<i32, RecordError> {
    get_varint(buf).ok_or(if buf.is_empty() {
        RecordError::Truncated
    } else {
        RecordError::BadVarint
    })
}

fn varlong(buf: &mut &[u8]) -> Result<i64, RecordError> {
    get_varlong(buf).ok_or(if buf.is_empty() {
        RecordError::Truncated
    } else {
        RecordError::BadVarint
    })
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], RecordError> {
    if n > buf.len() {
        return Err(RecordError::Truncated);
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

/// A varint length then that many bytes; -1 means null.
fn take_bytes<'a>(buf: &mut &'a [u8]) -> Result<Option<&'a [u8]>, RecordError> {
    match varint(buf)? {
        -1 => Ok(None),
        n if n < -1 => Err(RecordError::BadLength(n as i64)),
        n => take(buf, n as usize).map(Some),
    }
}

fn read_headers<'a>(body: &mut &'a [u8]) -> Result<Headers<'a>, RecordError> {
    let count = varint(body)?;
    // Each header takes at least two bytes (two lengths).
    if count < 0 || count as usize > RECORD_HEADERS_MAX || count as usize > body.len() / 2 {
        return Err(RecordError::BadLength(count as i64));
    }
    let start = *body;
    for _ in 0..count {
        if take_bytes(body)?.is_none() {
            return Err(RecordError::BadLength(-1));
        }
        take_bytes(body)?;
    }
    Ok(Headers {
        raw: &start[..start.len() - body.len()],
        count: count as usize,
    })
}

/// Reads one record from the front of `buf`, advancing it.
fn read_record<'a>(buf: &mut &'a [u8]) -> Result<Record<'a>, RecordError> {
    let whole = *buf;
    let length = varint(buf)?;
    if length < 0 {
        return Err(RecordError::BadLength(length as i64));
    }
    let mut body = take(buf, length as usize)?;
    let declared = body.len();
    let attributes = *take(&mut body, 1)?.first().ok_or(RecordError::Truncated)? as i8;
    let timestamp_delta = varlong(&mut body)?;
    let after_timestamp = body;
    let offset_delta = varint(&mut body)?;
    let key = take_bytes(&mut body)?;
    let value = take_bytes(&mut body)?;
    let headers = read_headers(&mut body)?;
    if !body.is_empty() {
        return Err(RecordError::SizeMismatch {
            declared,
            read: declared - body.len(),
        });
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
        bytes: &whole[..whole.len() - buf.len()],
        after_timestamp,
    })
}

/// Iterates the records laid end to end in uncompressed record bytes: exactly the
/// `declared` count, no more, and no bytes may follow the last one. Yields at most one
/// error, then stops.
pub struct RecordIter<'a> {
    rest: &'a [u8],
    declared: i32,
    read: i32,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    pub fn new(data: &'a [u8], declared: i32) -> Self {
        RecordIter {
            rest: data,
            declared,
            read: 0,
            failed: false,
        }
    }

    fn fail(&mut self, e: RecordError) -> Option<Result<Record<'a>, RecordError>> {
        self.failed = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.declared < 0 {
            return self.fail(RecordError::BadLength(self.declared as i64));
        }
        if self.read == self.declared {
            if !self.rest.is_empty() {
                return self.fail(RecordError::TrailingBytes(self.rest.len()));
            }
            return None;
        }
        if self.rest.is_empty() {
            return self.fail(RecordError::CountMismatch {
                declared: self.declared,
                found: self.read as i64,
            });
        }
        match read_record(&mut self.rest) {
            Ok(r) => {
                self.read += 1;
                Some(Ok(r))
            }
            Err(e) => self.fail(e),
        }
    }
}

/// Parses all `count` records of uncompressed record bytes.
pub fn parse_records(data: &[u8], count: i32) -> Result<Vec<Record<'_>>, RecordError> {
    // Each record takes at least RECORD_BYTES_MIN bytes, which bounds the allocation.
    let capacity = (count.max(0) as usize).min(data.len() / RECORD_BYTES_MIN + 1);
    let mut out = Vec::with_capacity(capacity);
    for r in RecordIter::new(data, count) {
        out.push(r?);
    }
    Ok(out)
}

/// The batch's record bytes: borrowed when uncompressed, else decompressed into at
/// most `limit` bytes.
pub fn record_data<'a>(view: &BatchView<'a>, limit: usize) -> Result<Cow<'a, [u8]>, RecordError> {
    match view.codec() {
        Codec::None => Ok(Cow::Borrowed(view.records_payload())),
        codec => decompress(codec, view.records_payload(), limit).map(Cow::Owned),
    }
}

/// Re-encodes a record with a different timestamp delta (attributes and the rest
/// unchanged), appending it to `out`.
pub fn reencode_with_timestamp_delta(
    out: &mut impl bytes::BufMut,
    record: &Record<'_>,
    timestamp_delta: i64,
) {
    let mut body = Vec::with_capacity(record.bytes.len() + 10);
    body.push(record.attributes as u8);
    put_varlong(&mut body, timestamp_delta);
    body.extend_from_slice(record.after_timestamp);
    put_varlong(out, body.len() as i64);
    out.put_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::varint::put_varint;

    /// Encodes one record by hand, as a hostile or careless writer might.
    fn record(
        offset_delta: i32,
        key: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Vec<u8> {
        let mut body = vec![0u8];
        put_varlong(&mut body, 5);
        put_varint(&mut body, offset_delta);
        for field in [key, Some(&b"value"[..])] {
            match field {
                Some(b) => {
                    put_varint(&mut body, b.len() as i32);
                    body.extend_from_slice(b);
                }
                None => put_varint(&mut body, -1),
            }
        }
        put_varint(&mut body, headers.len() as i32);
        for (k, v) in headers {
            put_varint(&mut body, k.len() as i32);
            body.extend_from_slice(k);
            match v {
                Some(v) => {
                    put_varint(&mut body, v.len() as i32);
                    body.extend_from_slice(v);
                }
                None => put_varint(&mut body, -1),
            }
        }
        let mut out = Vec::new();
        put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn reads_fields_and_headers_in_place() {
        let mut data = record(0, Some(b"k"), &[(b"h1", Some(b"x")), (b"h2", None)]);
        data.extend(record(1, None, &[]));
        let recs = parse_records(&data, 2).unwrap();
        assert_eq!(recs[0].key, Some(&b"k"[..]));
        assert_eq!(recs[0].value, Some(&b"value"[..]));
        assert_eq!(recs[0].timestamp_delta, 5);
        let headers: Vec<_> = recs[0].headers.iter().collect();
        assert_eq!(
            headers,
            vec![(&b"h1"[..], Some(&b"x"[..])), (&b"h2"[..], None)]
        );
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].offset_delta, 1);
        assert_eq!(recs[0].bytes.len() + recs[1].bytes.len(), data.len());
    }

    #[test]
    fn count_must_match_the_records_present() {
        let data = record(0, Some(b"k"), &[]);
        assert_eq!(
            parse_records(&data, i32::MAX),
            Err(RecordError::CountMismatch {
                declared: i32::MAX,
                found: 1
            })
        );
        assert_eq!(
            parse_records(&data, 0),
            Err(RecordError::TrailingBytes(data.len()))
        );
        assert!(parse_records(&data, -1).is_err(), "negative count");
        assert_eq!(parse_records(&[], 0).unwrap().len(), 0);
    }

    #[test]
    fn truncated_or_oversized_fields_are_errors_not_panics() {
        let data = record(0, Some(b"key"), &[(b"h", Some(b"v"))]);
        // Every prefix of a valid record is refused.
        for cut in 0..data.len() {
            assert!(parse_records(&data[..cut], 1).is_err(), "cut at {cut}");
        }
        // An overlong varint, a length past the end, a negative length.
        assert_eq!(
            parse_records(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 1),
            Err(RecordError::BadVarint)
        );
        assert_eq!(parse_records(&[0x7e, 0], 1), Err(RecordError::Truncated));
        assert_eq!(parse_records(&[0x03], 1), Err(RecordError::BadLength(-2)));
        // A header count larger than the record could hold.
        let mut bad = record(0, None, &[]);
        let last = bad.len() - 1;
        bad[last] = 0x7e; // header count 63 in a record with no bytes left
        assert_eq!(parse_records(&bad, 1), Err(RecordError::BadLength(63)));
        // Record length longer than its fields.
        let mut padded = record(0, None, &[]);
        padded[0] += 2;
        padded.extend_from_slice(&[0, 0]);
        assert!(matches!(
            parse_records(&padded, 1),
            Err(RecordError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn reencoding_changes_only_the_timestamp() {
        let data = record(0, Some(b"key"), &[(b"h", None)]);
        let r = &parse_records(&data, 1).unwrap()[0];
        let mut out = Vec::new();
        reencode_with_timestamp_delta(&mut out, r, -123_456_789);
        let parsed = &parse_records(&out, 1).unwrap()[0];
        assert_eq!(parsed.timestamp_delta, -123_456_789);
        assert_eq!((parsed.key, parsed.value), (r.key, r.value));
        assert_eq!(parsed.headers.len(), 1);
    }
}
