//! Durable home of the metadata image: records are appended to the
//! `__cluster_metadata-0` log, fsynced, then applied. On start the log is replayed.
//! With one voter this is the whole commit protocol; a Raft quorum replaces `commit`.

use crate::error::BrokerError;
use moldau_log::{LogConfig, LogManager, SharedLog, TopicPartition, METADATA_LOG_TOPIC};
use moldau_metadata::{MetadataImage, MetadataRecord};
use moldau_protocol::batch::BatchIter;
use moldau_protocol::batch_encode::{encode_plain_batch, KeyValue};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{record_data, RecordError, RecordIter};
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;

/// Largest read while replaying the metadata log.
const METADATA_READ_BYTES_MAX: usize = 8 << 20;

/// The metadata image plus the log it is rebuilt from.
pub struct MetadataStore {
    image: RwLock<Arc<MetadataImage>>,
    log: SharedLog,
    /// Serialises commits so records are applied in log order.
    commit_lock: Mutex<()>,
}

impl MetadataStore {
    /// Opens the metadata log and replays it into a fresh image.
    pub fn open(logs: &LogManager) -> Result<Self, BrokerError> {
        let tp = TopicPartition {
            topic: METADATA_LOG_TOPIC.to_string(),
            partition: 0,
        };
        let log = match logs.get(&tp) {
            Some(log) => log,
            None => logs.create(&tp, LogConfig::default(), [0u8; 16])?,
        };
        let mut image = MetadataImage::new();
        {
            let guard = log.read();
            let mut offset = guard.log_start_offset();
            let end = guard.log_end_offset();
            while offset < end {
                let read = guard.read(offset, METADATA_READ_BYTES_MAX, end, true)?;
                if read.bytes.is_empty() {
                    break;
                }
                for item in BatchIter::new(&read.bytes) {
                    let (_, view) =
                        item.map_err(|e| BrokerError::Corrupt(format!("metadata log: {e}")))?;
                    let corrupt =
                        |e: RecordError| BrokerError::Corrupt(format!("metadata log: {e}"));
                    let data = record_data(&view, DECOMPRESSED_BATCH_BYTES_MAX).map_err(corrupt)?;
                    for record in RecordIter::new(&data, view.records_count()) {
                        let record = record.map_err(corrupt)?;
                        let record_offset = view.base_offset() + record.offset_delta as i64;
                        offset = record_offset + 1;
                        let Some(value) = record.value else { continue };
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
        }
        Ok(MetadataStore {
            image: RwLock::new(Arc::new(image)),
            log,
            commit_lock: Mutex::new(()),
        })
    }

    /// The current image; cheap to clone and consistent for a whole request.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read())
    }

    /// Validates the records against the image, makes them durable, then applies them.
    /// Either every record is applied or none is.
    pub fn commit(&self, records: &[MetadataRecord]) -> Result<Arc<MetadataImage>, BrokerError> {
        let _serial = self.commit_lock.lock();
        let mut next = (*self.image()).clone();
        for r in records {
            next.apply(r, next.last_offset())?;
        }
        let now = crate::clock::now_ms();
        let values: Vec<KeyValue> = records
            .iter()
            .map(|r| (None, Some(r.to_bytes().into())))
            .collect();
        let mut buf = encode_plain_batch(&values, now).map_err(BrokerError::Corrupt)?;
        let first_offset = {
            let mut log = self.log.write();
            let info = log.append(&mut buf, 0, now)?;
            log.flush()?;
            let leo = log.log_end_offset();
            log.set_high_watermark(leo);
            info.first_offset
        };
        // Re-apply with the real offsets so the image knows where it stands.
        let mut image = (*self.image()).clone();
        for (i, r) in records.iter().enumerate() {
            image.apply(r, first_offset + i as i64)?;
        }
        let image = Arc::new(image);
        *self.image.write() = Arc::clone(&image);
        Ok(image)
    }
}
