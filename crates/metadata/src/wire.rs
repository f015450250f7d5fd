//! The field encoding of metadata records: Kafka's "flexible version" message format
//! (unsigned varints, compact strings and arrays, 16-byte uuids, a tagged-field
//! section at the end). The reader is bounded: every length is checked against a named
//! limit and against the bytes left before anything is allocated, and it never reads
//! past the slice it was given.

use crate::MetadataError;

/// Longest unsigned varint (a u32) in bytes.
pub const UVARINT_BYTES_MAX: usize = 5;
/// Longest string a record may hold, in bytes (Kafka's int16 string limit).
pub const RECORD_STRING_BYTES_MAX: usize = i16::MAX as usize;
/// Most items in one array field (replicas, endpoints, features).
pub const RECORD_ARRAY_ITEMS_MAX: usize = 65_536;
/// Most tagged fields in one tagged-field section.
pub const RECORD_TAGGED_FIELDS_MAX: usize = 64;

fn malformed(what: &str) -> MetadataError {
    MetadataError::Malformed(what.to_string())
}

/// Appends fields to a record being encoded.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn uvarint(&mut self, v: u32) {
        moldau_protocol::varint::put_uvarint(&mut self.buf, v);
    }
    pub fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }
    /// Compact length: n + 1, 0 meaning null.
    fn compact_len(&mut self, len: usize) {
        assert!(len < u32::MAX as usize, "field too long to encode");
        self.uvarint(len as u32 + 1);
    }
    pub fn string(&mut self, s: &str) {
        assert!(
            s.len() <= RECORD_STRING_BYTES_MAX,
            "string over the record limit"
        );
        self.compact_len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }
    /// Compact bytes (KRaft's `bytes` fields), bounded like strings.
    pub fn bytes(&mut self, b: &[u8]) {
        assert!(
            b.len() <= RECORD_STRING_BYTES_MAX,
            "bytes over the record limit"
        );
        self.compact_len(b.len());
        self.buf.extend_from_slice(b);
    }
    pub fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.uvarint(0),
        }
    }
    pub fn i32_array(&mut self, items: &[i32]) {
        self.array_len(items.len());
        for v in items {
            self.i32(*v);
        }
    }
    pub fn array_len(&mut self, len: usize) {
        assert!(len <= RECORD_ARRAY_ITEMS_MAX, "array over the record limit");
        self.compact_len(len);
    }
    /// A tagged-field section; `fields` are (tag, encoded value), in ascending tag order.
    pub fn tagged_fields(&mut self, fields: &[(u32, Vec<u8>)]) {
        assert!(fields.windows(2).all(|w| w[0].0 < w[1].0), "tags ascend");
        self.uvarint(fields.len() as u32);
        for (tag, value) in fields {
            self.uvarint(*tag);
            self.uvarint(value.len() as u32);
            self.buf.extend_from_slice(value);
        }
    }
}

