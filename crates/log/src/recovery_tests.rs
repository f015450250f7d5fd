//! Recovery: bytes flipped or cut in a segment's middle and tail, and exactly what
//! survives reopening.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use moldau_protocol::batch::BatchIter;

use crate::test_util::{fill, small_config};
use crate::{PartitionLog, TopicPartition};

/// A log of 40 batches (3 records, ~200 bytes each) over several 4 KiB segments,
/// flushed and dropped without a clean shutdown. Returns the stored batches.
fn build(dir: &Path) -> Vec<Vec<u8>> {
    let mut log =
        PartitionLog::open(dir, TopicPartition::new("t", 0), small_config(), 0, None).unwrap();
    let stored = fill(&mut log, 40, 3, 40);
    log.flush().unwrap();
    stored
}

fn reopen(dir: &Path, recovery_point: i64) -> PartitionLog {
    PartitionLog::open(
        dir,
        TopicPartition::new("t", 0),
        small_config(),
        recovery_point,
        None,
    )
    .unwrap()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Every byte the log returns, reading from the start to the end.
fn read_all(log: &PartitionLog) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if r.bytes.is_empty() {
            break;
        }
        let mut last = offset;
        for item in BatchIter::new(&r.bytes) {
            let (_, v) = item.unwrap();
            v.validate().unwrap();
            last = v.last_offset();
        }
        out.extend_from_slice(&r.bytes);
        offset = last + 1;
    }
    out
}

/// (file position within its segment, batch index) of every stored batch.
fn positions(stored: &[Vec<u8>], dir: &Path) -> Vec<(PathBuf, u64)> {
    let files = segment_files(dir);
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        for item in BatchIter::new(&data) {
            let (pos, _) = item.unwrap();
            out.push((f.clone(), pos as u64));
        }
    }
    assert_eq!(out.len(), stored.len());
    out
}

fn flip(path: &Path, at: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, at).unwrap();
}

fn concat(batches: &[Vec<u8>]) -> Vec<u8> {
    batches.iter().flatten().copied().collect()
}

#[test]
fn flipped_byte_mid_log_keeps_exactly_the_batches_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let stored = build(dir.path());
    let pos = positions(&stored, dir.path());
    let victim = 17;
    let (file, at) = &pos[victim];
    // A byte inside the record data (CRC-covered).
    flip(file, at + 70);
    let log = reopen(dir.path(), 0);
    assert_eq!(log.log_end_offset(), victim as i64 * 3);
    assert_eq!(read_all(&log), concat(&stored[..victim]));
    // Later segments are gone.
    let last_file = segment_files(dir.path()).pop().unwrap();
    assert_eq!(&last_file, file);
    assert_eq!(std::fs::metadata(file).unwrap().len(), *at);
}

#[test]
fn flipped_header_length_in_the_tail_batch() {
    let dir = tempfile::tempdir().unwrap();
    let stored = build(dir.path());
    let pos = positions(&stored, dir.path());
    let (file, at) = pos.last().unwrap();
    flip(file, at + 9); // batchLength
    let log = reopen(dir.path(), 0);
    assert_eq!(log.log_end_offset(), 39 * 3);
    assert_eq!(read_all(&log), concat(&stored[..39]));
}

#[test]
fn torn_tail_write_is_cut_at_the_last_whole_batch() {
    for cut in [1u64, 11, 12, 60, 61, 100] {
        let dir = tempfile::tempdir().unwrap();
        let stored = build(dir.path());
        let pos = positions(&stored, dir.path());
        let (file, at) = pos.last().unwrap();
        // The last batch only partly reached the disk.
        OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(at + cut)
            .unwrap();
        let log = reopen(dir.path(), 0);
        assert_eq!(log.log_end_offset(), 39 * 3, "cut at {cut}");
        assert_eq!(read_all(&log), concat(&stored[..39]));
        assert_eq!(std::fs::metadata(file).unwrap().len(), *at);
    }
}

