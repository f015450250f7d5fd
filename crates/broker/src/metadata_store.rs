//! Durable home of the metadata image: records are appended to the
//! `__cluster_metadata-0` log, fsynced, then applied. Every
//! `metadata.log.max.record.bytes.between.snapshots` bytes of records the image is
//! written as a snapshot; on start the newest readable snapshot is loaded and only the
//! log after it replayed. The log is purged up to the snapshot before the newest, so
//! an unreadable newest snapshot still leaves one to fall back on.
//! With one voter this is the whole commit protocol; a Raft quorum replaces `commit`.

use crate::error::BrokerError;
use moldau_log::{LogConfig, LogManager, SharedLog, TopicPartition, METADATA_LOG_TOPIC};
use moldau_metadata::snapshot::{self, SnapshotId};
use moldau_metadata::{MetadataDelta, MetadataImage, MetadataRecord};
use moldau_protocol::batch::BatchIter;
use moldau_protocol::batch_encode::{encode_plain_batch, KeyValue};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{record_data, RecordError, RecordIter};
use parking_lot::{Mutex, RwLock};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest read while replaying the metadata log.
const METADATA_READ_BYTES_MAX: usize = 8 << 20;
/// The leader epoch metadata batches are written in (one voter, no elections yet).
const METADATA_LOG_EPOCH: i32 = 0;

/// The metadata image plus the log it is rebuilt from.
pub struct MetadataStore {
    image: RwLock<Arc<MetadataImage>>,
    log: SharedLog,
    dir: PathBuf,
    /// `metadata.log.max.record.bytes.between.snapshots`.
    snapshot_interval_bytes: u64,
    /// Serialises commits so records are applied in log order.
    commit_lock: Mutex<SnapshotProgress>,
}

/// Where the snapshots stand; kept under the commit lock.
struct SnapshotProgress {
    /// Record bytes committed since the newest snapshot.
    bytes_since: u64,
    /// The snapshots on disk, oldest first.
    snapshots: Vec<SnapshotId>,
}

impl MetadataStore {
    /// Opens the metadata log, loads the newest readable snapshot and replays the log
    /// after it. `snapshot_interval_bytes` is
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub fn open(logs: &LogManager, snapshot_interval_bytes: u64) -> Result<Self, BrokerError> {
        assert!(snapshot_interval_bytes > 0, "validated by the config");
        let tp = TopicPartition {
            topic: METADATA_LOG_TOPIC.to_string(),
            partition: 0,
        };
        let log = match logs.get(&tp) {
            Some(log) => log,
            None => logs.create(&tp, LogConfig::default(), [0u8; 16])?,
        };
        let (dir, start, end) = {
            let guard = log.read();
            (
                guard.dir().to_path_buf(),
                guard.log_start_offset(),
                guard.log_end_offset(),
            )
        };
        snapshot::remove_partial_snapshots(&dir).map_err(snapshot_error)?;
        let snapshots = snapshot::list_snapshots(&dir).map_err(snapshot_error)?;
        let image = newest_usable_snapshot(&dir, &snapshots, start, end)?;
        if image.is_none() && start > 0 {
            return Err(BrokerError::Corrupt(format!(
                "metadata log starts at offset {start} but no snapshot covers what came before"
            )));
        }
        let mut image = image.unwrap_or_else(MetadataImage::new);
        let bytes_since = replay(&log, &mut image)?;
        tracing::info!(
            snapshot_end_offset = snapshots.last().map_or(0, |s| s.end_offset),
            last_offset = image.last_offset(),
            replayed_bytes = bytes_since,
            "metadata loaded"
        );
        Ok(MetadataStore {
            image: RwLock::new(Arc::new(image)),
            log,
            dir,
            snapshot_interval_bytes,
            commit_lock: Mutex::new(SnapshotProgress {
                bytes_since,
                snapshots,
            }),
        })
    }