/// Reads fields from the front of a record's bytes.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], MetadataError> {
        if n > self.rest.len() {
            return Err(malformed(&format!(
                "{what}: needs {n} bytes, {} left",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], MetadataError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    pub fn uvarint(&mut self, what: &str) -> Result<u32, MetadataError> {
        moldau_protocol::varint::get_uvarint(&mut self.rest).ok_or_else(|| {
            malformed(&format!(
                "{what}: varint truncated, longer than {UVARINT_BYTES_MAX} bytes or over 32 bits"
            ))
        })
    }
    pub fn i8(&mut self, what: &str) -> Result<i8, MetadataError> {
        Ok(self.array::<1>(what)?[0] as i8)
    }
    pub fn bool(&mut self, what: &str) -> Result<bool, MetadataError> {
        match self.array::<1>(what)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(malformed(&format!("{what}: boolean byte {b}"))),
        }
    }
    pub fn i16(&mut self, what: &str) -> Result<i16, MetadataError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    pub fn u16(&mut self, what: &str) -> Result<u16, MetadataError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &str) -> Result<i32, MetadataError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &str) -> Result<i64, MetadataError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> Result<f64, MetadataError> {
        Ok(f64::from_be_bytes(self.array(what)?))
    }
    pub fn uuid(&mut self, what: &str) -> Result<[u8; 16], MetadataError> {
        self.array(what)
    }
    /// A compact length: None for null, else checked against `limit`.
    fn compact_len(&mut self, limit: usize, what: &str) -> Result<Option<usize>, MetadataError> {
        let n = self.uvarint(what)? as usize;
        if n == 0 {
            return Ok(None);
        }
        let len = n - 1;
        if len > limit {
            return Err(malformed(&format!(
                "{what}: length {len} over the limit {limit}"
            )));
        }
        Ok(Some(len))
    }
    pub fn nullable_string(&mut self, what: &str) -> Result<Option<String>, MetadataError> {
        let Some(len) = self.compact_len(RECORD_STRING_BYTES_MAX, what)? else {
            return Ok(None);
        };
        let bytes = self.take(len, what)?;
        let s = std::str::from_utf8(bytes).map_err(|_| malformed(&format!("{what}: not UTF-8")))?;
        Ok(Some(s.to_string()))
    }
    /// Compact bytes, at most `RECORD_STRING_BYTES_MAX`; null is malformed.
    pub fn bytes(&mut self, what: &str) -> Result<Vec<u8>, MetadataError> {
        let len = self
            .compact_len(RECORD_STRING_BYTES_MAX, what)?
            .ok_or_else(|| malformed(&format!("{what}: null where bytes are required")))?;
        Ok(self.take(len, what)?.to_vec())
    }
    pub fn string(&mut self, what: &str) -> Result<String, MetadataError> {
        self.nullable_string(what)?
            .ok_or_else(|| malformed(&format!("{what}: null where a string is required")))
    }
    /// An array's item count; each item takes at least `item_bytes_min` bytes, so a
    /// count the remaining bytes cannot hold is refused before anything is allocated.
    pub fn array_len(
        &mut self,
        item_bytes_min: usize,
        what: &str,
    ) -> Result<Option<usize>, MetadataError> {
        let len = self.compact_len(RECORD_ARRAY_ITEMS_MAX, what)?;
        if let Some(n) = len {
            if n.saturating_mul(item_bytes_min.max(1)) > self.rest.len() {
                return Err(malformed(&format!(
                    "{what}: {n} items cannot fit in {} bytes",
                    self.rest.len()
                )));
            }
        }
        Ok(len)
    }
    pub fn nullable_i32_array(&mut self, what: &str) -> Result<Option<Vec<i32>>, MetadataError> {
        let Some(n) = self.array_len(4, what)? else {
            return Ok(None);
        };
        (0..n)
            .map(|_| self.i32(what))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
    pub fn i32_array(&mut self, what: &str) -> Result<Vec<i32>, MetadataError> {
        self.nullable_i32_array(what)?
            .ok_or_else(|| malformed(&format!("{what}: null where an array is required")))
    }
    /// Reads a tagged-field section, handing each known tag's bytes to `known`
    /// (which returns false for a tag it does not know: such fields are skipped, as
    /// Kafka skips unknown tagged fields).
    pub fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &'a [u8]) -> Result<bool, MetadataError>,
    ) -> Result<(), MetadataError> {
        let count = self.uvarint("tagged field count")? as usize;
        if count > RECORD_TAGGED_FIELDS_MAX {
            return Err(malformed(&format!(
                "{count} tagged fields, over the limit {RECORD_TAGGED_FIELDS_MAX}"
            )));
        }
        let mut last_tag = None;
        for _ in 0..count {
            let tag = self.uvarint("tag")?;
            if last_tag.is_some_and(|last| tag <= last) {
                return Err(malformed("tagged fields out of order"));
            }
            last_tag = Some(tag);
            let size = self.uvarint("tagged field size")? as usize;
            let value = self.take(size, "tagged field")?;
            known(tag, value)?;
        }
        Ok(())
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &str) -> Result<(), MetadataError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(&format!(
                "{what}: {} trailing bytes",
                self.rest.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::default();
        w.uvarint(300);
        w.string("héllo");
        w.nullable_string(None);
        w.i32_array(&[1, -2, 3]);
        w.i64(-7);
        w.tagged_fields(&[(0, vec![9]), (3, vec![])]);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.uvarint("v").unwrap(), 300);
        assert_eq!(r.string("s").unwrap(), "héllo");
        assert_eq!(r.nullable_string("n").unwrap(), None);
        assert_eq!(r.i32_array("a").unwrap(), vec![1, -2, 3]);
        assert_eq!(r.i64("l").unwrap(), -7);
        let mut seen = vec![];
        r.tagged_fields(|tag, bytes| {
            seen.push((tag, bytes.to_vec()));
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, vec![(0, vec![9]), (3, vec![])]);
        r.finish("all").unwrap();
    }

    #[test]
    fn lengths_are_bounded() {
        // A string claiming 1 GiB, an array claiming more items than bytes left, a
        // varint that never ends: all refused without allocating.
        let mut w = Writer::default();
        w.uvarint(1 << 30);
        assert!(Reader::new(&w.buf).string("s").is_err());
        let mut w = Writer::default();
        w.uvarint(1000);
        w.i32(1);
        assert!(Reader::new(&w.buf).i32_array("a").is_err());
        assert!(Reader::new(&[0xff; 9]).uvarint("v").is_err());
        assert!(Reader::new(&[0x02, 0xff]).string("s").is_err(), "not UTF-8");
        assert!(Reader::new(&[2]).bool("b").is_err());
    }
}
