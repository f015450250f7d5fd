//! The broker's checks on the records of one produced partition, as Kafka's log
//! validator makes them: one magic-2 batch with a valid CRC, no larger than
//! `max.message.bytes`, a known codec, a record count that matches the records
//! present, offset deltas 0..n-1 in order, well-formed records (decompressed within a
//! bound), timestamps within `message.timestamp.before.max.ms` /
//! `message.timestamp.after.max.ms` when they are the producer's (CreateTime), and a
//! key on every record of a compacted topic. Nothing that fails here may be appended.

use kafka_protocol::error::ResponseError;

use crate::batch::{BatchError, BatchIter, BatchView, Codec};
use crate::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use crate::record::{record_data, RecordIter};

/// Kafka's "no timestamp" value, which is never range-checked.
pub const NO_TIMESTAMP: i64 = -1;
/// Most per-record errors one response carries; the message counts them all.
pub const RECORD_ERRORS_MAX: usize = 1_000;

/// A topic's settings that decide what it accepts, resolved once when configs change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceValidation {
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type` is LogAppendTime: the broker's clock replaces the
    /// producer's timestamps, which are then not range-checked.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms`: how far a CreateTime timestamp may lie in
    /// the past.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far a CreateTime timestamp may lie in
    /// the future.
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes compact: every record needs a key.
    pub keys_required: bool,
    /// Largest size a compressed batch may decompress to.
    pub decompressed_bytes_max: usize,
}

impl Default for ProduceValidation {
    /// Kafka 4's defaults.
    fn default() -> Self {
        ProduceValidation {
            max_message_bytes: 1_048_588,
            log_append_time: false,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            keys_required: false,
            decompressed_bytes_max: DECOMPRESSED_BATCH_BYTES_MAX,
        }
    }
}

/// One refused record (KIP-467): its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRejection {
    pub batch_index: i32,
    pub message: String,
}

/// Why a partition's records were refused: the error code, a message, and the
/// records at fault when the fault is per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRejection {
    pub error: ResponseError,
    pub message: String,
    pub record_errors: Vec<RecordRejection>,
}

impl ProduceRejection {
    fn new(error: ResponseError, message: impl Into<String>) -> Self {
        ProduceRejection {
            error,
            message: message.into(),
            record_errors: Vec::new(),
        }
    }
}

/// What validation learnt about an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatedBatch {
    /// The largest record timestamp (CreateTime), which the header's max timestamp
    /// must equal; `NO_TIMESTAMP` when no record has one.
    pub max_timestamp: i64,
    /// The max timestamp the producer wrote in the header.
    pub header_max_timestamp: i64,
}

/// Validates the records of one produced partition at `now_ms`.
pub fn validate_produce(
    records: &[u8],
    config: &ProduceValidation,
    now_ms: i64,
) -> Result<ValidatedBatch, ProduceRejection> {
    let mut batches = BatchIter::new(records);
    let view = match batches.next() {
        None => {
            return Err(ProduceRejection::new(
                ResponseError::InvalidRecord,
                "expected exactly one record batch, found none",
            ))
        }
        Some(Err(e)) => return Err(header_rejection(e)),
        Some(Ok((_, view))) => view,
    };
    if batches.next().is_some() {
        return Err(ProduceRejection::new(
            ResponseError::InvalidRecord,
            "expected exactly one record batch, found more",
        ));
    }
    validate_batch(&view, config, now_ms)
}

fn header_rejection(e: BatchError) -> ProduceRejection {
    match e {
        BatchError::UnsupportedMagic(m) => ProduceRejection::new(
            ResponseError::UnsupportedForMessageFormat,
            format!("magic {m} is not supported; produce v3+ needs magic 2"),
        ),
        BatchError::CountMismatch { .. } => {
            ProduceRejection::new(ResponseError::InvalidRecord, e.to_string())
        }
        other => ProduceRejection::new(ResponseError::CorruptMessage, other.to_string()),
    }
}

