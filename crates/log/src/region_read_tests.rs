//! `PartitionLog::read_region` returns exactly the batches `read` copies.

use std::os::unix::fs::FileExt;

use moldau_protocol::batch::BatchIter;
use rand::{Rng, SeedableRng};

use crate::test_util::{batch, open_log};
use crate::{LogConfig, LogError, PartitionLog, RegionRead};

/// The region's bytes, read back from its file.
fn region_bytes(r: &RegionRead) -> Vec<u8> {
    let Some(file) = &r.file else {
        assert_eq!(r.len, 0, "a region without a file is empty");
        return Vec::new();
    };
    let mut buf = vec![0u8; r.len as usize];
    file.read_exact_at(&mut buf, r.position)
        .expect("region readable");
    buf
}

fn records_in(bytes: &[u8]) -> i64 {
    BatchIter::new(bytes)
        .map(|b| b.expect("whole batch").1.records_count() as i64)
        .sum()
}

/// Compares `read_region` with `read` for one argument set.
fn assert_same(log: &PartitionLog, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) {
    let args = (offset, max_bytes, max_offset, min_one);
    match (
        log.read(offset, max_bytes, max_offset, min_one),
        log.read_region(offset, max_bytes, max_offset, min_one),
    ) {
        (Ok(copied), Ok(region)) => {
            let bytes = region_bytes(&region);
            assert_eq!(bytes, &copied.bytes[..], "bytes differ for {args:?}");
            assert_eq!(region.first_offset, copied.first_offset, "for {args:?}");
            // Uncompacted: offsets covered equal records returned.
            assert_eq!(region.offset_span, records_in(&bytes), "for {args:?}");
            assert_eq!(region.is_empty(), copied.bytes.is_empty());
        }
        (Err(LogError::OffsetOutOfRange { .. }), Err(LogError::OffsetOutOfRange { .. })) => {}
        (a, b) => panic!("results differ for {args:?}: {a:?} vs {b:?}"),
    }
}

/// A log of batches of random sizes (a few bytes to ~40 KiB, some larger than the
/// index interval, some smaller) over several segments. Returns the batch boundaries.
fn random_log(dir: &std::path::Path, seed: u64, batches: usize) -> (PartitionLog, Vec<i64>) {
    let config = LogConfig {
        segment_bytes: 96 * 1024,
        index_interval_bytes: 700,
        segment_index_bytes: 64 * 1024,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    };
    let mut log = open_log(dir, config);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut boundaries = vec![0];
    for i in 0..batches {
        let (records, value_bytes) = if rng.gen_bool(0.2) {
            (rng.gen_range(1..20), rng.gen_range(1000..2000))
        } else {
            (rng.gen_range(1..6), rng.gen_range(1..300))
        };
        let mut b = batch(records, value_bytes, 1000 + i as i64);
        let info = log.append(&mut b, 1, 5000).expect("append");
        boundaries.push(info.last_offset + 1);
    }
    (log, boundaries)
}

#[test]
fn region_matches_read_for_many_argument_sets() {
    for seed in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, boundaries) = random_log(dir.path(), seed, 120);
        assert!(log.segment_count() >= 3, "the test needs several segments");
        let end = log.log_end_offset();
        // High watermarks: log end, inside the active segment, inside older ones.
        let n = boundaries.len();
        let marks = [end, boundaries[n - 2], boundaries[n / 2], boundaries[3], 0];
        let sizes = [0usize, 1, 60, 61, 500, 3000, 20_000, 70_000, 1 << 20];
        for &hw in &marks {
            log.set_high_watermark(hw);
            for offset in (0..=end + 1).step_by(3) {
                for &max_bytes in &sizes {
                    for min_one in [false, true] {
                        assert_same(&log, offset, max_bytes, hw, min_one);
                    }
                }
            }
        }
        // A bound that is not a batch boundary, and no bound at all.
        for offset in (0..end).step_by(7) {
            for &max_bytes in &sizes {
                assert_same(&log, offset, max_bytes, boundaries[n / 3] + 1, true);
                assert_same(&log, offset, max_bytes, i64::MAX, false);
            }
        }
    }
}

#[test]
fn region_of_whole_segments_and_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = random_log(dir.path(), 7, 80);
    let end = log.log_end_offset();
    // Everything from the start: exactly the first segment (a region never spans two).
    let r = log.read_region(0, usize::MAX, end, false).unwrap();
    let second_base = log.segment_base_offsets()[1];
    assert_eq!(r.first_offset, 0);
    assert_eq!(r.offset_span, second_base);
    assert_eq!(
        r.len,
        std::fs::metadata(dir.path().join("00000000000000000000.log"))
            .unwrap()
            .len()
    );
    // At the log end: empty; beyond it or below the start: out of range.
    assert!(log.read_region(end, 100, end, true).unwrap().is_empty());
    assert!(matches!(
        log.read_region(end + 1, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { requested, .. }) if requested == end + 1
    ));
    let start = log.delete_records_before(second_base + 1).unwrap();
    assert!(matches!(
        log.read_region(start - 1, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_same(&log, start, 1 << 20, end, false);
}

#[test]
fn limit_below_one_batch_gives_nothing_or_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), LogConfig::default());
    let mut first = batch(10, 5000, 1000);
    log.append(&mut first, 1, 5000).unwrap();
    let mut second = batch(10, 5000, 2000);
    log.append(&mut second, 1, 5000).unwrap();
    let hw = log.log_end_offset();
    assert!(log.read_region(3, 100, hw, false).unwrap().is_empty());
    let one = log.read_region(3, 100, hw, true).unwrap();
    assert_eq!((one.position, one.len), (0, first.len() as u64));
    assert_eq!((one.first_offset, one.offset_span), (0, 10));
    // Room for one and a half batches: one.
    let r = log
        .read_region(0, first.len() + second.len() / 2, hw, false)
        .unwrap();
    assert_eq!(region_bytes(&r), first);
    // The high watermark between the batches stops the read there.
    let r = log.read_region(0, 1 << 20, 10, false).unwrap();
    assert_eq!(region_bytes(&r), first);
    assert!(log.read_region(10, 1 << 20, 10, true).unwrap().is_empty());
}