#[test]
fn zero_filled_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let stored = build(dir.path());
    let file = segment_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    // What a crash after a file size update but before the data write leaves.
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len + 500)
        .unwrap();
    let log = reopen(dir.path(), 0);
    assert_eq!(log.log_end_offset(), 120);
    assert_eq!(read_all(&log), concat(&stored));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), len);
}

#[test]
fn missing_or_garbage_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let stored = build(dir.path());
    let files = segment_files(dir.path());
    let first_index = files[0].with_extension("index");
    let entries_before = std::fs::metadata(&first_index).unwrap().len();
    assert!(entries_before > 0);
    std::fs::remove_file(&first_index).unwrap();
    std::fs::write(files[1].with_extension("index"), [0xffu8; 40]).unwrap();
    std::fs::write(files[1].with_extension("timeindex"), [0x01u8; 7]).unwrap();
    // Recovery point at the end: only the inconsistent segments are re-read.
    let log = reopen(dir.path(), 120);
    assert_eq!(log.log_end_offset(), 120);
    assert_eq!(read_all(&log), concat(&stored));
    assert_eq!(
        std::fs::metadata(&first_index).unwrap().len(),
        entries_before
    );
    for offset in [0, 1, 50, 119] {
        let r = log.read(offset, 1, i64::MAX, true).unwrap();
        assert_eq!(&r.bytes[..], &stored[offset as usize / 3][..]);
    }
    assert_eq!(log.offset_for_timestamp(1100).unwrap(), Some((30, 1100)));
}

#[test]
fn corruption_below_the_recovery_point_segment_is_not_rescanned() {
    // Kafka semantics: data below the recovery point was fsynced and is trusted.
    let dir = tempfile::tempdir().unwrap();
    let stored = build(dir.path());
    let pos = positions(&stored, dir.path());
    let (file, at) = &pos[2];
    flip(file, at + 70);
    let log = reopen(dir.path(), 120);
    assert_eq!(log.log_end_offset(), 120);
}

#[test]
fn recovery_after_unflushed_appends_keeps_what_reached_the_file() {
    // Without a crash of the machine, written-but-unsynced data is in the page cache
    // and survives a process kill: recovery keeps it all.
    let dir = tempfile::tempdir().unwrap();
    let stored = {
        let mut log = reopen(dir.path(), 0);
        fill(&mut log, 25, 3, 40)
    };
    let log = reopen(dir.path(), 0);
    assert_eq!(log.log_end_offset(), 75);
    assert_eq!(read_all(&log), concat(&stored));
    assert_eq!(log.recovery_point(), 75, "recovered data is synced at open");
}

/// After a clean shutdown an idle partition's open writes nothing: its trimmed
/// indexes keep their length (an empty one is not preallocated again) until an
/// append needs an entry, and then the active index grows to `segment.index.bytes`.
#[test]
fn a_clean_open_leaves_trimmed_indexes_alone_until_an_append_needs_room() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("t", 0);
    let config = small_config();
    let mut log = PartitionLog::open(dir.path(), tp.clone(), config.clone(), 0, None).unwrap();
    fill(&mut log, 1, 1, 10);
    log.close_for_shutdown().unwrap();
    let end = log.log_end_offset();
    drop(log);
    let index = dir.path().join("00000000000000000000.index");
    let time_index = dir.path().join("00000000000000000000.timeindex");
    let len = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert_eq!(len(&index), 0, "one small batch has no offset index entry");
    let time_len = len(&time_index);

    let mut log =
        PartitionLog::open_with_options(dir.path(), tp, config.clone(), end, None, true).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        len(&index),
        0,
        "opening does not preallocate an existing index"
    );
    assert_eq!(len(&time_index), time_len);

    fill(&mut log, 4, 3, 100);
    assert_eq!(
        len(&index),
        config.segment_index_bytes,
        "the active index grew at once"
    );
    let read = log.read(end, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(read.first_offset, end);
}
