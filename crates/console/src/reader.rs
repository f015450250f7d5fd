//! Reading decoded records straight from a hosted partition's log, for the message
//! browser, downloads and time lag. Blocking (disk reads under the log's read lock):
//! callers run it on tokio's blocking pool.
//!
//! Batches are decoded with the client's bounded decoder, so a batch that claims more
//! records than it can hold, or a compressed batch that would inflate past
//! [`BATCH_DECOMPRESSED_BYTES_MAX`], is an error on the page, not a crash.

use crate::error::{ApiError, ApiResult};
use moldau_broker::partition::Partition;
use moldau_client::batch_decoder::{decode_partition, DecodeOptions};
use moldau_client::ConsumerRecord;
use std::sync::Arc;

/// Largest size one batch may decompress to while browsing.
pub const BATCH_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;
/// Bytes read from the log per step while scanning.
pub const READ_STEP_BYTES: usize = 1 << 20;

/// The offsets and size of a partition right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionState {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
    pub segments: usize,
    /// `cleanup.policy` includes `compact`: offsets may have gaps.
    pub compacted: bool,
}

/// Reads the partition's offsets under one lock, so they are consistent.
pub fn partition_state(partition: &Partition) -> PartitionState {
    let log = partition.log.read();
    PartitionState {
        log_start_offset: log.log_start_offset(),
        high_watermark: log.high_watermark(),
        log_end_offset: log.log_end_offset(),
        size_bytes: log.size_bytes(),
        segments: log.segment_count(),
        compacted: log.config().cleanup_policy.compact,
    }
}

/// Decoded records of one read step.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Records at or after the requested offset and below `until`, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// Where the next step starts: after the last whole batch read.
    pub next_offset: i64,
    /// Bytes read from the log.
    pub bytes_read: usize,
    /// Nothing more below the high watermark (or `until`).
    pub at_end: bool,
}

fn decode_options() -> DecodeOptions {
    DecodeOptions {
        check_crcs: true,
        decompressed_batch_bytes_max: BATCH_DECOMPRESSED_BYTES_MAX,
    }
}

/// Reads whole batches from `from` (clamped to the log start), at most `max_bytes`
/// but at least one batch, and decodes the records in `[from, until)`; `until` is
/// capped at the high watermark, so uncommitted data is never shown.
pub fn read_chunk(
    partition: &Partition,
    topic: &Arc<str>,
    from: i64,
    until: i64,
    max_bytes: usize,
) -> ApiResult<Chunk> {
    let (read, from, until) = {
        let log = partition.log.read();
        let from = from.max(log.log_start_offset());
        let until = until.min(log.high_watermark());
        if from >= until {
            return Ok(Chunk {
                next_offset: from,
                at_end: true,
                ..Chunk::default()
            });
        }
        (log.read(from, max_bytes, until, true)?, from, until)
    };
    if read.bytes.is_empty() {
        return Ok(Chunk {
            next_offset: from,
            at_end: true,
            ..Chunk::default()
        });
    }
    let decoded = decode_partition(
        topic,
        partition.tp.partition,
        &read.bytes,
        from,
        &[],
        decode_options(),
    )
    .map_err(|e| ApiError::Internal(format!("decoding records: {e}")))?;
    let next_offset = decoded.next_offset.unwrap_or(from).max(from);
    let mut records = decoded.records;
    records.retain(|r| r.offset < until);
    Ok(Chunk {
        records,
        next_offset,
        bytes_read: read.bytes.len(),
        at_end: next_offset >= until,
    })
}

/// The record at exactly `offset`, if it exists below the high watermark.
pub fn record_at(
    partition: &Partition,
    topic: &Arc<str>,
    offset: i64,
) -> ApiResult<Option<ConsumerRecord>> {
    let chunk = read_chunk(partition, topic, offset, offset.saturating_add(1), 1)?;
    Ok(chunk.records.into_iter().find(|r| r.offset == offset))
}

/// Timestamp of the first record at or after `from` below the high watermark, for
/// time lag, with the bytes read to find it. Skips batches with no data records
/// (transaction markers) within a bounded number of steps.
pub fn first_timestamp_from(
    partition: &Partition,
    topic: &Arc<str>,
    from: i64,
) -> ApiResult<(Option<i64>, usize)> {
    const STEPS_MAX: usize = 8;
    let mut at = from;
    let mut bytes_read = 0;
    for _ in 0..STEPS_MAX {
        let chunk = read_chunk(partition, topic, at, i64::MAX, 1)?;
        bytes_read += chunk.bytes_read;
        if let Some(r) = chunk.records.first() {
            return Ok((Some(r.timestamp), bytes_read));
        }
        if chunk.at_end || chunk.next_offset <= at {
            break;
        }
        at = chunk.next_offset;
    }
    Ok((None, bytes_read))
}
