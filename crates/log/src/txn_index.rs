//! A segment's `.txnindex`: the transactions aborted by a marker stored in that
//! segment, in Kafka's format (see `docs/format/txnindex.md`): 34-byte entries
//! `version: i16 (0), producerId: i64, firstOffset: i64, lastOffset: i64,
//! lastStableOffset: i64`, big-endian, in marker order. A read_committed fetch
//! collects the entries overlapping what it returns, so the client drops aborted
//! records.
//!
//! The entries are kept in memory (aborts are rare); the file is created at the
//! first entry and every append is fsynced, so recovery only rebuilds entries for
//! markers after the producer snapshot it replays from.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::LogError;

/// Suffix of transaction index files.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Bytes of one entry.
pub const ABORTED_TXN_BYTES: usize = 34;
/// The entry version Kafka writes.
const ABORTED_TXN_VERSION: i16 = 0;
/// Largest index read back: two million aborted transactions in one segment.
pub const TXN_INDEX_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// One aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// The transaction's first offset.
    pub first_offset: i64,
    /// The ABORT marker's offset.
    pub last_offset: i64,
    /// The partition's LSO right after the marker.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ABORTED_TXN_BYTES] {
        let mut out = [0u8; ABORTED_TXN_BYTES];
        out[..2].copy_from_slice(&ABORTED_TXN_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// Decodes one entry; `None` for a version Kafka does not write or offsets
    /// that contradict each other.
    pub fn decode(b: &[u8; ABORTED_TXN_BYTES]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        if i16::from_be_bytes([b[0], b[1]]) != ABORTED_TXN_VERSION {
            return None;
        }
        let txn = AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        };
        let plausible =
            txn.producer_id >= 0 && txn.first_offset >= 0 && txn.first_offset <= txn.last_offset;
        plausible.then_some(txn)
    }
}

/// Decodes a whole index file; `path` names it in errors.
pub fn decode_all(buf: &[u8], path: &Path) -> Result<Vec<AbortedTxn>, LogError> {
    if !buf.len().is_multiple_of(ABORTED_TXN_BYTES) {
        return Err(LogError::corrupt(
            path,
            format!(
                "transaction index of {} bytes is not a whole number of {ABORTED_TXN_BYTES}-byte entries",
                buf.len()
            ),
        ));
    }
    let mut entries: Vec<AbortedTxn> = Vec::with_capacity(buf.len() / ABORTED_TXN_BYTES);
    for (i, chunk) in buf.chunks_exact(ABORTED_TXN_BYTES).enumerate() {
        let mut b = [0u8; ABORTED_TXN_BYTES];
        b.copy_from_slice(chunk);
        let Some(txn) = AbortedTxn::decode(&b) else {
            return Err(LogError::corrupt(
                path,
                format!("transaction index entry {i} is not a valid aborted transaction"),
            ));
        };
        if entries
            .last()
            .is_some_and(|l| l.last_offset >= txn.last_offset)
        {
            return Err(LogError::corrupt(
                path,
                format!("transaction index entry {i} does not follow the one before it"),
            ));
        }
        entries.push(txn);
    }
    Ok(entries)
}

/// Reads the index at `path` (a missing file is an empty index).
pub fn read(path: &Path) -> Result<Vec<AbortedTxn>, LogError> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::io(path, e)),
    };
    if len > TXN_INDEX_BYTES_MAX {
        return Err(LogError::corrupt(
            path,
            format!("transaction index of {len} bytes exceeds {TXN_INDEX_BYTES_MAX}"),
        ));
    }
    let buf = std::fs::read(path).map_err(LogError::at(path))?;
    decode_all(&buf, path)
}

