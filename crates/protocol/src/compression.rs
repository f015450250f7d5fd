//! Batch payload compression with Kafka's framings (gzip, xerial snappy, LZ4 frame,
//! zstd). Decompression always has an output limit, so a small hostile batch cannot
//! make the reader allocate without bound (a "decompression bomb").

use std::io::Read;

use bytes::BytesMut;
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use crate::batch::{BatchView, Codec, BATCH_HEADER_BYTES};
use crate::batch_header::{BatchHeader, BATCH_BYTES_MAX};
use crate::record::{record_data, RecordError};

/// Largest size one batch's records may decompress to, in bytes: readers refuse a
/// batch that would need more.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 128 * 1024 * 1024;

/// Kafka's snappy: xerial framing (16-byte header, then blocks of a u32 length and a
/// raw snappy block), or one raw snappy block when the header is absent.
const XERIAL_SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Xerial header: magic (8), version (4), compatible version (4).
const XERIAL_HEADER_BYTES: usize = 16;

/// Decompresses a batch payload written with `codec`, producing at most `limit`
/// bytes; `Codec::None` copies.
pub fn decompress(codec: Codec, payload: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    match codec {
        Codec::None => {
            if payload.len() > limit {
                return Err(RecordError::TooLarge { limit });
            }
            Ok(payload.to_vec())
        }
        Codec::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(payload), limit),
        Codec::Lz4 => {
            let decoder = lz4::Decoder::new(payload).map_err(decompress_error)?;
            read_bounded(decoder, limit)
        }
        Codec::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(payload).map_err(decompress_error)?;
            read_bounded(decoder, limit)
        }
        Codec::Snappy => snappy_decompress(payload, limit),
        Codec::Unknown(c) => Err(RecordError::UnsupportedCodec(c)),
    }
}

/// Compresses record bytes with `codec` (`Codec::None` copies).
pub fn compress(codec: Codec, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut out = BytesMut::new();
    compress_into(codec, BytesMut::from(data), &mut out)?;
    Ok(out.to_vec())
}

/// Appends `raw` compressed with `codec` to `out`, taking `raw` so the compressor
/// can use it without a copy.
pub fn compress_into(codec: Codec, raw: BytesMut, out: &mut BytesMut) -> Result<(), RecordError> {
    let mut raw = Some(raw);
    // The compressors' callback type is `anyhow::Result`.
    let fill = |tmp: &mut BytesMut| -> anyhow::Result<()> {
        if let Some(r) = raw.take() {
            *tmp = r;
        }
        Ok(())
    };
    let result = match codec {
        Codec::None => {
            if let Some(r) = raw.take() {
                out.extend_from_slice(&r);
            }
            Ok(())
        }
        Codec::Gzip => Gzip::compress(out, fill),
        Codec::Snappy => Snappy::compress(out, fill),
        Codec::Lz4 => Lz4::compress(out, fill),
        Codec::Zstd => Zstd::compress(out, fill),
        Codec::Unknown(c) => return Err(RecordError::UnsupportedCodec(c)),
    };
    result.map_err(|e| RecordError::Compress(e.to_string()))
}

/// The same batch with its records compressed by `target` instead (Kafka's broker-side
/// `compression.type`): header fields, record bytes and count stay as they were; the
/// length, codec bits and CRC follow the new payload. Decompression is bounded by
/// `limit`.
pub fn recompress_batch(
    view: &BatchView<'_>,
    target: Codec,
    limit: usize,
) -> Result<BytesMut, RecordError> {
    let records = record_data(view, limit)?;
    let mut buffer = BytesMut::with_capacity(BATCH_HEADER_BYTES + records.len());
    buffer.resize(BATCH_HEADER_BYTES, 0);
    buffer.extend_from_slice(&records);
    Ok(BatchHeader::of(view).seal(target, buffer, BATCH_BYTES_MAX)?)
}

fn decompress_error(e: impl std::fmt::Display) -> RecordError {
    RecordError::Decompress(e.to_string())
}

fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(decompress_error)?;
    if out.len() > limit {
        return Err(RecordError::TooLarge { limit });
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordError> {
    // The block states its decompressed length up front: check it before allocating.
    let len = snap::raw::decompress_len(block).map_err(decompress_error)?;
    if out.len().saturating_add(len) > limit {
        return Err(RecordError::TooLarge { limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(decompress_error)?;
    Ok(())
}

fn snappy_decompress(payload: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    if payload.len() < XERIAL_HEADER_BYTES || !payload.starts_with(XERIAL_SNAPPY_MAGIC) {
        snappy_block(payload, &mut out, limit)?;
        return Ok(out);
    }
    let mut rest = &payload[XERIAL_HEADER_BYTES..];
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

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Codec; 4] = [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd];

    fn sample() -> Vec<u8> {
        (0..2000u32)
            .flat_map(|i| format!("record-{i}-payload;").into_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in CODECS {
            let raw = sample();
            let packed = compress(codec, &raw).unwrap();
            assert!(packed.len() < raw.len(), "{codec:?} did not compress");
            assert_eq!(
                decompress(codec, &packed, 1 << 20).unwrap(),
                raw,
                "{codec:?}"
            );
        }
        assert_eq!(compress(Codec::None, b"abc").unwrap(), b"abc");
    }

    #[test]
    fn output_limit_stops_decompression_bombs() {
        let zeros = vec![0u8; 1 << 20];
        for codec in CODECS {
            let packed = compress(codec, &zeros).unwrap();
            assert_eq!(
                decompress(codec, &packed, 1000),
                Err(RecordError::TooLarge { limit: 1000 }),
                "{codec:?}"
            );
        }
        // A raw snappy block claiming 2 GiB is refused before anything is allocated.
        assert_eq!(
            decompress(
                Codec::Snappy,
                &[0xff, 0xff, 0xff, 0xff, 0x07, 0x00],
                1 << 20
            ),
            Err(RecordError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn recompressing_keeps_the_records_and_header() {
        use crate::batch_encode::encode_plain_batch;
        let records: Vec<_> = (0..50)
            .map(|i| {
                (
                    Some(bytes::Bytes::from(format!("key-{i}"))),
                    Some(bytes::Bytes::from("value value value value")),
                )
            })
            .collect();
        let plain = encode_plain_batch(&records, 7).unwrap();
        let view = BatchView::parse(&plain).unwrap();
        let mut current = plain.to_vec();
        for target in [
            Codec::Lz4,
            Codec::Gzip,
            Codec::Zstd,
            Codec::Snappy,
            Codec::None,
        ] {
            let from = BatchView::parse(&current).unwrap();
            let out = recompress_batch(&from, target, 1 << 20).unwrap();
            let again = BatchView::parse(&out).unwrap();
            again.validate().unwrap();
            assert_eq!(again.size(), out.len());
            assert_eq!(again.codec(), target);
            assert_eq!(again.records_count(), 50);
            assert_eq!(again.max_timestamp(), view.max_timestamp());
            let data = record_data(&again, 1 << 20).unwrap();
            assert_eq!(&data[..], view.records_payload(), "{target:?}");
            current = out.to_vec();
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in CODECS {
            assert!(decompress(codec, &[1, 2, 3, 4, 5, 6, 7, 8, 9], 1 << 20).is_err());
        }
        assert_eq!(
            decompress(Codec::Unknown(6), b"x", 10),
            Err(RecordError::UnsupportedCodec(6))
        );
        let mut framed = XERIAL_SNAPPY_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(decompress(Codec::Snappy, &framed, 1 << 20).is_err());
    }
}
