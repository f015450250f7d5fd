//! The `.timeindex` file: (timestamp i64, relative offset u32) entries, big-endian.
//!
//! Each entry records the largest timestamp seen so far in the segment and the offset
//! (last offset of the batch) that carried it; timestamps strictly grow. When a
//! segment rolls, its final maximum is appended so a closed segment's largest
//! timestamp is the last entry.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::LogError;
use crate::index_file::IndexFile;

/// Bytes per time index entry.
pub const TIME_INDEX_ENTRY_BYTES: usize = 12;

/// One segment's time index.
pub(crate) struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

/// Decodes entry `raw` (12 bytes) into (timestamp, relative offset).
pub fn decode_time_entry(raw: &[u8]) -> (i64, u32) {
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&raw[..8]);
    let rel = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
    (i64::from_be_bytes(ts), rel)
}

/// How many leading entries are plausible: timestamps non-negative and strictly
/// growing, relative offsets non-decreasing. An all-zero slot (unused preallocated
/// space) ends the count.
pub fn count_valid_time_entries(raw: &[u8]) -> usize {
    let mut prev: Option<(i64, u32)> = None;
    let mut count = 0;
    for chunk in raw.chunks_exact(TIME_INDEX_ENTRY_BYTES) {
        let (ts, rel) = decode_time_entry(chunk);
        let ok = match prev {
            None => ts >= 0 && chunk.iter().any(|&b| b != 0),
            Some((pts, prel)) => ts > pts && rel >= prel,
        };
        if !ok {
            break;
        }
        prev = Some((ts, rel));
        count += 1;
    }
    count
}

impl TimeIndex {
    /// Opens (or creates, preallocated) the time index of the segment at `base_offset`.
    /// Returns the index and whether its whole content was valid.
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<(Self, bool), LogError> {
        let mut file = IndexFile::open(path, TIME_INDEX_ENTRY_BYTES, max_index_bytes)?;
        let (valid, all_valid) = file.with_raw(|raw| {
            let valid = count_valid_time_entries(raw);
            // Unused preallocated slots are zero: the slot after the last valid entry
            // must be. (Checking only that one keeps opening a 10 MiB index cheap.)
            let all_valid = raw[valid * TIME_INDEX_ENTRY_BYTES..]
                .iter()
                .take(TIME_INDEX_ENTRY_BYTES)
                .all(|&b| b == 0);
            (valid, all_valid)
        })?;
        file.set_entries(valid);
        Ok((TimeIndex { base_offset, file }, all_valid))
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    fn decode(&self, entries: &[u8], i: usize) -> (i64, i64) {
        let at = i * TIME_INDEX_ENTRY_BYTES;
        let (ts, rel) = decode_time_entry(&entries[at..at + TIME_INDEX_ENTRY_BYTES]);
        (ts, self.base_offset + rel as i64)
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub fn entry(&self, i: usize) -> Result<(i64, i64), LogError> {
        assert!(
            i < self.entries(),
            "index entry {i} beyond {}",
            self.entries()
        );
        self.file.with_entries(|e| self.decode(e, i))
    }

    pub fn last_entry(&self) -> Result<Option<(i64, i64)>, LogError> {
        match self.entries() {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// How many leading entries satisfy `pred` (which must hold for a prefix).
    fn count_prefix(&self, pred: impl Fn(i64, i64) -> bool) -> Result<usize, LogError> {
        self.file.with_entries(|e| {
            let (mut lo, mut hi) = (0usize, e.len() / TIME_INDEX_ENTRY_BYTES);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let (ts, offset) = self.decode(e, mid);
                if pred(ts, offset) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        })
    }

    /// The entry with the largest timestamp <= `timestamp`, if any.
    pub fn lookup(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        match self.count_prefix(|ts, _| ts <= timestamp)? {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// Appends (timestamp, offset) if the timestamp is newer than the last entry's.
    /// `force` grows a full (trimmed) index by one entry, used for the final entry at roll.
    pub fn maybe_append(
        &mut self,
        timestamp: i64,
        offset: i64,
        force: bool,
    ) -> Result<(), LogError> {
        // Kafka starts from (-1, base offset): only real timestamps are indexed.
        let (last_ts, last_offset) = self.last_entry()?.unwrap_or((-1, self.base_offset));
        if timestamp <= last_ts || offset < last_offset {
            return Ok(());
        }
        if self.is_full() && !force {
            return Ok(());
        }
        let rel = offset - self.base_offset;
        assert!(
            (0..=u32::MAX as i64).contains(&rel),
            "relative offset {rel} out of range"
        );
        let mut entry = [0u8; TIME_INDEX_ENTRY_BYTES];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&(rel as u32).to_be_bytes());
        self.file.push(&entry)
    }

    /// Drops every entry whose offset is >= `offset`.
    pub fn truncate_to_offset(&mut self, offset: i64) -> Result<(), LogError> {
        let keep = self.count_prefix(|_, o| o < offset)?;
        self.file.truncate_entries(keep)
    }

    pub fn clear(&mut self) -> Result<(), LogError> {
        self.file.truncate_entries(0)
    }

    /// Unmaps the index now (before its file is deleted).
    pub fn close(&self) {
        self.file.close();
    }

    pub fn trim(&mut self) -> Result<(), LogError> {
        self.file.trim()
    }

    pub fn file(&self) -> Result<Arc<File>, LogError> {
        self.file.file()
    }

    pub fn storage(&mut self) -> &mut IndexFile {
        &mut self.file
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_growing_timestamps_and_looks_up_floor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000010.timeindex");
        let (mut idx, _) = TimeIndex::open(&path, 10, 120).unwrap();
        idx.maybe_append(1000, 12, false).unwrap();
        idx.maybe_append(900, 15, false).unwrap(); // older: ignored
        idx.maybe_append(2000, 20, false).unwrap();
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.lookup(999).unwrap(), None);
        assert_eq!(idx.lookup(1500).unwrap(), Some((1000, 12)));
        assert_eq!(idx.lookup(2000).unwrap(), Some((2000, 20)));
        drop(idx);
        let (idx, all_valid) = TimeIndex::open(&path, 10, 120).unwrap();
        assert!(all_valid);
        assert_eq!(idx.last_entry().unwrap(), Some((2000, 20)));
    }

    #[test]
    fn truncates_by_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.timeindex");
        let (mut idx, _) = TimeIndex::open(&path, 0, 120).unwrap();
        idx.maybe_append(5, 1, false).unwrap();
        idx.maybe_append(6, 4, false).unwrap();
        idx.truncate_to_offset(4).unwrap();
        assert_eq!(idx.last_entry().unwrap(), Some((5, 1)));
    }
}
