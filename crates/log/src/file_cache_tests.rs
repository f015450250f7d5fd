//! The bounded cache of open segment files: eviction order, reopening on read, a
//! read that races an eviction, and deleted segments giving their descriptor back.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::file_cache::{FileCache, FILE_CACHE_MIN_FILES};
use crate::test_util::{fill, open_log, small_config};
use crate::LogError;

fn files(dir: &Path, n: usize) -> Vec<(u64, PathBuf)> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("f{i}"));
            let mut f = std::fs::File::create(&path).unwrap();
            write!(f, "file {i}").unwrap();
            (FileCache::next_id(), path)
        })
        .collect()
}

/// Paths under `dir` that this process holds a descriptor for.
fn open_paths_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.to_string_lossy().to_string())
        .filter(|p| p.starts_with(&dir))
        .collect()
}

#[test]
fn a_full_cache_closes_the_least_recently_used_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileCache::new(FILE_CACHE_MIN_FILES);
    let fs = files(dir.path(), FILE_CACHE_MIN_FILES + 1);
    for (id, path) in &fs[..FILE_CACHE_MIN_FILES] {
        cache.get(*id, path).unwrap();
    }
    assert_eq!(cache.len(), FILE_CACHE_MIN_FILES);
    // Using the oldest makes the second oldest the one to go.
    cache.get(fs[0].0, &fs[0].1).unwrap();
    let (id, path) = &fs[FILE_CACHE_MIN_FILES];
    cache.get(*id, path).unwrap();
    assert_eq!(cache.len(), FILE_CACHE_MIN_FILES);
    assert!(cache.contains(fs[0].0));
    assert!(!cache.contains(fs[1].0), "least recently used is closed");
    assert_eq!(cache.opens(), FILE_CACHE_MIN_FILES as u64 + 1);
    assert_eq!(open_paths_under(dir.path()).len(), FILE_CACHE_MIN_FILES);
}

#[test]
fn a_closed_file_reopens_on_use_and_a_read_racing_its_eviction_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileCache::new(FILE_CACHE_MIN_FILES);
    let fs = files(dir.path(), FILE_CACHE_MIN_FILES + 1);
    let in_flight = cache.get(fs[0].0, &fs[0].1).unwrap();
    for (id, path) in &fs[1..] {
        cache.get(*id, path).unwrap();
    }
    assert!(!cache.contains(fs[0].0));
    // The reader that had the file when it was evicted still reads it.
    let mut buf = [0u8; 6];
    in_flight.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"file 0");
    drop(in_flight);
    let again = cache.get(fs[0].0, &fs[0].1).unwrap();
    again.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"file 0");
    assert_eq!(cache.opens(), FILE_CACHE_MIN_FILES as u64 + 2);
    cache.set_capacity(0);
    assert_eq!(cache.len(), FILE_CACHE_MIN_FILES, "never below the minimum");
}

#[test]
fn segments_closed_by_the_cache_reopen_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    let stored = fill(&mut log, 60, 3, 40);
    assert!(log.segment_count() > 3);
    log.close_segment_files();
    assert_eq!(log.open_segment_files(), 0);
    for (i, batch) in stored.iter().enumerate() {
        let r = log.read(i as i64 * 3, 1, i64::MAX, true).unwrap();
        assert_eq!(&r.bytes[..], &batch[..]);
    }
    assert_eq!(log.open_segment_files(), log.segment_count());
    // Appends reopen the active segment too.
    log.close_segment_files();
    let more = fill(&mut log, 1, 3, 40);
    let end = log.log_end_offset();
    let r = log.read(end - 3, 1, i64::MAX, true).unwrap();
    assert_eq!(&r.bytes[..], &more[0][..]);
}

#[test]
fn indexes_hold_no_descriptor_and_deleted_segments_give_theirs_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path(), small_config());
    fill(&mut log, 60, 3, 40);
    let end = log.log_end_offset();
    for offset in 0..end {
        log.read(offset, 1, i64::MAX, true).unwrap();
    }
    let open = open_paths_under(dir.path());
    assert!(
        open.iter().all(|p| p.ends_with(".log")),
        "only data files are open: {open:?}"
    );
    let segments = log.segment_count();
    assert_eq!(open.len(), segments);
    log.delete_records_before(end - 1).unwrap();
    let open = open_paths_under(dir.path());
    assert_eq!(open.len(), log.segment_count(), "{open:?}");
    assert!(log.segment_count() < segments);
    assert!(open.iter().all(|p| !p.contains("deleted")), "{open:?}");
}

#[test]
fn running_out_of_descriptors_is_a_shortage_not_a_disk_fault() {
    let emfile = LogError::io(
        Path::new("x.log"),
        std::io::Error::from_raw_os_error(libc::EMFILE),
    );
    let enfile = LogError::io(
        Path::new("x.log"),
        std::io::Error::from_raw_os_error(libc::ENFILE),
    );
    let eio = LogError::io(
        Path::new("x.log"),
        std::io::Error::from_raw_os_error(libc::EIO),
    );
    assert!(emfile.is_descriptor_shortage());
    assert!(enfile.is_descriptor_shortage());
    assert!(!eio.is_descriptor_shortage());
}
