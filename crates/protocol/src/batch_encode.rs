//! Building a plain record batch: what the broker writes itself (metadata records,
//! group records) and what tests and tools need to produce.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One record of a plain batch: key and value, either may be absent (a tombstone
/// has no value).
pub type KeyValue = (Option<Bytes>, Option<Bytes>);

/// Encodes one uncompressed magic-2 batch holding `records` with relative offsets
/// 0..n, every record stamped `timestamp_ms`, no producer id, no headers.
pub fn encode_plain_batch(records: &[KeyValue], timestamp_ms: i64) -> Result<BytesMut, String> {
    encode_batch(records, timestamp_ms, Compression::None)
}

/// Like [`encode_plain_batch`] with the given compression.
pub fn encode_batch(
    records: &[KeyValue],
    timestamp_ms: i64,
    compression: Compression,
) -> Result<BytesMut, String> {
    let timed: Vec<TimedKeyValue> = records
        .iter()
        .map(|(key, value)| (key.clone(), value.clone(), timestamp_ms))
        .collect();
    encode_timed_batch(&timed, compression)
}

/// A record with its own timestamp (ms).
pub type TimedKeyValue = (Option<Bytes>, Option<Bytes>, i64);

/// Like [`encode_batch`], each record with its own timestamp.
pub fn encode_timed_batch(
    records: &[TimedKeyValue],
    compression: Compression,
) -> Result<BytesMut, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value, timestamp))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever offset minus sequence changes,
            // and takes the first record's sequence as the base: counting up from -1
            // keeps one batch with "no sequence" in its header.
            sequence: i as i32 - 1,
            timestamp: *timestamp,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchView;

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
}
