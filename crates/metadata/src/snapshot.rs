//! Metadata snapshots: the records that recreate an image, stored as record batches in
//! `__cluster_metadata-0/<20-digit end offset>-<10-digit epoch>.checkpoint` (Kafka's
//! naming). A snapshot is written to a `.checkpoint.part` file, fsynced, renamed into
//! place and the directory fsynced, so a file under its final name is complete; every
//! batch's CRC is checked when it is read. See docs/format/cluster-metadata.md.

use crate::{MetadataError, MetadataImage, MetadataRecord};
use bytes::Bytes;
use moldau_protocol::batch::{set_base_offset, set_partition_leader_epoch, BatchIter};
use moldau_protocol::batch_encode::encode_plain_batch;
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{record_data, RecordIter};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Suffix of a complete snapshot file.
pub const SNAPSHOT_SUFFIX: &str = ".checkpoint";
/// Suffix of a snapshot being written; left over only by a crash, and removed.
pub const PARTIAL_SNAPSHOT_SUFFIX: &str = ".checkpoint.part";
/// Largest snapshot file read, in bytes.
pub const SNAPSHOT_BYTES_MAX: u64 = 1 << 30;
/// A batch is closed once its record values reach this many bytes.
pub const SNAPSHOT_BATCH_BYTES_MAX: usize = 1 << 20;
/// A batch is closed once it holds this many records.
pub const SNAPSHOT_BATCH_RECORDS_MAX: usize = 4096;

/// Where a snapshot stands in the log: it holds everything before `end_offset`; the
/// last record it covers was written in `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotId {
    pub end_offset: i64,
    pub epoch: i32,
}

impl SnapshotId {
    pub fn file_name(&self) -> String {
        format!(
            "{:020}-{:010}{SNAPSHOT_SUFFIX}",
            self.end_offset, self.epoch
        )
    }

    /// The id a snapshot file name stands for; None for any other name.
    pub fn parse(name: &str) -> Option<SnapshotId> {
        let stem = name.strip_suffix(SNAPSHOT_SUFFIX)?;
        let (offset, epoch) = stem.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(offset, 20) || !digits(epoch, 10) {
            return None;
        }
        Some(SnapshotId {
            end_offset: offset.parse().ok()?,
            epoch: epoch.parse().ok()?,
        })
    }
}

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("snapshot I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt snapshot {file}: {why}")]
    Corrupt { file: String, why: String },
    #[error("snapshot {file}: {source}")]
    Record { file: String, source: MetadataError },
}

/// Writes the records that recreate `image` as snapshot `id` in `dir`, atomically.
pub fn write_snapshot(
    dir: &Path,
    id: SnapshotId,
    image: &MetadataImage,
    timestamp_ms: i64,
) -> Result<PathBuf, SnapshotError> {
    assert!(id.end_offset >= 0 && id.epoch >= 0, "snapshot id {id:?}");
    let name = id.file_name();
    let corrupt = |why: String| SnapshotError::Corrupt {
        file: name.clone(),
        why,
    };
    let mut bytes = Vec::new();
    let mut offset = 0i64;
    let mut batch: Vec<(Option<Bytes>, Option<Bytes>)> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut flush = |batch: &mut Vec<(Option<Bytes>, Option<Bytes>)>,
                     bytes: &mut Vec<u8>|
     -> Result<(), SnapshotError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut encoded = encode_plain_batch(batch, timestamp_ms).map_err(&corrupt)?;
        set_base_offset(&mut encoded, offset);
        set_partition_leader_epoch(&mut encoded, id.epoch);
        offset += batch.len() as i64;
        bytes.extend_from_slice(&encoded);
        batch.clear();
        Ok(())
    };
    for record in image.to_records() {
        let value = record.to_bytes();
        batch_bytes += value.len();
        batch.push((None, Some(Bytes::from(value))));
        if batch.len() >= SNAPSHOT_BATCH_RECORDS_MAX || batch_bytes >= SNAPSHOT_BATCH_BYTES_MAX {
            flush(&mut batch, &mut bytes)?;
            batch_bytes = 0;
        }
    }
    flush(&mut batch, &mut bytes)?;
    let partial = dir.join(format!(
        "{}{PARTIAL_SNAPSHOT_SUFFIX}",
        name.trim_end_matches(SNAPSHOT_SUFFIX)
    ));
    {
        let mut file = File::create(&partial)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    let path = dir.join(&name);
    fs::rename(&partial, &path)?;
    File::open(dir)?.sync_all()?;
    Ok(path)
}

/// Reads snapshot `id` from `dir` into an image standing at `end_offset - 1`.
pub fn read_snapshot(dir: &Path, id: SnapshotId) -> Result<MetadataImage, SnapshotError> {
    let name = id.file_name();
    let corrupt = |why: String| SnapshotError::Corrupt {
        file: name.clone(),
        why,
    };
    let path = dir.join(&name);
    let len = fs::metadata(&path)?.len();
    if len > SNAPSHOT_BYTES_MAX {
        return Err(corrupt(format!(
            "{len} bytes, over the limit {SNAPSHOT_BYTES_MAX}"
        )));
    }
    let bytes = fs::read(&path)?;
    let mut records = Vec::new();
    for item in BatchIter::new(&bytes) {
        let (_, view) = item.map_err(|e| corrupt(e.to_string()))?;
        view.validate().map_err(|e| corrupt(e.to_string()))?;
        // Both lie outside the CRC: check them against what the writer put there.
        if view.partition_leader_epoch() != id.epoch {
            return Err(corrupt(format!(
                "batch of epoch {} in a snapshot of epoch {}",
                view.partition_leader_epoch(),
                id.epoch
            )));
        }
        if view.base_offset() != records.len() as i64 {
            return Err(corrupt(format!(
                "batch at offset {} where {} was expected",
                view.base_offset(),
                records.len()
            )));
        }
        let data =
            record_data(&view, DECOMPRESSED_BATCH_BYTES_MAX).map_err(|e| corrupt(e.to_string()))?;
        for record in RecordIter::new(&data, view.records_count()) {
            let record = record.map_err(|e| corrupt(e.to_string()))?;
            let value = record
                .value
                .ok_or_else(|| corrupt("a record without a value".into()))?;
            let decoded =
                MetadataRecord::from_bytes(value).map_err(|source| SnapshotError::Record {
                    file: name.clone(),
                    source,
                })?;
            records.push(decoded);
        }
    }
    MetadataImage::from_records(&records, id.end_offset - 1).map_err(|source| {
        SnapshotError::Record {
            file: name.clone(),
            source,
        }
    })
}

/// The snapshots in `dir`, oldest first.
pub fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotId>, SnapshotError> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str().and_then(SnapshotId::parse) {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

/// Removes what a crash during `write_snapshot` left behind.
pub fn remove_partial_snapshots(dir: &Path) -> Result<(), SnapshotError> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_partial = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(PARTIAL_SNAPSHOT_SUFFIX));
        if is_partial {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

pub fn remove_snapshot(dir: &Path, id: SnapshotId) -> Result<(), SnapshotError> {
    fs::remove_file(dir.join(id.file_name()))?;
    Ok(())
}
