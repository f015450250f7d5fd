//! Compaction: newest record per key, offsets kept, tombstones expire after
//! delete.retention.ms, appends during cleaning survive, interrupted swaps finish.

use std::collections::BTreeMap;

use moldau_protocol::batch::{BatchIter, BatchView, Codec};

use crate::test_util::{keyed_batch, small_config};
use crate::{CleanupPolicy, LogConfig, PartitionLog, TopicPartition};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{parse_records, record_data};

const DAY_MS: i64 = 86_400_000;

fn compacted_config() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: DAY_MS,
        ..small_config()
    }
}

fn open(dir: &std::path::Path) -> PartitionLog {
    PartitionLog::open(
        dir,
        TopicPartition::new("c", 0),
        compacted_config(),
        0,
        None,
    )
    .unwrap()
}

/// (offset, key, value) of every record in the log, in order.
fn records(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if r.bytes.is_empty() {
            break;
        }
        for item in BatchIter::new(&r.bytes) {
            let (_, v) = item.unwrap();
            assert_eq!(v.stored_crc(), v.computed_crc());
            let data = record_data(&v, DECOMPRESSED_BATCH_BYTES_MAX).unwrap();
            for rec in parse_records(&data, v.records_count()).unwrap() {
                let o = v.base_offset() + rec.offset_delta as i64;
                if o >= offset {
                    out.push((
                        o,
                        String::from_utf8(rec.key.unwrap().to_vec()).unwrap(),
                        rec.value.map(|x| String::from_utf8(x.to_vec()).unwrap()),
                    ));
                }
            }
            offset = v.last_offset() + 1;
        }
    }
    out
}

fn put(log: &mut PartitionLog, kv: &[(&str, Option<&str>)], compression: Codec) {
    let kv: Vec<(String, Option<Vec<u8>>)> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(|v| v.as_bytes().to_vec())))
        .collect();
    let mut b = keyed_batch(&kv, 1000, compression);
    log.append(&mut b, 0, 1000).unwrap();
}

/// Writes rounds of updates to keys k0..k9 (value = round), padded to roll segments.
fn write_rounds(log: &mut PartitionLog, rounds: usize, compression: Codec) {
    for round in 0..rounds {
        for k in 0..10 {
            let key = format!("k{k}");
            let value = format!("r{round}-{}", "x".repeat(100));
            put(log, &[(&key, Some(&value))], compression);
        }
    }
}

#[test]
fn keeps_newest_record_per_key_with_original_offsets() {
    for compression in [Codec::None, Codec::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        write_rounds(&mut log, 20, compression);
        let before = records(&log);
        let active_base = *log.segment_base_offsets().last().unwrap();
        assert!(log.compact(0).unwrap());
        let after = records(&log);
        // Expected: from the closed part, only records that are the newest of their key
        // (over everything below the active segment); the active segment untouched.
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for (o, k, _) in before.iter().filter(|(o, _, _)| *o < active_base) {
            newest.insert(k.clone(), *o);
        }
        let expected: Vec<_> = before
            .iter()
            .filter(|(o, k, _)| *o >= active_base || newest[k] == *o)
            .cloned()
            .collect();
        assert_eq!(after, expected);
        assert!(after.len() < before.len());
        assert_eq!(log.log_end_offset(), 200);
        // Offset lookups still land on the right records.
        let r = log.read(after[3].0, 1, i64::MAX, true).unwrap();
        assert!(BatchView::parse(&r.bytes).unwrap().last_offset() >= after[3].0);
    }
}

#[test]
fn tombstones_survive_delete_retention_then_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    put(
        &mut log,
        &[("gone", Some("v1")), ("kept", Some("v"))],
        Codec::None,
    );
    put(&mut log, &[("gone", None)], Codec::None);
    write_rounds(&mut log, 6, Codec::None); // roll past the tombstone
    let now = 10_000_000;
    assert!(log.compact(now).unwrap());
    let after = records(&log);
    assert!(
        !after.iter().any(|(_, k, v)| k == "gone" && v.is_some()),
        "old value removed"
    );
    assert!(
        after
            .iter()
            .any(|(o, k, v)| k == "gone" && v.is_none() && *o == 2),
        "tombstone kept"
    );
    assert!(after.iter().any(|(_, k, _)| k == "kept"));
    // Before the horizon, another cleaning keeps it.
    write_rounds(&mut log, 1, Codec::None);
    log.compact(now + DAY_MS - 1).unwrap();
    assert!(records(&log).iter().any(|(_, k, _)| k == "gone"));
    // After the horizon it is dropped, even with no new dirty data.
    assert!(log.compact(now + DAY_MS).unwrap());
    let last = records(&log);
    assert!(!last.iter().any(|(_, k, _)| k == "gone"));
    assert!(last.iter().any(|(_, k, _)| k == "kept"));
}

#[test]
fn appends_during_cleaning_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    write_rounds(&mut log, 10, Codec::None);
    let plan = log.compaction_plan(0).unwrap();
    // While the plan is built (outside the lock), the broker keeps appending and rolling.
    write_rounds(&mut log, 10, Codec::None);
    let end = log.log_end_offset();
    let cleaned = plan.build(0).unwrap();
    assert!(log.swap_in(cleaned).unwrap());
    let after = records(&log);
    assert_eq!(log.log_end_offset(), end);
    // Every record appended after the plan is still there.
    let late: Vec<i64> = after
        .iter()
        .map(|(o, _, _)| *o)
        .filter(|o| *o >= 100)
        .collect();
    assert_eq!(late, (100..end).collect::<Vec<_>>());
}

#[test]
fn cleaning_is_discarded_when_the_log_was_truncated_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    write_rounds(&mut log, 10, Codec::None);
    let plan = log.compaction_plan(0).unwrap();
    log.truncate_to(50).unwrap();
    // Building may notice the shrunken files itself; if not, the swap refuses.
    if let Ok(cleaned) = plan.build(0) {
        assert!(!log.swap_in(cleaned).unwrap());
    }
    assert_eq!(records(&log).len(), 50);
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".cleaned")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn interrupted_swap_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let mut log = open(dir.path());
        write_rounds(&mut log, 10, Codec::None);
        log.flush().unwrap();
        // Compact a copy of the directory to learn the expected result.
        let copy = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, copy.path().join(p.file_name().unwrap())).unwrap();
        }
        let mut twin = PartitionLog::open(
            copy.path(),
            TopicPartition::new("c", 0),
            compacted_config(),
            100,
            None,
        )
        .unwrap();
        twin.compact(0).unwrap();
        let expected = records(&twin);
        // Now crash in the middle of the swap: cleaned files renamed to .swap,
        // originals still in place.
        let cleaned = log.compaction_plan(0).unwrap().build(0).unwrap();
        for mut g in cleaned.into_groups_for_test() {
            g.change_suffix(crate::log_loader::SWAP_SUFFIX).unwrap();
        }
        expected
    };
    let log = PartitionLog::open(
        dir.path(),
        TopicPartition::new("c", 0),
        compacted_config(),
        0,
        None,
    )
    .unwrap();
    assert_eq!(records(&log), expected);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains(".swap") && !n.contains(".cleaned")),
        "{names:?}"
    );
}

#[test]
fn background_path_compacts_through_the_shared_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    write_rounds(&mut log, 10, Codec::None);
    let before = log.size_bytes();
    let shared = std::sync::Arc::new(parking_lot::RwLock::new(log));
    crate::cleaner::run_retention_and_compaction(&shared, 0).unwrap();
    assert!(shared.read().size_bytes() < before);
}
