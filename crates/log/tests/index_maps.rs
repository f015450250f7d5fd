//! Index mappings are a bounded, process-wide resource: with the map cache capped low,
//! a log with many segments holds no more index maps than the cap, and every lookup
//! (offset and time) still finds its data after its segment's indexes were unmapped.
//! (Its own test binary: the cap is process-wide.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::path::Path;

use bytes::Bytes;
use moldau_log::map_cache::MAP_CACHE_MIN_MAPS;
use moldau_log::{LogConfig, MapCache, PartitionLog, TopicPartition};
use moldau_protocol::batch::Codec;
use moldau_protocol::batch_encode::{encode_timed_batch, TimedKeyValue};

/// Memory maps of this process whose file lies under `dir`.
fn maps_under(dir: &Path) -> usize {
    let dir = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir))
        .count()
}

fn batch(records: usize, ts: i64) -> Vec<u8> {
    let records: Vec<TimedKeyValue> = (0..records)
        .map(|i| {
            (
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::from(vec![b'v'; 100])),
                ts + i as i64,
            )
        })
        .collect();
    encode_timed_batch(&records, Codec::None).unwrap().to_vec()
}

#[test]
fn index_maps_stay_under_the_cap_and_lookups_remap_after_eviction() {
    MapCache::global().set_capacity(MAP_CACHE_MIN_MAPS);
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        ..LogConfig::default()
    };
    let mut log =
        PartitionLog::open(dir.path(), TopicPartition::new("t", 0), config, 0, None).unwrap();
    let mut stored = Vec::new();
    for i in 0..200i64 {
        let mut b = batch(5, 1_000 + i * 10);
        let info = log.append(&mut b, 1, 5_000).unwrap();
        stored.push((info.first_offset, 1_000 + i * 10, b));
    }
    assert!(
        log.segment_count() >= 20,
        "{} segments",
        log.segment_count()
    );
    assert!(
        maps_under(dir.path()) <= MAP_CACHE_MIN_MAPS,
        "{} index maps for {} segments",
        maps_under(dir.path()),
        log.segment_count()
    );

    let made_before = MapCache::global().maps_made();
    for (offset, ts, bytes) in &stored {
        let read = log.read(*offset, 1 << 20, i64::MAX, true).unwrap();
        assert_eq!(read.first_offset, *offset);
        assert_eq!(&read.bytes[..bytes.len()], &bytes[..], "batch at {offset}");
        let (found, found_ts) = log.offset_for_timestamp(*ts).unwrap().unwrap();
        assert_eq!((found, found_ts), (*offset, *ts));
    }
    assert!(
        MapCache::global().maps_made() > made_before,
        "reads of evicted segments map their indexes again"
    );
    assert!(maps_under(dir.path()) <= MAP_CACHE_MIN_MAPS);
    assert!(MapCache::global().len() <= MAP_CACHE_MIN_MAPS);
}
