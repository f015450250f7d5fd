//! The few header fields the log needs from a batch whose body is not in memory.
//!
//! `moldau_protocol::batch::BatchView` needs the whole batch; scans over a segment on
//! disk (index lookups, timestamp search) read only the fixed 61-byte header, and this
//! decodes the handful of fields they use from it.

use moldau_protocol::batch::{BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES};

const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const LAST_OFFSET_DELTA_AT: usize = 23;
const MAX_TIMESTAMP_AT: usize = 35;
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
        })
    }
}
