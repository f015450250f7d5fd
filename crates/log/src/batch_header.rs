//! The few header fields the log needs from a batch whose body is not in memory.
//!
//! `moldau_protocol::batch::BatchView` needs the whole batch; scans over a segment on
//! disk (index lookups, timestamp search) read only the fixed 61-byte header, and this
//! decodes the handful of fields they use from it.

use moldau_protocol::batch::{
    BATCH_HEADER_BYTES, CONTROL_BIT, LOG_OVERHEAD_BYTES, TRANSACTIONAL_BIT,
};

use crate::producer_state::ProducerBatch;

const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const LAST_OFFSET_DELTA_AT: usize = 23;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
/// Smallest legal `batchLength`: the header after the log overhead.
pub const BATCH_LENGTH_MIN: i32 = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;

/// Fields of one batch header read from disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    /// Whole batch size including the 12-byte log overhead.
    pub size_bytes: u64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub magic: i8,
    pub attributes: i16,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchHeader {
    /// Decodes a header from its first `BATCH_HEADER_BYTES` bytes. `None` when the
    /// length field is below the minimum (not a batch).
    pub fn parse(h: &[u8; BATCH_HEADER_BYTES]) -> Option<Self> {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let i32_at = |at: usize| i32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let i16_at = |at: usize| i16::from_be_bytes([h[at], h[at + 1]]);
        let length = i32_at(BATCH_LENGTH_AT);
        let delta = i32_at(LAST_OFFSET_DELTA_AT);
        if length < BATCH_LENGTH_MIN || delta < 0 {
            return None;
        }
        let base_offset = i64_at(0);
        Some(BatchHeader {
            base_offset,
            size_bytes: LOG_OVERHEAD_BYTES as u64 + length as u64,
            last_offset: base_offset.saturating_add(delta as i64),
            max_timestamp: i64_at(MAX_TIMESTAMP_AT),
            magic: h[MAGIC_AT] as i8,
            attributes: i16_at(ATTRIBUTES_AT),
            producer_id: i64_at(PRODUCER_ID_AT),
            producer_epoch: i16_at(PRODUCER_EPOCH_AT),
            base_sequence: i32_at(BASE_SEQUENCE_AT),
        })
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// The producer fields of this batch; `None` without a producer id.
    pub fn producer_batch(&self) -> Option<ProducerBatch> {
        if self.producer_id < 0 {
            return None;
        }
        let delta = self.last_offset - self.base_offset;
        // Sequences wrap at i32::MAX, as Kafka's do.
        let last_seq = ((self.base_sequence.max(0) as i64 + delta) % (i32::MAX as i64 + 1)) as i32;
        Some(ProducerBatch {
            producer_id: self.producer_id,
            epoch: self.producer_epoch,
            first_seq: self.base_sequence,
            last_seq: if self.base_sequence < 0 { -1 } else { last_seq },
            first_offset: self.base_offset,
            last_offset: self.last_offset,
            max_timestamp: self.max_timestamp,
            is_transactional: self.attributes & TRANSACTIONAL_BIT != 0,
            is_control: self.is_control(),
        })
    }
}
