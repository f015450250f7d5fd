//! The `.index` file: sparse (relative offset u32, position u32) entries, big-endian.
//!
//! An entry is added when more than `index.interval.bytes` of log were written since
//! the last one; it names the *last* offset of a batch and that batch's byte position,
//! as Kafka's does. Lookups binary-search it, then scan the log forward.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::LogError;
use crate::index_file::IndexFile;

/// Bytes per offset index entry.
pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;

/// One segment's offset index.
pub(crate) struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

/// Decodes entry `raw` (8 bytes) into (relative offset, position).
pub fn decode_offset_entry(raw: &[u8]) -> (u32, u32) {
    let rel = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let pos = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    (rel, pos)
}

/// How many leading entries of a raw index are plausible: relative offsets and
/// positions strictly increasing, positions > 0 (the first batch of a segment never
/// gets an entry) and below `log_bytes`. Zeroed preallocated slots end the count.
pub fn count_valid_offset_entries(raw: &[u8], log_bytes: u64) -> usize {
    let mut prev: Option<(u32, u32)> = None;
    let mut count = 0;
    for chunk in raw.chunks_exact(OFFSET_INDEX_ENTRY_BYTES) {
        let (rel, pos) = decode_offset_entry(chunk);
        let increasing = match prev {
            None => true,
            Some((prel, ppos)) => rel > prel && pos > ppos,
        };
        if pos == 0 || !increasing || pos as u64 >= log_bytes {
            break;
        }
        prev = Some((rel, pos));
        count += 1;
    }
    count
}

impl OffsetIndex {
    /// Opens (or creates, preallocated to `max_index_bytes`) the index of the segment
    /// starting at `base_offset`, keeping the valid leading entries for a log of
    /// `log_bytes`. Returns the index and whether its whole content was valid.
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        log_bytes: u64,
    ) -> Result<(Self, bool), LogError> {
        let mut file = IndexFile::open(path, OFFSET_INDEX_ENTRY_BYTES, max_index_bytes)?;
        let (valid, all_valid) = file.with_raw(|raw| {
            let valid = count_valid_offset_entries(raw, log_bytes);
            // Unused preallocated slots are zero: the slot after the last valid entry
            // must be. (Checking only that one keeps opening a 10 MiB index cheap.)
            let all_valid = raw[valid * OFFSET_INDEX_ENTRY_BYTES..]
                .iter()
                .take(OFFSET_INDEX_ENTRY_BYTES)
                .all(|&b| b == 0);
            (valid, all_valid)
        })?;
        file.set_entries(valid);
        Ok((OffsetIndex { base_offset, file }, all_valid))
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    fn decode(&self, entries: &[u8], i: usize) -> (i64, u32) {
        let at = i * OFFSET_INDEX_ENTRY_BYTES;
        let (rel, pos) = decode_offset_entry(&entries[at..at + OFFSET_INDEX_ENTRY_BYTES]);
        (self.base_offset + rel as i64, pos)
    }

    /// Entry `i` as (absolute offset, position).
    pub fn entry(&self, i: usize) -> Result<(i64, u32), LogError> {
        assert!(
            i < self.entries(),
            "index entry {i} beyond {}",
            self.entries()
        );
        self.file.with_entries(|e| self.decode(e, i))
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Result<Option<(i64, u32)>, LogError> {
        match self.entries() {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// The entry with the largest offset <= `offset`, or (base offset, 0).
    pub fn lookup(&self, offset: i64) -> Result<(i64, u32), LogError> {
        self.file.with_entries(|e| {
            let n = e.len() / OFFSET_INDEX_ENTRY_BYTES;
            // Index of the first entry whose offset is > target.
            let (mut lo, mut hi) = (0usize, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.decode(e, mid).0 <= offset {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == 0 {
                (self.base_offset, 0)
            } else {
                self.decode(e, lo - 1)
            }
        })
    }

    /// How many leading entries satisfy `pred` (which must hold for a prefix).
    pub fn count_prefix(&self, pred: impl Fn(i64, u32) -> bool) -> Result<usize, LogError> {
        self.file.with_entries(|e| {
            let (mut lo, mut hi) = (0usize, e.len() / OFFSET_INDEX_ENTRY_BYTES);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let (offset, pos) = self.decode(e, mid);
                if pred(offset, pos) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        })
    }

    /// Adds an entry; offsets and positions must grow.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<(), LogError> {
        let rel = offset - self.base_offset;
        assert!(
            (0..=u32::MAX as i64).contains(&rel),
            "relative offset {rel} out of range"
        );
        if let Some((last_offset, last_pos)) = self.last_entry()? {
            assert!(
                offset > last_offset && position > last_pos,
                "index entries must grow"
            );
        }
        let mut entry = [0u8; OFFSET_INDEX_ENTRY_BYTES];
        entry[..4].copy_from_slice(&(rel as u32).to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&entry)
    }

    /// Drops every entry whose position is >= `position` (log truncated there).
    pub fn truncate_to_position(&mut self, position: u32) -> Result<(), LogError> {
        let keep = self.count_prefix(|_, pos| pos < position)?;
        self.file.truncate_entries(keep)
    }

    /// Drops every entry.
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
    fn lookup_finds_floor_entry_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let (mut idx, _) = OffsetIndex::open(&path, 100, 80, 1 << 20).unwrap();
        assert_eq!(idx.lookup(150).unwrap(), (100, 0));
        idx.append(110, 4000).unwrap();
        idx.append(120, 8000).unwrap();
        idx.append(130, 12000).unwrap();
        assert_eq!(idx.lookup(105).unwrap(), (100, 0));
        assert_eq!(idx.lookup(110).unwrap(), (110, 4000));
        assert_eq!(idx.lookup(125).unwrap(), (120, 8000));
        assert_eq!(idx.lookup(1000).unwrap(), (130, 12000));
        drop(idx);
        // Preallocated (80 bytes = 10 slots) but only 3 valid entries; zeros end it.
        let (idx, all_valid) = OffsetIndex::open(&path, 100, 80, 1 << 20).unwrap();
        assert!(all_valid);
        assert_eq!(idx.entries(), 3);
        assert_eq!(idx.capacity_entries_for_test(), 10);
    }

    #[test]
    fn truncation_zeroes_and_garbage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        let (mut idx, _) = OffsetIndex::open(&path, 0, 80, 1 << 20).unwrap();
        idx.append(5, 100).unwrap();
        idx.append(9, 200).unwrap();
        idx.truncate_to_position(200).unwrap();
        assert_eq!(idx.entries(), 1);
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);
        drop(idx);
        // An entry pointing beyond the log is not plausible.
        let (idx, all_valid) = OffsetIndex::open(&path, 0, 80, 50).unwrap();
        assert_eq!(idx.entries(), 0);
        assert!(!all_valid);
    }

    #[test]
    fn an_unmapped_index_maps_again_on_lookup_and_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        let (mut idx, _) = OffsetIndex::open(&path, 0, 80, 1 << 20).unwrap();
        idx.append(5, 100).unwrap();
        assert!(idx.file.is_mapped());
        idx.close();
        assert!(!idx.file.is_mapped());
        assert_eq!(idx.lookup(7).unwrap(), (5, 100));
        assert!(idx.file.is_mapped());
        idx.close();
        idx.append(9, 200).unwrap();
        idx.close();
        assert_eq!(idx.last_entry().unwrap(), Some((9, 200)));
    }

    impl OffsetIndex {
        fn capacity_entries_for_test(&self) -> usize {
            self.file.capacity_entries()
        }
    }
}