/// The aborted transactions of one segment.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// An empty index; a stale file at `path` is removed.
    pub fn create(path: PathBuf) -> Result<Self, LogError> {
        remove_file_if_exists(&path)?;
        Ok(TxnIndex {
            path,
            entries: Vec::new(),
        })
    }

    /// Loads the index at `path`. An unreadable one is dropped with a warning: the
    /// caller rebuilds what it can from the log (see `producer_state_load`).
    pub fn open(path: PathBuf) -> Result<Self, LogError> {
        let entries = match read(&path) {
            Ok(entries) => entries,
            Err(LogError::Corrupt { .. }) => {
                tracing::warn!(index = %path.display(), "discarding unreadable transaction index");
                remove_file_if_exists(&path)?;
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        Ok(TxnIndex { path, entries })
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Appends `txn` and fsyncs it (the marker it describes is fsynced too).
    pub fn append(&mut self, txn: AbortedTxn) -> Result<(), LogError> {
        if let Some(last) = self.entries.last() {
            assert!(
                txn.last_offset > last.last_offset,
                "aborted transactions are indexed in marker order"
            );
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(LogError::at(&self.path))?;
        file.write_all(&txn.encode())
            .map_err(LogError::at(&self.path))?;
        file.sync_data().map_err(LogError::at(&self.path))?;
        self.entries.push(txn);
        Ok(())
    }

    /// Drops the entries whose marker is at or after `offset` (Kafka's truncateTo).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        if keep == 0 {
            return remove_file_if_exists(&self.path);
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(LogError::at(&self.path))?;
        file.set_len((keep * ABORTED_TXN_BYTES) as u64)
            .map_err(LogError::at(&self.path))?;
        file.sync_data().map_err(LogError::at(&self.path))
    }

    /// The entries overlapping `[fetch_offset, upper_bound_offset)`; `true` with
    /// them when an entry shows no later segment can hold more (its LSO reaches the
    /// upper bound), as Kafka's collectAbortedTxns.
    pub fn collect(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
        out: &mut Vec<AbortedTxn>,
    ) -> bool {
        for e in &self.entries {
            if e.last_offset >= fetch_offset && e.first_offset < upper_bound_offset {
                out.push(*e);
            }
            if e.last_stable_offset >= upper_bound_offset {
                return true;
            }
        }
        false
    }

    /// Renames the file (if any) to `path`.
    pub fn rename(&mut self, path: PathBuf) -> Result<(), LogError> {
        match std::fs::rename(&self.path, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&self.path, e)),
        }
        self.path = path;
        Ok(())
    }

    pub fn delete(&self) -> Result<(), LogError> {
        remove_file_if_exists(&self.path)
    }
}

fn remove_file_if_exists(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn an_entry_has_kafkas_34_bytes() {
        let bytes = txn(0x0102, 5, 9, 10).encode();
        let mut expected = vec![0u8, 0];
        expected.extend_from_slice(&0x0102i64.to_be_bytes());
        expected.extend_from_slice(&5i64.to_be_bytes());
        expected.extend_from_slice(&9i64.to_be_bytes());
        expected.extend_from_slice(&10i64.to_be_bytes());
        assert_eq!(bytes.to_vec(), expected);
        assert_eq!(AbortedTxn::decode(&bytes), Some(txn(0x0102, 5, 9, 10)));
        let mut bad_version = bytes;
        bad_version[1] = 1;
        assert_eq!(AbortedTxn::decode(&bad_version), None);
    }

    #[test]
    fn appends_truncates_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::create(path.clone()).unwrap();
        assert!(!path.exists(), "created at the first entry");
        index.append(txn(1, 0, 3, 4)).unwrap();
        index.append(txn(2, 2, 7, 8)).unwrap();
        index.append(txn(1, 8, 9, 10)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * 34);
        assert_eq!(read(&path).unwrap(), index.entries());
        index.truncate_to(7).unwrap();
        assert_eq!(read(&path).unwrap(), vec![txn(1, 0, 3, 4)]);
        index.truncate_to(0).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn collect_returns_overlapping_entries_and_stops_at_the_upper_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndex::create(dir.path().join("x.txnindex")).unwrap();
        index.append(txn(1, 0, 3, 4)).unwrap();
        index.append(txn(2, 5, 7, 8)).unwrap();
        index.append(txn(3, 9, 12, 20)).unwrap();
        let mut out = Vec::new();
        let complete = index.collect(4, 9, &mut out);
        assert_eq!(out, vec![txn(2, 5, 7, 8)]);
        assert!(complete, "the third entry's LSO reaches 9");
        out.clear();
        assert!(
            !index.collect(0, 25, &mut out),
            "a later segment may hold more"
        );
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn a_torn_or_garbled_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txnindex");
        std::fs::write(&path, [0u8; 35]).unwrap();
        assert!(matches!(read(&path), Err(LogError::Corrupt { .. })));
        let mut two = txn(1, 5, 9, 10).encode().to_vec();
        two.extend_from_slice(&txn(1, 0, 3, 4).encode());
        std::fs::write(&path, &two).unwrap();
        assert!(matches!(read(&path), Err(LogError::Corrupt { .. })));
        let index = TxnIndex::open(path.clone()).unwrap();
        assert!(index.entries().is_empty() && !path.exists());
    }
}
