//! The producer's `compression.type`. Compressing and (bounded) decompressing are the
//! protocol crate's codec; this is the client's name for the choice.

use bytes::BytesMut;
use moldau_protocol::batch::Codec;
use moldau_protocol::compression::compress_into;

use crate::error::{Error, Result};

/// Default largest size a single batch may decompress to, in bytes.
pub const DECOMPRESSED_BATCH_BYTES_MAX_DEFAULT: usize =
    moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;

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

    /// The protocol crate's codec of the same name.
    pub fn codec(self) -> Codec {
        match self {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Gzip,
            Compression::Snappy => Codec::Snappy,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
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
    compress_into(codec.codec(), raw, out)
        .map_err(|e| Error::Encode(format!("{codec:?} compression: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_protocol::compression::decompress;

    #[test]
    fn every_codec_round_trips_through_the_protocol_codec() {
        let raw: Vec<u8> = (0..2000u32)
            .flat_map(|i| format!("record-{i}-payload;").into_bytes())
            .collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut out = BytesMut::new();
            compress(codec, BytesMut::from(&raw[..]), &mut out).unwrap();
            let back = decompress(codec.codec(), &out, 1 << 20).unwrap();
            assert_eq!(back, raw, "{codec:?}");
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!(Compression::from_name("zstd").unwrap(), Compression::Zstd);
        assert!(Compression::from_name("brotli").is_err());
    }
}
