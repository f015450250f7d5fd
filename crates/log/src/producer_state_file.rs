//! Producer-state snapshots: `<offset>.snapshot` in a partition directory, Kafka's
//! format (see `docs/format/producer-snapshot.md`): the state of every producer
//! after the log's first `offset` records, so recovery replays only the log after it.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::producer_state::{BatchMetadata, ProducerStateEntry, ProducerStateManager, NO_SEQUENCE};

/// File name suffix of a producer-state snapshot.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// The only snapshot version Kafka writes.
const SNAPSHOT_VERSION: i16 = 1;
/// version (2) + crc (4) + entry count (4).
const HEADER_BYTES: usize = 10;
/// Where the CRC-covered part starts (after version and crc).
const CRC_COVERED_FROM: usize = 6;
/// producer id 8, epoch 2, last sequence 4, last offset 8, offset delta 4,
/// timestamp 8, coordinator epoch 4, current transaction first offset 8.
const ENTRY_BYTES: usize = 46;
/// Largest snapshot read back: over a million producers on one partition.
pub const SNAPSHOT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The snapshot file name for `offset`: 20 digits, like the segment files.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// Kafka's encoding of `state`. Each producer is written with its last batch only
/// (Kafka's format has room for one), so the four before it are not deduplicated
/// after a restart unless the log after the snapshot holds them.
pub fn encode(state: &ProducerStateManager) -> Vec<u8> {
    let mut entries: Vec<&ProducerStateEntry> = state.entries().collect();
    entries.sort_by_key(|e| e.producer_id);
    let mut out = Vec::with_capacity(HEADER_BYTES + entries.len() * ENTRY_BYTES);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        let (last_seq, last_offset, delta) = match e.batches.back() {
            Some(b) => (
                b.last_seq,
                b.last_offset,
                (b.last_offset - b.first_offset) as i32,
            ),
            None => (NO_SEQUENCE, -1, 0),
        };
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.epoch.to_be_bytes());
        out.extend_from_slice(&last_seq.to_be_bytes());
        out.extend_from_slice(&last_offset.to_be_bytes());
        out.extend_from_slice(&delta.to_be_bytes());
        out.extend_from_slice(&e.last_timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[CRC_COVERED_FROM..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Big-endian reads from a slice whose length was checked.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        a
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take())
    }
}

/// `seq` minus `delta`, wrapping below 0 to i32::MAX as Kafka's sequences do.
fn sequence_before(seq: i32, delta: i32) -> i32 {
    let range = i32::MAX as i64 + 1;
    ((seq as i64 - delta as i64).rem_euclid(range)) as i32
}

/// Decodes a snapshot; `path` names it in errors. Checks version, length and CRC.
pub fn decode(buf: &[u8], path: &Path) -> Result<Vec<ProducerStateEntry>, LogError> {
    if buf.len() < HEADER_BYTES {
        return Err(LogError::corrupt(
            path,
            "producer snapshot shorter than its header",
        ));
    }
    let mut r = Reader { buf, at: 0 };
    let version = r.i16();
    if version != SNAPSHOT_VERSION {
        return Err(LogError::corrupt(
            path,
            format!("producer snapshot version {version}, expected {SNAPSHOT_VERSION}"),
        ));
    }
    let stored_crc = u32::from_be_bytes(r.take());
    let computed = crc32c::crc32c(&buf[CRC_COVERED_FROM..]);
    if stored_crc != computed {
        return Err(LogError::corrupt(
            path,
            format!("producer snapshot crc {stored_crc:#x}, computed {computed:#x}"),
        ));
    }
    let count = r.i32();
    let expected_len = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(ENTRY_BYTES))
        .and_then(|b| b.checked_add(HEADER_BYTES));
    if expected_len != Some(buf.len()) {
        return Err(LogError::corrupt(
            path,
            format!(
                "producer snapshot of {} bytes cannot hold {count} entries",
                buf.len()
            ),
        ));
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let producer_id = r.i64();
        let epoch = r.i16();
        let last_seq = r.i32();
        let last_offset = r.i64();
        let delta = r.i32();
        let timestamp = r.i64();
        let coordinator_epoch = r.i32();
        let txn_first = r.i64();
        if producer_id < 0 || delta < 0 || (last_seq >= 0 && last_offset < delta as i64) {
            return Err(LogError::corrupt(
                path,
                format!("producer snapshot entry for producer {producer_id} is inconsistent"),
            ));
        }
        let mut batches = VecDeque::new();
        if last_seq >= 0 {
            batches.push_back(BatchMetadata {
                first_seq: sequence_before(last_seq, delta),
                last_seq,
                first_offset: last_offset - delta as i64,
                last_offset,
                timestamp,
            });
        }
        entries.push(ProducerStateEntry {
            producer_id,
            epoch,
            batches,
            last_timestamp: timestamp,
            coordinator_epoch,
            current_txn_first_offset: (txn_first >= 0).then_some(txn_first),
        });
    }
    Ok(entries)
}

/// Reads and decodes the snapshot at `path`.
pub fn read(path: &Path) -> Result<Vec<ProducerStateEntry>, LogError> {
    let len = std::fs::metadata(path).map_err(LogError::at(path))?.len();
    if len > SNAPSHOT_BYTES_MAX {
        return Err(LogError::corrupt(
            path,
            format!("producer snapshot of {len} bytes exceeds {SNAPSHOT_BYTES_MAX}"),
        ));
    }
    let buf = std::fs::read(path).map_err(LogError::at(path))?;
    decode(&buf, path)
}

/// Writes `state` as `<map end offset>.snapshot` (through a `.tmp` file and a
/// rename, so a reader never sees half a file); with `sync` the file is fsynced
/// first. Without it a crash may leave a damaged snapshot, which recovery detects
/// by its CRC and replaces by replaying the log.
pub fn write(dir: &Path, state: &ProducerStateManager, sync: bool) -> Result<PathBuf, LogError> {
    let path = snapshot_path(dir, state.map_end_offset());
    let tmp = path.with_extension("snapshot.tmp");
    let bytes = encode(state);
    let mut file = std::fs::File::create(&tmp).map_err(LogError::at(&tmp))?;
    file.write_all(&bytes).map_err(LogError::at(&tmp))?;
    if sync {
        file.sync_all().map_err(LogError::at(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(LogError::at(&path))?;
    Ok(path)
}

/// The snapshots in `dir`, by offset, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(i64, PathBuf)>, LogError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(LogError::at(dir))? {
        let entry = entry.map_err(LogError::at(dir))?;
        let name = entry.file_name();
        if let Some(offset) = name.to_str().and_then(offset_of) {
            found.push((offset, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes the snapshots whose offset `doomed` selects.
pub fn delete_where(dir: &Path, doomed: impl Fn(i64) -> bool) -> Result<(), LogError> {
    for (offset, path) in list(dir)? {
        if doomed(offset) {
            remove(&path)?;
        }
    }
    Ok(())
}

/// Deletes the snapshot at `path` (gone already is fine).
pub fn remove(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, e)),
    }
}

/// The offset a snapshot file name stands for (`None` for any other file).
pub fn offset_of(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse::<i64>().ok())
        .flatten()
}
