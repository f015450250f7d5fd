//! Index readers: the input becomes the `.index` and `.timeindex` of a valid segment,
//! the log is opened as after a clean shutdown (indexes trusted if they look sane),
//! and every offset and timestamp lookup must still return whole batches or a clean
//! error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_log::offset_index::count_valid_offset_entries;
use moldau_log::time_index::count_valid_time_entries;
use moldau_log::{LogConfig, PartitionLog, TopicPartition};
use moldau_protocol::batch::BatchIter;

/// A small valid segment, built once per process.
fn segment() -> &'static (Vec<u8>, i64) {
    static SEGMENT: std::sync::OnceLock<(Vec<u8>, i64)> = std::sync::OnceLock::new();
    SEGMENT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = PartitionLog::open(dir.path(), TopicPartition::new("f", 0), config(), 0, None).expect("open");
        for i in 0..40u8 {
            let mut b = batch(i);
            log.append(&mut b, 0, 1000 + i as i64).expect("append");
        }
        let bytes = std::fs::read(dir.path().join("00000000000000000000.log")).expect("read");
        (bytes, log.log_end_offset())
    })
}

fn config() -> LogConfig {
    LogConfig {
        index_interval_bytes: 64,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// A minimal valid magic-2 batch of one record (key `i`, no value), timestamp `i`.
fn batch(i: u8) -> Vec<u8> {
    // record: len, attrs, tsDelta 0, offDelta 0, keyLen 1, key, valLen -1, headers 0
    let record = [7u8, 0, 0, 0, 2, i, 1, 0];
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + record.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&(i as i64 * 10).to_be_bytes());
    b.extend_from_slice(&(i as i64 * 10).to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&record);
    let crc = crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

fuzz_target!(|data: &[u8]| {
    let (log_bytes, end) = segment();
    let _ = count_valid_offset_entries(data, log_bytes.len() as u64);
    let _ = count_valid_time_entries(data);
    let split = data.first().map_or(0, |b| *b as usize).min(data.len().saturating_sub(1));
    let (index, time_index) = data.split_at(split.min(data.len()));
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("tempdir");
    std::fs::write(dir.path().join("00000000000000000000.log"), log_bytes).expect("write");
    std::fs::write(dir.path().join("00000000000000000000.index"), index).expect("write");
    std::fs::write(dir.path().join("00000000000000000000.timeindex"), time_index).expect("write");
    let log = PartitionLog::open_with_options(dir.path(), TopicPartition::new("f", 0), config(), *end, None, true)
        .expect("a valid log with bad indexes still opens");
    assert_eq!(log.log_end_offset(), *end);
    for offset in 0..*end {
        let r = log.read(offset, 200, i64::MAX, true).expect("read");
        for item in BatchIter::new(&r.bytes) {
            item.expect("reads return whole batches");
        }
        assert!(!r.bytes.is_empty());
    }
    for ts in [-1, 0, 5, 155, 390, 1000] {
        let _ = log.offset_for_timestamp(ts);
    }
    let _ = log.max_timestamp();
});