fn invalid(message: impl Into<String>) -> ProduceRejection {
    ProduceRejection::new(ResponseError::InvalidRecord, message)
}

/// The checks on one batch, header first (cheap), then every record.
pub fn validate_batch(
    view: &BatchView<'_>,
    config: &ProduceValidation,
    now_ms: i64,
) -> Result<ValidatedBatch, ProduceRejection> {
    if view.size() > config.max_message_bytes {
        return Err(ProduceRejection::new(
            ResponseError::MessageTooLarge,
            format!(
                "batch of {} bytes exceeds max.message.bytes {}",
                view.size(),
                config.max_message_bytes
            ),
        ));
    }
    view.validate().map_err(header_rejection)?;
    let count = view.records_count();
    if count <= 0 {
        return Err(invalid(format!("invalid record count {count}")));
    }
    if let Codec::Unknown(c) = view.codec() {
        return Err(ProduceRejection::new(
            ResponseError::CorruptMessage,
            format!("unknown compression codec {c}"),
        ));
    }
    if view.is_control() {
        return Err(invalid("clients may not write control records"));
    }
    if view.producer_id() >= 0 && view.base_sequence() < 0 {
        return Err(invalid(format!(
            "invalid sequence number {} for producer id {}",
            view.base_sequence(),
            view.producer_id()
        )));
    }
    // Uncompressed records are walked in place; compressed ones are inflated once,
    // within the bound.
    let data = record_data(view, config.decompressed_bytes_max).map_err(|e| {
        let error = match e {
            crate::record::RecordError::TooLarge { .. } => ResponseError::InvalidRecord,
            _ => ResponseError::CorruptMessage,
        };
        ProduceRejection::new(error, e.to_string())
    })?;
    let check_timestamps = !config.log_append_time;
    let earliest = now_ms.saturating_sub(config.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(config.timestamp_after_max_ms);
    let mut max_timestamp = NO_TIMESTAMP;
    let mut rejected: Vec<RecordRejection> = Vec::new();
    let mut rejected_count = 0usize;
    let mut bad_timestamp = false;
    for (index, record) in RecordIter::new(&data, count).enumerate() {
        let record = record.map_err(|e| invalid(format!("record {index}: {e}")))?;
        if record.offset_delta as i64 != index as i64 {
            return Err(invalid(format!(
                "record {index} has offset delta {}; deltas must run 0..{} in order",
                record.offset_delta,
                count - 1
            )));
        }
        let mut reject = |message: String| {
            rejected_count += 1;
            if rejected.len() < RECORD_ERRORS_MAX {
                rejected.push(RecordRejection {
                    batch_index: index as i32,
                    message,
                });
            }
        };
        if config.keys_required && record.key.is_none() {
            reject("compacted topic cannot accept a record without a key".to_string());
        }
        let timestamp = view.base_timestamp().saturating_add(record.timestamp_delta);
        if check_timestamps
            && timestamp != NO_TIMESTAMP
            && (timestamp < earliest || timestamp > latest)
        {
            bad_timestamp = true;
            reject(format!(
                "timestamp {timestamp} of record {index} is out of range; it should lie \
                 within [{earliest}, {latest}]"
            ));
        }
        max_timestamp = max_timestamp.max(timestamp);
    }
    if rejected_count > 0 {
        let error = if bad_timestamp {
            ResponseError::InvalidTimestamp
        } else {
            ResponseError::InvalidRecord
        };
        let shown: Vec<&str> = rejected
            .iter()
            .take(3)
            .map(|r| r.message.as_str())
            .collect();
        return Err(ProduceRejection {
            error,
            message: format!(
                "{rejected_count} record(s) rejected; the first: {}",
                shown.join("; ")
            ),
            record_errors: rejected,
        });
    }
    Ok(ValidatedBatch {
        max_timestamp,
        header_max_timestamp: view.max_timestamp(),
    })
}

#[cfg(test)]
#[path = "produce_validation_tests.rs"]
mod tests;
