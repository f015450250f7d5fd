use super::*;
use crate::batch::{refresh_crc, Codec, BATCH_HEADER_BYTES};
use crate::batch_encode::encode_timed_batch;
use crate::compression::compress;
use bytes::Bytes;

const NOW: i64 = 1_700_000_000_000;

fn batch(keys: &[Option<&str>], timestamps: &[i64], compression: Codec) -> Vec<u8> {
    let records: Vec<_> = keys
        .iter()
        .zip(timestamps)
        .map(|(k, ts)| {
            (
                k.map(|k| Bytes::from(k.to_string())),
                Some(Bytes::from("v")),
                *ts,
            )
        })
        .collect();
    encode_timed_batch(&records, compression).unwrap().to_vec()
}

fn plain(n: usize) -> Vec<u8> {
    let keys = vec![Some("k"); n];
    batch(&keys, &vec![NOW; n], Codec::None)
}

/// Replaces the record payload (uncompressed) and fixes length, count and CRC.
fn with_payload(base: &[u8], payload: &[u8], count: i32, codec_bits: i16) -> Vec<u8> {
    let mut b = base[..BATCH_HEADER_BYTES].to_vec();
    b.extend_from_slice(payload);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[21..23].copy_from_slice(&codec_bits.to_be_bytes());
    b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    refresh_crc(&mut b);
    b
}

fn check(b: &[u8], config: &ProduceValidation) -> Result<ValidatedBatch, ProduceRejection> {
    validate_produce(b, config, NOW)
}

#[test]
fn accepts_plain_and_compressed_batches() {
    for compression in [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ] {
        let b = batch(&[Some("a"), None], &[NOW - 5, NOW - 1], compression);
        let ok = check(&b, &ProduceValidation::default()).unwrap();
        assert_eq!(ok.max_timestamp, NOW - 1, "{compression:?}");
    }
}

#[test]
fn a_count_larger_than_the_records_present_is_invalid() {
    // The 70-byte batch of issue 19: one record, a header claiming 2^31-1.
    let b = plain(1);
    let payload = b[BATCH_HEADER_BYTES..].to_vec();
    let hostile = with_payload(&b, &payload, i32::MAX, 0);
    let err = check(&hostile, &ProduceValidation::default()).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRecord, "{}", err.message);
    assert!(err.message.contains("2147483647"), "{}", err.message);
}

#[test]
fn offset_deltas_must_run_from_zero_in_order() {
    let b = plain(2);
    let mut payload = b[BATCH_HEADER_BYTES..].to_vec();
    // Record 0: length, attributes, timestamp delta (0), offset delta at byte 3.
    assert_eq!(payload[3], 0);
    payload[3] = 2; // zigzag 1
    let hostile = with_payload(&b, &payload, 2, 0);
    let err = check(&hostile, &ProduceValidation::default()).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRecord);
    assert!(err.message.contains("offset delta"), "{}", err.message);
}

#[test]
fn truncated_varints_and_trailing_bytes_are_invalid() {
    let b = plain(1);
    let truncated = with_payload(&b, &[0x80, 0x80], 1, 0);
    let err = check(&truncated, &ProduceValidation::default()).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRecord);
    let mut payload = b[BATCH_HEADER_BYTES..].to_vec();
    payload.push(0);
    let trailing = with_payload(&b, &payload, 1, 0);
    let err = check(&trailing, &ProduceValidation::default()).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRecord);
}

#[test]
fn a_decompression_bomb_is_refused_within_the_bound() {
    let b = plain(1);
    let zeros = vec![0u8; 1 << 20];
    let gz = compress(Codec::Gzip, &zeros).unwrap();
    let bomb = with_payload(&b, &gz, 1, 1);
    let config = ProduceValidation {
        decompressed_bytes_max: 1 << 16,
        ..ProduceValidation::default()
    };
    let err = check(&bomb, &config).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRecord, "{}", err.message);
    let garbage = with_payload(&b, b"not gzip at all", 1, 1);
    let err = check(&garbage, &config).unwrap_err();
    assert_eq!(err.error, ResponseError::CorruptMessage, "{}", err.message);
}

#[test]
fn compacted_topics_need_keys_per_record() {
    let b = batch(&[Some("a"), None, Some("c"), None], &[NOW; 4], Codec::Lz4);
    let config = ProduceValidation {
        keys_required: true,
        ..ProduceValidation::default()
    };
    let err = check(&b, &config).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRecord);
    let indexes: Vec<i32> = err.record_errors.iter().map(|r| r.batch_index).collect();
    assert_eq!(indexes, vec![1, 3]);
    assert!(check(&b, &ProduceValidation::default()).is_ok());
}

#[test]
fn create_time_timestamps_must_lie_within_the_window() {
    let config = ProduceValidation {
        timestamp_before_max_ms: 1000,
        timestamp_after_max_ms: 500,
        ..ProduceValidation::default()
    };
    let b = batch(
        &[Some("a"), Some("b"), Some("c")],
        &[NOW - 1000, NOW + 501, NOW - 1001],
        Codec::None,
    );
    let err = check(&b, &config).unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidTimestamp);
    let indexes: Vec<i32> = err.record_errors.iter().map(|r| r.batch_index).collect();
    assert_eq!(indexes, vec![1, 2]);
    // LogAppendTime replaces the producer's timestamps: nothing to check.
    let append = ProduceValidation {
        log_append_time: true,
        ..config
    };
    assert!(check(&b, &append).is_ok());
    // -1 means "no timestamp" and is never out of range.
    let none = batch(&[Some("a")], &[NO_TIMESTAMP], Codec::None);
    assert!(check(&none, &config).is_ok());
}

#[test]
fn header_checks_keep_their_codes() {
    let b = plain(1);
    let mut flipped = b.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        check(&flipped, &ProduceValidation::default())
            .unwrap_err()
            .error,
        ResponseError::CorruptMessage
    );
    let small = ProduceValidation {
        max_message_bytes: 10,
        ..ProduceValidation::default()
    };
    assert_eq!(
        check(&b, &small).unwrap_err().error,
        ResponseError::MessageTooLarge
    );
    let mut two = b.clone();
    two.extend_from_slice(&b);
    assert_eq!(
        check(&two, &ProduceValidation::default())
            .unwrap_err()
            .error,
        ResponseError::InvalidRecord
    );
    let mut control = b.clone();
    control[22] |= 0x20;
    refresh_crc(&mut control);
    assert_eq!(
        check(&control, &ProduceValidation::default())
            .unwrap_err()
            .error,
        ResponseError::InvalidRecord
    );
}
