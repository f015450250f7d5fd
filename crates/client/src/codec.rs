//! Batch compression. Compressing goes through the `kafka-protocol` compressors (the
//! same framing Kafka clients use: xerial snappy, LZ4 frame, gzip, zstd); decompressing
//! is done here with a hard output limit, so a hostile broker cannot make the client
//! allocate without bound (a "decompression bomb").

use std::io::Read;

use bytes::{Bytes, BytesMut};
use moldau_protocol::kafka::compression::{self as kc, Compressor};

use crate::error::{Error, Result};

/// Default largest size a single batch may decompress to, in bytes.
pub const DECOMPRESSED_BATCH_BYTES_MAX_DEFAULT: usize = 128 * 1024 * 1024;
/// Magic prefix of xerial-framed snappy, which the Java client writes.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Xerial header: magic (8), version (4), compatible version (4).
const XERIAL_HEADER_BYTES: usize = 16;

/// Compression codec of produced batches (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, like the Java client).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The value of the low three attribute bits of a batch.
    pub fn attribute(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Parses Kafka's `compression.type` names.
    pub fn from_name(name: &str) -> Result<Compression> {
        match name {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            other => Err(Error::Config(format!("unknown compression.type {other}"))),
        }
    }
}

/// Appends `raw`, compressed with `codec`, to `out`.
pub fn compress(codec: Compression, raw: BytesMut, out: &mut BytesMut) -> Result<()> {
    let mut raw = Some(raw);
    // The compressors' callback type is `anyhow::Result`, hence the dependency.
    let fill = |tmp: &mut BytesMut| -> anyhow::Result<()> {
        if let Some(r) = raw.take() {
            *tmp = r;
        }
        Ok(())
    };
    let result = match codec {
        Compression::None => {
            if let Some(r) = raw.take() {
                out.extend_from_slice(&r);
            }
            Ok(())
        }
        Compression::Gzip => kc::Gzip::compress(out, fill),
        Compression::Snappy => kc::Snappy::compress(out, fill),
        Compression::Lz4 => kc::Lz4::compress(out, fill),
        Compression::Zstd => kc::Zstd::compress(out, fill),
    };
    result.map_err(|e| Error::Encode(format!("{codec:?} compression: {e}")))
}

/// Decompresses a batch payload of codec `attribute` (1..=4), producing at most
/// `limit` bytes.
pub fn decompress(attribute: i16, payload: &[u8], limit: usize) -> Result<Bytes> {
    let out = match attribute {
        1 => read_limited(flate2::read::GzDecoder::new(payload), limit)?,
        2 => snappy(payload, limit)?,
        3 => {
            let dec = lz4::Decoder::new(payload)
                .map_err(|e| Error::Protocol(format!("lz4 header: {e}")))?;
            read_limited(dec, limit)?
        }
        4 => {
            let dec = zstd::stream::read::Decoder::with_buffer(payload)
                .map_err(|e| Error::Protocol(format!("zstd: {e}")))?;
            read_limited(dec, limit)?
        }
        other => {
            return Err(Error::Protocol(format!(
                "unknown compression codec {other}"
            )))
        }
    };
    Ok(Bytes::from(out))
}

fn read_limited(reader: impl Read, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Protocol(format!("decompression failed: {e}")))?;
    if out.len() > limit {
        return Err(Error::Protocol(format!(
            "batch decompresses to more than {limit} bytes"
        )));
    }
    Ok(out)
}

/// Snappy as Kafka clients write it: xerial framing (a header, then length-prefixed
/// raw snappy blocks) or, from some clients, one raw snappy block.
fn snappy(payload: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if payload.len() >= XERIAL_HEADER_BYTES && payload.starts_with(XERIAL_MAGIC) {
        let mut rest = &payload[XERIAL_HEADER_BYTES..];
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(Error::Protocol("truncated snappy block length".into()));
            }
            let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            rest = &rest[4..];
            if n > rest.len() {
                return Err(Error::Protocol("truncated snappy block".into()));
            }
            snappy_block(&rest[..n], &mut out, limit)?;
            rest = &rest[n..];
        }
    } else {
        snappy_block(payload, &mut out, limit)?;
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let len = snap::raw::decompress_len(block)
        .map_err(|e| Error::Protocol(format!("snappy header: {e}")))?;
    if out.len().saturating_add(len) > limit {
        return Err(Error::Protocol(format!(
            "batch decompresses to more than {limit} bytes"
        )));
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| Error::Protocol(format!("snappy: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BytesMut {
        let mut b = BytesMut::new();
        for i in 0..2000u32 {
            b.extend_from_slice(format!("record-{i}-payload;").as_bytes());
        }
        b
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let raw = sample();
            let mut out = BytesMut::new();
            compress(codec, raw.clone(), &mut out).unwrap();
            if codec == Compression::None {
                assert_eq!(out, raw);
                continue;
            }
            assert!(out.len() < raw.len(), "{codec:?} did not compress");
            let back = decompress(codec.attribute(), &out, 1 << 20).unwrap();
            assert_eq!(&back[..], &raw[..], "{codec:?}");
        }
    }

    #[test]
    fn output_limit_stops_decompression_bombs() {
        let raw = BytesMut::from(&vec![0u8; 1 << 20][..]);
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut out = BytesMut::new();
            compress(codec, raw.clone(), &mut out).unwrap();
            let err = decompress(codec.attribute(), &out, 1000).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{codec:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for attr in 1..=5 {
            assert!(decompress(attr, &[1, 2, 3, 4, 5, 6, 7, 8, 9], 1 << 20).is_err());
        }
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(decompress(2, &framed, 1 << 20).is_err());
    }

    #[test]
    fn names_parse() {
        assert_eq!(Compression::from_name("zstd").unwrap(), Compression::Zstd);
        assert!(Compression::from_name("brotli").is_err());
    }
}