    /// The current image; cheap to clone and consistent for a whole request.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read())
    }

    /// Validates the records against the image, makes them durable, then applies them.
    /// Either every record is applied or none is.
    pub fn commit(&self, records: &[MetadataRecord]) -> Result<Arc<MetadataImage>, BrokerError> {
        self.commit_with_delta(records).map(|(image, _)| image)
    }

    /// Like [`MetadataStore::commit`], also returning what changed.
    pub fn commit_with_delta(
        &self,
        records: &[MetadataRecord],
    ) -> Result<(Arc<MetadataImage>, MetadataDelta), BrokerError> {
        let mut progress = self.commit_lock.lock();
        let current = self.image();
        // The store is the log's only writer, so the records land at its end.
        let first_offset = self.log.read().log_end_offset();
        let (image, delta) = current.apply_batch(records, first_offset)?;
        let now = crate::clock::now_ms();
        let values: Vec<KeyValue> = records
            .iter()
            .map(|r| (None, Some(r.to_bytes().into())))
            .collect();
        let record_bytes: u64 = values
            .iter()
            .map(|(_, v)| v.as_ref().map_or(0, |v| v.len() as u64))
            .sum();
        let mut buf = encode_plain_batch(&values, now).map_err(BrokerError::Corrupt)?;
        {
            let mut log = self.log.write();
            let info = log.append(&mut buf, METADATA_LOG_EPOCH, now)?;
            assert_eq!(
                info.first_offset, first_offset,
                "metadata log moved under the store"
            );
            log.flush()?;
            let leo = log.log_end_offset();
            log.set_high_watermark(leo);
        }
        let image = Arc::new(image);
        *self.image.write() = Arc::clone(&image);
        progress.bytes_since += record_bytes;
        if progress.bytes_since >= self.snapshot_interval_bytes {
            // The records are durable in the log: a failed snapshot only means a longer
            // replay next start.
            if let Err(e) = self.take_snapshot(&mut progress, &image, now) {
                tracing::warn!(error = %e, "metadata snapshot failed");
            }
        }
        Ok((image, delta))
    }

    /// Writes `image` as a snapshot, then purges the log and snapshots that the
    /// snapshot before it makes unnecessary.
    fn take_snapshot(
        &self,
        progress: &mut SnapshotProgress,
        image: &MetadataImage,
        now: i64,
    ) -> Result<(), BrokerError> {
        let id = SnapshotId {
            end_offset: image.last_offset() + 1,
            epoch: METADATA_LOG_EPOCH,
        };
        snapshot::write_snapshot(&self.dir, id, image, now).map_err(snapshot_error)?;
        progress.bytes_since = 0;
        progress.snapshots.push(id);
        tracing::info!(end_offset = id.end_offset, "metadata snapshot written");
        let keep_from = progress.snapshots.len().saturating_sub(2);
        if keep_from > 0 {
            let fallback = progress.snapshots[keep_from];
            self.log
                .write()
                .advance_log_start_past_snapshot(fallback.end_offset)?;
            for old in progress.snapshots.drain(..keep_from) {
                snapshot::remove_snapshot(&self.dir, old).map_err(snapshot_error)?;
            }
        }
        Ok(())
    }
}

fn snapshot_error(e: snapshot::SnapshotError) -> BrokerError {
    BrokerError::Corrupt(e.to_string())
}

/// The image of the newest snapshot that reads back and that the log continues
/// (it ends within the log); unreadable ones are reported and skipped.
fn newest_usable_snapshot(
    dir: &Path,
    snapshots: &[SnapshotId],
    log_start: i64,
    log_end: i64,
) -> Result<Option<MetadataImage>, BrokerError> {
    for id in snapshots.iter().rev() {
        if id.end_offset < log_start || id.end_offset > log_end {
            tracing::warn!(
                ?id,
                log_start,
                log_end,
                "metadata snapshot outside the log, skipped"
            );
            continue;
        }
        match snapshot::read_snapshot(dir, *id) {
            Ok(image) => return Ok(Some(image)),
            Err(e) => {
                tracing::warn!(error = %e, "metadata snapshot unreadable, trying an older one")
            }
        }
    }
    Ok(None)
}

/// Applies the log's records after `image.last_offset()` to `image`; returns their
/// bytes.
fn replay(log: &SharedLog, image: &mut MetadataImage) -> Result<u64, BrokerError> {
    let guard = log.read();
    let mut offset = guard.log_start_offset().max(image.last_offset() + 1);
    let end = guard.log_end_offset();
    let mut bytes = 0u64;
    let corrupt = |e: RecordError| BrokerError::Corrupt(format!("metadata log: {e}"));
    while offset < end {
        let read = guard.read(offset, METADATA_READ_BYTES_MAX, end, true)?;
        if read.bytes.is_empty() {
            break;
        }
        for item in BatchIter::new(&read.bytes) {
            let (_, view) = item.map_err(|e| BrokerError::Corrupt(format!("metadata log: {e}")))?;
            let data = record_data(&view, DECOMPRESSED_BATCH_BYTES_MAX).map_err(corrupt)?;
            for record in RecordIter::new(&data, view.records_count()) {
                let record = record.map_err(corrupt)?;
                let record_offset = view.base_offset() + record.offset_delta as i64;
                if record_offset < offset {
                    // Before the snapshot, in the batch that straddles it.
                    continue;
                }
                offset = record_offset + 1;
                let Some(value) = record.value else { continue };
                bytes += value.len() as u64;
                // A JSON-era value may stand for several records.
                let records = MetadataRecord::from_log_value(value)
                    .map_err(|e| BrokerError::Corrupt(e.to_string()))?;
                for r in &records {
                    // A record that failed validation was never committed.
                    let _ = image.apply(r, record_offset);
                }
            }
        }
    }
    Ok(bytes)
}
