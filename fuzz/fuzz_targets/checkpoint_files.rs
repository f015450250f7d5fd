//! The small text files a data directory holds: `meta.properties`, the four offset
//! checkpoints, and a partition's `partition.metadata` and `leader-epoch-checkpoint`.
//! The input is their contents separated by NUL bytes; they are laid out beside a
//! partition with a valid segment and the directory is opened as the broker opens it
//! (unclean, so recovery runs). Opening may fail with an error; nothing may panic, and
//! a directory that opens reads back its records.
#![no_main]

use std::path::Path;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use moldau_log::manager::{
    CLEANER_CHECKPOINT_FILE, LOG_START_CHECKPOINT_FILE, RECOVERY_POINT_CHECKPOINT_FILE,
    REPLICATION_CHECKPOINT_FILE,
};
use moldau_log::properties_file::{META_PROPERTIES_FILE, PARTITION_METADATA_FILE};
use moldau_log::{LogConfig, LogManager, TopicPartition};
use moldau_protocol::batch::{set_base_offset, set_partition_leader_epoch, BatchIter};
use moldau_protocol::batch_encode::encode_plain_batch;

const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const NODE_ID: i32 = 1;
const BATCHES: i64 = 8;

/// A segment of `BATCHES` one-record batches, leader epoch = offset / 2.
fn segment() -> &'static [u8] {
    static SEGMENT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SEGMENT.get_or_init(|| {
        let mut out = Vec::new();
        for i in 0..BATCHES {
            let record = (Some(Bytes::from(vec![i as u8])), Some(Bytes::from_static(b"v")));
            let mut b = encode_plain_batch(&[record], 1000 + i).expect("batch");
            set_base_offset(&mut b, i);
            set_partition_leader_epoch(&mut b, (i / 2) as i32);
            out.extend_from_slice(&b);
        }
        out
    })
}

fn write(dir: &Path, name: &str, bytes: Option<&[u8]>) {
    if let Some(b) = bytes {
        std::fs::write(dir.join(name), b).expect("write");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("tempdir");
    let root = dir.path();
    let partition = root.join("t-0");
    std::fs::create_dir(&partition).expect("mkdir");
    std::fs::write(partition.join("00000000000000000000.log"), segment()).expect("write");
    for name in [
        META_PROPERTIES_FILE,
        RECOVERY_POINT_CHECKPOINT_FILE,
        REPLICATION_CHECKPOINT_FILE,
        LOG_START_CHECKPOINT_FILE,
        CLEANER_CHECKPOINT_FILE,
    ] {
        write(root, name, parts.next());
    }
    write(&partition, PARTITION_METADATA_FILE, parts.next());
    write(&partition, LEADER_EPOCH_CHECKPOINT_FILE, parts.next());
    let Ok(manager) = LogManager::open(root, NODE_ID, "fuzz-cluster", LogConfig::default(), 3_600_000)
    else {
        return;
    };
    if let Some(log) = manager.get(&TopicPartition::new("t", 0)) {
        let log = log.read();
        let start = log.log_start_offset();
        let end = log.log_end_offset();
        assert!(start <= end, "log start {start} after log end {end}");
        assert!(end <= BATCHES, "log end {end} past the segment");
        if start < end {
            let read = log.read(start, 1 << 20, i64::MAX, true).expect("read");
            for item in BatchIter::new(&read.bytes) {
                item.expect("reads return whole batches");
            }
        }
    }
    let _ = manager.shutdown();
});
