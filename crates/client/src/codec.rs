//! The producer's `compression.type`. Compressing and (bounded) decompressing are the
//! protocol crate's codec; this is the client's name for the choice.

use moldau_protocol::batch::Codec;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(Compression::from_name("zstd").unwrap(), Compression::Zstd);
        assert!(Compression::from_name("brotli").is_err());
    }
}
