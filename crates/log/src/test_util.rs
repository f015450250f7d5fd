//! Helpers for the unit tests: encoded batches and fresh logs.

use bytes::Bytes;
use moldau_protocol::batch::Codec;
use moldau_protocol::batch_encode::{encode_timed_batch, TimedKeyValue};

use crate::{LogConfig, PartitionLog, TopicPartition};

/// One batch of `n` records with keys `k{i}` and `value_bytes`-long values, all at
/// timestamp `ts + i`.
pub fn batch(n: usize, value_bytes: usize, ts: i64) -> Vec<u8> {
    keyed_batch(
        &(0..n)
            .map(|i| (format!("k{i}"), Some(vec![b'v'; value_bytes])))
            .collect::<Vec<_>>(),
        ts,
        Codec::None,
    )
}

/// One batch with the given keys and values (None = tombstone), record i at
/// timestamp `ts + i`.
pub fn keyed_batch(kv: &[(String, Option<Vec<u8>>)], ts: i64, compression: Codec) -> Vec<u8> {
    let records: Vec<TimedKeyValue> = kv
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            (
                Some(Bytes::from(k.clone())),
                v.clone().map(Bytes::from),
                ts + i as i64,
            )
        })
        .collect();
    encode_timed_batch(&records, compression)
        .expect("encode")
        .to_vec()
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
