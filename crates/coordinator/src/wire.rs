//! Bounds-checked readers and writers for the Kafka primitive types used in
//! `__consumer_offsets` keys and values (classic and flexible encodings).

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Longest string a classic (int16-length-prefixed) field can hold, in bytes.
pub const STRING_BYTES_MAX: usize = i16::MAX as usize;
/// Longest unsigned varint Kafka writes (a u32 in 7-bit groups), in bytes.
const UVARINT_BYTES_MAX: usize = 5;

/// Why bytes are not a valid `__consumer_offsets` key or value.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum RecordError {
    #[error("record truncated at byte {at}: need {needed} bytes, {available} left")]
    Truncated {
        at: usize,
        needed: usize,
        available: usize,
    },
    #[error("negative length {0} for a non-nullable field")]
    NegativeLength(i64),
    #[error("string field is not valid UTF-8")]
    InvalidUtf8,
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion { what: &'static str, version: i16 },
    #[error("string of {0} bytes is longer than a record string can hold")]
    StringTooLong(usize),
    #[error("array of {count} elements cannot fit in the {available} bytes left")]
    ArrayTooLong { count: u64, available: usize },
    #[error("unsigned varint longer than {UVARINT_BYTES_MAX} bytes")]
    VarintTooLong,
    #[error("value missing for a non-tombstone record")]
    MissingValue,
}

/// Reads primitives from a byte slice, never past its end.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.remaining() {
            return Err(RecordError::Truncated {
                at: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Skips `n` bytes (an unknown tagged field).
    pub fn skip(&mut self, n: usize) -> Result<(), RecordError> {
        self.take(n).map(|_| ())
    }
    pub fn i8(&mut self) -> Result<i8, RecordError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    pub fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Unsigned LEB128 varint of at most 5 bytes.
    pub fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut value: u64 = 0;
        for i in 0..UVARINT_BYTES_MAX {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| RecordError::VarintTooLong);
            }
        }
        Err(RecordError::VarintTooLong)
    }

    fn utf8(bytes: &[u8]) -> Result<String, RecordError> {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| RecordError::InvalidUtf8)
    }

    /// Classic nullable string: int16 length (-1 = null), then UTF-8 bytes.
    pub fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        Self::utf8(self.take(len as usize)?).map(Some)
    }

    /// Classic string; a null is an error.
    pub fn string(&mut self) -> Result<String, RecordError> {
        let len = self.i16()?;
        if len < 0 {
            return Err(RecordError::NegativeLength(len.into()));
        }
        Self::utf8(self.take(len as usize)?)
    }

    /// Classic bytes: int32 length, then the bytes (checked against what is left).
    pub fn bytes(&mut self) -> Result<Bytes, RecordError> {
        let len = self.i32()?;
        if len < 0 {
            return Err(RecordError::NegativeLength(len.into()));
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }

    /// Compact nullable string: uvarint length+1 (0 = null), then UTF-8 bytes.
    pub fn compact_nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        match self.uvarint()? {
            0 => Ok(None),
            n => Self::utf8(self.take(n as usize - 1)?).map(Some),
        }
    }

    /// Compact string; a null is an error.
    pub fn compact_string(&mut self) -> Result<String, RecordError> {
        self.compact_nullable_string()?
            .ok_or(RecordError::NegativeLength(-1))
    }

    /// Compact bytes: uvarint length+1, then the bytes.
    pub fn compact_bytes(&mut self) -> Result<Bytes, RecordError> {
        match self.uvarint()? {
            0 => Err(RecordError::NegativeLength(-1)),
            n => Ok(Bytes::copy_from_slice(self.take(n as usize - 1)?)),
        }
    }

    /// Element count of a classic array (int32), checked so that each element has at
    /// least `min_element_bytes` left to read: a huge count cannot allocate.
    pub fn array_len(&mut self, min_element_bytes: usize) -> Result<usize, RecordError> {
        let count = self.i32()?;
        if count < 0 {
            return Err(RecordError::NegativeLength(count.into()));
        }
        self.check_array(count as u64, min_element_bytes)
    }

    /// Element count of a compact array (uvarint count+1; null is read as empty).
    pub fn compact_array_len(&mut self, min_element_bytes: usize) -> Result<usize, RecordError> {
        let n = self.uvarint()?;
        self.check_array(u64::from(n.saturating_sub(1)), min_element_bytes)
    }

    fn check_array(&self, count: u64, min_element_bytes: usize) -> Result<usize, RecordError> {
        let available = self.remaining();
        if count.saturating_mul(min_element_bytes.max(1) as u64) > available as u64 {
            return Err(RecordError::ArrayTooLong { count, available });
        }
        Ok(count as usize)
    }

    /// A 16-byte UUID (topic ids).
    pub fn uuid(&mut self) -> Result<[u8; 16], RecordError> {
        self.array()
    }

    /// Reads a tagged field section, returning the bytes of field `wanted` (others
    /// are skipped).
    pub fn tagged_field(&mut self, wanted: u32) -> Result<Option<&'a [u8]>, RecordError> {
        let count = self.uvarint()?;
        self.check_array(u64::from(count), 2)?;
        let mut found = None;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()?;
            let bytes = self.take(size as usize)?;
            if tag == wanted {
                found = Some(bytes);
            }
        }
        Ok(found)
    }

    /// Skips a flexible-version tagged field section (fields Moldau does not know).
    pub fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        let count = self.uvarint()?;
        self.check_array(u64::from(count), 2)?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }
}

