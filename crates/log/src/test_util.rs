//! Helpers for the unit tests: encoded batches and fresh logs.

use bytes::{Bytes, BytesMut};
use moldau_protocol::kafka::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::{LogConfig, PartitionLog, TopicPartition};

/// One batch of `n` records with keys `k{i}` and `value_bytes`-long values, all at
/// timestamp `ts + i`.
pub fn batch(n: usize, value_bytes: usize, ts: i64) -> Vec<u8> {
    keyed_batch(
        &(0..n)
            .map(|i| (format!("k{i}"), Some(vec![b'v'; value_bytes])))
            .collect::<Vec<_>>(),
        ts,
        Compression::None,
    )
}

/// One batch with the given keys and values (None = tombstone).
pub fn keyed_batch(kv: &[(String, Option<Vec<u8>>)], ts: i64, compression: Compression) -> Vec<u8> {
    let records: Vec<Record> = kv
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: ts + i as i64,
            key: Some(Bytes::from(k.clone())),
            value: v.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect();
    // One batch: the encoder splits when offset - sequence changes, so give every
    // record the same relation by encoding them as idempotent-looking records.
    let records: Vec<Record> = records
        .into_iter()
        .map(|mut r| {
            r.sequence = r.offset as i32;
            r.producer_id = -1;
            r
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
    .expect("encode");
    let mut out = buf.to_vec();
    // Non-idempotent producers send base sequence -1.
    fix_base_sequence(&mut out, -1);
    out
}

/// Sets base sequence and recomputes the CRC.
pub fn fix_base_sequence(batch: &mut [u8], seq: i32) {
    batch[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

pub fn open_log(dir: &std::path::Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, TopicPartition::new("t", 0), config, 0, None).expect("open")
}

/// Appends `count` batches of `records` records each; returns the batches as stored.
pub fn fill(
    log: &mut PartitionLog,
    count: usize,
    records: usize,
    value_bytes: usize,
) -> Vec<Vec<u8>> {
    let mut stored = Vec::new();
    for i in 0..count {
        let mut b = batch(records, value_bytes, 1000 + i as i64 * 10);
        log.append(&mut b, 1, 5000).expect("append");
        stored.push(b);
    }
    stored
}
