//! Recovery scan: the input is a segment file (possibly torn or corrupt). After
//! recovery, everything a read returns is a valid batch (CRC checked) with growing
//! offsets, and a second open changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_log::{LogConfig, PartitionLog, TopicPartition};
use moldau_protocol::batch::BatchIter;

fn config() -> LogConfig {
    LogConfig {
        index_interval_bytes: 128,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("tempdir");
    std::fs::write(dir.path().join("00000000000000000000.log"), data).expect("write");
    let tp = TopicPartition::new("f", 0);
    let Ok(log) = PartitionLog::open(dir.path(), tp.clone(), config(), 0, None) else {
        return;
    };
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut last_seen = -1i64;
    while offset < end {
        let r = log.read(offset, 1 << 16, i64::MAX, true).expect("read after recovery");
        if r.bytes.is_empty() {
            break;
        }
        for item in BatchIter::new(&r.bytes) {
            let (_, v) = item.expect("whole batch");
            assert_eq!(v.stored_crc(), v.computed_crc(), "recovery kept a corrupt batch");
            assert!(v.base_offset() > last_seen, "offsets must grow");
            last_seen = v.last_offset();
            offset = v.last_offset() + 1;
        }
    }
    drop(log);
    let again = PartitionLog::open(dir.path(), tp, config(), 0, None).expect("second open");
    assert_eq!(again.log_end_offset(), end, "recovery is idempotent");
});