/// Appends classic-encoding primitives to a buffer.
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    pub fn with_capacity(bytes: usize) -> Self {
        Writer {
            buf: BytesMut::with_capacity(bytes),
        }
    }
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }
    /// Classic string; fails above [`STRING_BYTES_MAX`].
    pub fn string(&mut self, s: &str) -> Result<(), RecordError> {
        if s.len() > STRING_BYTES_MAX {
            return Err(RecordError::StringTooLong(s.len()));
        }
        self.buf.put_i16(s.len() as i16);
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }
    /// Classic nullable string (-1 length for null).
    pub fn nullable_string(&mut self, s: Option<&str>) -> Result<(), RecordError> {
        match s {
            Some(s) => self.string(s),
            None => {
                self.buf.put_i16(-1);
                Ok(())
            }
        }
    }
    /// Classic bytes (int32 length).
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), RecordError> {
        let len = i32::try_from(b.len()).map_err(|_| RecordError::StringTooLong(b.len()))?;
        self.buf.put_i32(len);
        self.buf.put_slice(b);
        Ok(())
    }
    pub fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.put_slice(v);
    }
    /// Unsigned LEB128 varint.
    pub fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    /// Compact string (uvarint length+1); fails above [`STRING_BYTES_MAX`].
    pub fn compact_string(&mut self, s: &str) -> Result<(), RecordError> {
        if s.len() > STRING_BYTES_MAX {
            return Err(RecordError::StringTooLong(s.len()));
        }
        self.uvarint(s.len() as u32 + 1);
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }
    /// Compact nullable string (0 for null).
    pub fn compact_nullable_string(&mut self, s: Option<&str>) -> Result<(), RecordError> {
        match s {
            Some(s) => self.compact_string(s),
            None => {
                self.uvarint(0);
                Ok(())
            }
        }
    }
    /// Compact array length (uvarint count+1).
    pub fn compact_array_len(&mut self, count: usize) -> Result<(), RecordError> {
        let n = u32::try_from(count)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or(RecordError::StringTooLong(count))?;
        self.uvarint(n);
        Ok(())
    }
    /// Compact bytes (uvarint length+1).
    pub fn compact_bytes(&mut self, b: &[u8]) -> Result<(), RecordError> {
        self.compact_array_len(b.len())?;
        self.buf.put_slice(b);
        Ok(())
    }
    /// A tagged-field section holding one field, `tag`, with `body` as its bytes.
    pub fn one_tagged_field(&mut self, tag: u32, body: &[u8]) -> Result<(), RecordError> {
        let size = u32::try_from(body.len()).map_err(|_| RecordError::StringTooLong(body.len()))?;
        self.uvarint(1);
        self.uvarint(tag);
        self.uvarint(size);
        self.buf.put_slice(body);
        Ok(())
    }
    /// An empty tagged-field section.
    pub fn no_tagged_fields(&mut self) {
        self.uvarint(0);
    }
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_to_read_past_the_end() {
        let mut r = Reader::new(&[0, 5, b'a']);
        assert_eq!(
            r.string(),
            Err(RecordError::Truncated {
                at: 2,
                needed: 5,
                available: 1
            })
        );
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            r.array_len(1),
            Err(RecordError::ArrayTooLong { .. })
        ));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.uvarint(), Err(RecordError::VarintTooLong));
    }

    #[test]
    fn compact_forms_and_tagged_fields() {
        // "ab" as compact string, then 2 tagged fields (tag 0 size 1, tag 5 size 0).
        let buf = [3, b'a', b'b', 2, 0, 1, 9, 5, 0, 0];
        let mut r = Reader::new(&buf);
        assert_eq!(r.compact_string().as_deref(), Ok("ab"));
        r.skip_tagged_fields().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.compact_nullable_string(), Ok(None));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn writer_round_trips_through_reader() {
        let mut w = Writer::with_capacity(16);
        w.string("grp").unwrap_or_else(|e| panic!("{e}"));
        w.nullable_string(None).unwrap_or_else(|e| panic!("{e}"));
        w.bytes(&[1, 2]).unwrap_or_else(|e| panic!("{e}"));
        w.i64(-5);
        let b = w.finish();
        let mut r = Reader::new(&b);
        assert_eq!(r.string().as_deref(), Ok("grp"));
        assert_eq!(r.nullable_string(), Ok(None));
        assert_eq!(r.bytes().as_deref(), Ok(&[1u8, 2][..]));
        assert_eq!(r.i64(), Ok(-5));
        let long = "x".repeat(STRING_BYTES_MAX + 1);
        let mut w = Writer::with_capacity(0);
        assert_eq!(w.string(&long), Err(RecordError::StringTooLong(long.len())));
    }
}
