//! Variable-length integers: zig-zag varints and varlongs (record fields in a magic-2
//! batch) and unsigned varints (lengths and tags of Kafka's flexible-version messages,
//! as in metadata records). The one copy in the workspace: readers are bounded (five
//! bytes for a varint, ten for a varlong) and never read past the slice they are given.

use bytes::BufMut;

/// Longest varint (for an i32) in bytes.
pub const VARINT_BYTES_MAX: usize = 5;
/// Longest varlong (for an i64) in bytes.
pub const VARLONG_BYTES_MAX: usize = 10;

/// Appends `v` as a zig-zag varint.
pub fn put_varint(buf: &mut impl BufMut, v: i32) {
    put_unsigned(buf, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

/// Appends `v` as a zig-zag varlong.
pub fn put_varlong(buf: &mut impl BufMut, v: i64) {
    put_unsigned(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `v` as an unsigned varint (no zig-zag).
pub fn put_uvarint(buf: &mut impl BufMut, v: u32) {
    put_unsigned(buf, v as u64);
}

/// Encoded size of `v` as an unsigned varint.
pub fn uvarint_len(v: u32) -> usize {
    unsigned_len(v as u64)
}

fn put_unsigned(buf: &mut impl BufMut, mut u: u64) {
    while u >= 0x80 {
        buf.put_u8((u as u8) | 0x80);
        u >>= 7;
    }
    buf.put_u8(u as u8);
}

/// Encoded size of `v` as a zig-zag varint.
pub fn varint_len(v: i32) -> usize {
    unsigned_len(((v << 1) ^ (v >> 31)) as u32 as u64)
}

/// Encoded size of `v` as a zig-zag varlong.
pub fn varlong_len(v: i64) -> usize {
    unsigned_len(((v << 1) ^ (v >> 63)) as u64)
}

fn unsigned_len(u: u64) -> usize {
    let bits = 64 - (u | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a zig-zag varint from the front of `buf`, advancing it. `None` when the
/// bytes run out or the value is longer than five bytes.
pub fn get_varint(buf: &mut &[u8]) -> Option<i32> {
    let u = get_unsigned(buf, VARINT_BYTES_MAX)?;
    if u > u32::MAX as u64 {
        return None;
    }
    let u = u as u32;
    Some(((u >> 1) as i32) ^ -((u & 1) as i32))
}

/// Reads an unsigned varint from the front of `buf`, advancing it. `None` when the
/// bytes run out, the value is longer than five bytes or does not fit a u32.
pub fn get_uvarint(buf: &mut &[u8]) -> Option<u32> {
    u32::try_from(get_unsigned(buf, VARINT_BYTES_MAX)?).ok()
}

/// Reads a zig-zag varlong from the front of `buf`, advancing it.
pub fn get_varlong(buf: &mut &[u8]) -> Option<i64> {
    let u = get_unsigned(buf, VARLONG_BYTES_MAX)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

fn get_unsigned(buf: &mut &[u8], max_bytes: usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lengths() {
        for v in [0, 1, -1, 63, -64, 64, 300, i32::MAX, i32::MIN] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut s = &b[..];
            assert_eq!(get_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
        for v in [0i64, -1, 1 << 40, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v));
            let mut s = &b[..];
            assert_eq!(get_varlong(&mut s), Some(v));
        }
    }

    #[test]
    fn unsigned_varints_round_trip_without_zigzag() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), uvarint_len(v), "{v}");
            let mut s = &b[..];
            assert_eq!(get_uvarint(&mut s), Some(v));
            assert!(s.is_empty());
        }
        let mut b = Vec::new();
        put_uvarint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        // Five bytes whose value passes 32 bits, and a truncated one.
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(get_uvarint(&mut s), None);
        let mut s: &[u8] = &[0x80];
        assert_eq!(get_uvarint(&mut s), None);
    }

    #[test]
    fn zigzag_matches_kafka_examples() {
        let mut b = Vec::new();
        put_varint(&mut b, -1);
        assert_eq!(b, [1]);
        b.clear();
        put_varint(&mut b, 1);
        assert_eq!(b, [2]);
    }

    #[test]
    fn truncated_or_overlong_input_is_refused() {
        let mut s: &[u8] = &[0x80, 0x80];
        assert_eq!(get_varint(&mut s), None);
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(get_varint(&mut s), None);
    }
}
