//! Whole batches in one call, over [`BatchBuilder`]: what the broker writes itself
//! (metadata records, group records) and what tests and tools need to produce.

use bytes::{Bytes, BytesMut};

use crate::batch::Codec;
use crate::batch_builder::{BatchBuilder, NO_HEADERS};
use crate::batch_header::{ProducerStamp, NO_SEQUENCE};

/// One record of a plain batch: key and value, either may be absent (a tombstone
/// has no value).
pub type KeyValue = (Option<Bytes>, Option<Bytes>);

/// Encodes one uncompressed magic-2 batch holding `records` with relative offsets
/// 0..n, every record stamped `timestamp_ms`, no producer id, no headers.
pub fn encode_plain_batch(records: &[KeyValue], timestamp_ms: i64) -> Result<BytesMut, String> {
    encode_batch(records, timestamp_ms, Codec::None)
}

/// Like [`encode_plain_batch`] with the given compression.
pub fn encode_batch(
    records: &[KeyValue],
    timestamp_ms: i64,
    codec: Codec,
) -> Result<BytesMut, String> {
    encode(records.iter().map(|(k, v)| (k, v, timestamp_ms)), codec)
}

/// Like [`encode_plain_batch`], but part of producer `producer_id`'s transaction at
/// `producer_epoch`: what a coordinator writes for a transaction it does not own
/// (Kafka's group coordinator for TxnOffsetCommit). No sequence: the log checks only
/// the epoch of a coordinator's batches.
pub fn encode_transactional_batch(
    records: &[KeyValue],
    timestamp_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<BytesMut, String> {
    let stamp = ProducerStamp {
        producer_id,
        producer_epoch,
        base_sequence: NO_SEQUENCE,
    };
    build(
        records.iter().map(|(k, v)| (k, v, timestamp_ms)),
        Codec::None,
        true,
        stamp,
    )
}

/// A record with its own timestamp (ms).
pub type TimedKeyValue = (Option<Bytes>, Option<Bytes>, i64);

/// Like [`encode_batch`], each record with its own timestamp; the first record's is
/// the batch's base timestamp, as in Kafka.
pub fn encode_timed_batch(records: &[TimedKeyValue], codec: Codec) -> Result<BytesMut, String> {
    encode(records.iter().map(|(k, v, t)| (k, v, *t)), codec)
}

fn encode<'a>(
    records: impl Iterator<Item = (&'a Option<Bytes>, &'a Option<Bytes>, i64)> + Clone,
    codec: Codec,
) -> Result<BytesMut, String> {
    build(records, codec, false, ProducerStamp::default())
}

fn build<'a>(
    records: impl Iterator<Item = (&'a Option<Bytes>, &'a Option<Bytes>, i64)> + Clone,
    codec: Codec,
    transactional: bool,
    stamp: ProducerStamp,
) -> Result<BytesMut, String> {
    // A first guess at the record bytes (fields plus room for their varints), so the
    // buffer rarely grows.
    let field_bytes = |f: &Option<Bytes>| f.as_ref().map_or(0, |b| b.len()) + 8;
    let capacity = records
        .clone()
        .map(|(k, v, _)| field_bytes(k) + field_bytes(v))
        .sum();
    let mut builder = BatchBuilder::new(codec, capacity).transactional(transactional);
    for (key, value, timestamp) in records {
        builder
            .push(timestamp, key.as_deref(), value.as_deref(), &NO_HEADERS)
            .map_err(|e| e.to_string())?;
    }
    builder.build(stamp).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchView;
    use crate::record::{parse_records, record_data};

    #[test]
    fn encodes_a_valid_batch() {
        let recs = vec![
            (
                Some(Bytes::from_static(b"k")),
                Some(Bytes::from_static(b"v")),
            ),
            (Some(Bytes::from_static(b"k")), None),
        ];
        let buf = encode_plain_batch(&recs, 42).unwrap();
        let view = BatchView::parse(&buf).unwrap();
        assert_eq!(view.size(), buf.len(), "one batch");
        assert_eq!(view.base_sequence(), -1);
        view.validate().unwrap();
        assert_eq!(view.records_count(), 2);
        assert_eq!(view.max_timestamp(), 42);
    }

    #[test]
    fn a_transactional_batch_carries_the_producer_and_no_sequence() {
        let recs = vec![(Some(Bytes::from_static(b"k")), None)];
        let buf = encode_transactional_batch(&recs, 42, 7000, 3).unwrap();
        let view = BatchView::parse(&buf).unwrap();
        view.validate().unwrap();
        assert!(view.is_transactional());
        assert!(!view.is_control());
        assert_eq!((view.producer_id(), view.producer_epoch()), (7000, 3));
        assert_eq!(view.base_sequence(), NO_SEQUENCE);
    }

    #[test]
    fn timed_batches_keep_each_timestamp_and_the_codec() {
        let recs: Vec<TimedKeyValue> = vec![
            (None, Some(Bytes::from_static(b"a")), 30),
            (None, Some(Bytes::from_static(b"b")), 10),
            (None, Some(Bytes::from_static(b"c")), 20),
        ];
        let buf = encode_timed_batch(&recs, Codec::Zstd).unwrap();
        let view = BatchView::parse(&buf).unwrap();
        view.validate().unwrap();
        assert_eq!(view.codec(), Codec::Zstd);
        assert_eq!((view.base_timestamp(), view.max_timestamp()), (30, 30));
        let data = record_data(&view, 1 << 10).unwrap();
        let read = parse_records(&data, 3).unwrap();
        let stamps: Vec<i64> = read.iter().map(|r| 30 + r.timestamp_delta).collect();
        assert_eq!(stamps, [30, 10, 20]);
    }
}
