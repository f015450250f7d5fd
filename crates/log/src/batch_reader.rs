//! Sequential reading of whole batches from a segment file, in large chunks.
//!
//! Used by recovery (which checks every CRC), compaction and the dump tool. It stops
//! at the first thing that is not a complete, plausible batch and says why, so the
//! caller can truncate there.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use moldau_protocol::batch::{BatchView, LOG_OVERHEAD_BYTES};

use crate::batch_header::BATCH_LENGTH_MIN;
use crate::error::LogError;

/// Largest batch the log will read from disk (the buffer it needs is this big).
/// Kafka's `message.max.bytes` defaults to ~1 MiB; this leaves room for raised limits.
pub const BATCH_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// How much a reader fetches from the file per read call.
pub const READ_CHUNK_BYTES: usize = 1024 * 1024;

/// What the reader found at its position.
pub(crate) enum ReadOutcome<'a> {
    /// A complete batch (CRC checked if asked) at file position `position`.
    Batch { position: u64, bytes: &'a [u8] },
    /// Clean end: the position is exactly the end of the range.
    End,
    /// Bytes at `position` are not a valid batch.
    Invalid { position: u64, reason: String },
}

/// Reads batches from `file` in `[start, end)`.
pub(crate) struct BatchReader<'f> {
    file: &'f File,
    path: &'f Path,
    position: u64,
    end: u64,
    verify_crc: bool,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_start: u64,
}

impl<'f> BatchReader<'f> {
    pub fn new(file: &'f File, path: &'f Path, start: u64, end: u64, verify_crc: bool) -> Self {
        BatchReader {
            file,
            path,
            position: start,
            end,
            verify_crc,
            buf: Vec::new(),
            buf_start: start,
        }
    }

    /// Makes `[pos, pos + n)` available in `buf`; `n` is at most `BATCH_BYTES_MAX`.
    fn ensure(&mut self, pos: u64, n: usize) -> Result<(), LogError> {
        let have_end = self.buf_start + self.buf.len() as u64;
        if pos >= self.buf_start && pos + n as u64 <= have_end {
            return Ok(());
        }
        let want = n
            .max(READ_CHUNK_BYTES)
            .min((self.end - pos) as usize)
            .max(n);
        self.buf.resize(want, 0);
        let mut filled = 0;
        while filled < want {
            let got = self
                .file
                .read_at(&mut self.buf[filled..], pos + filled as u64)
                .map_err(LogError::at(self.path))?;
            if got == 0 {
                break;
            }
            filled += got;
        }
        self.buf.truncate(filled);
        self.buf_start = pos;
        if filled < n {
            return Err(LogError::corrupt(
                self.path,
                format!("file ends before position {}", pos + n as u64),
            ));
        }
        Ok(())
    }

    /// The next batch, the clean end, or why the bytes here are not a batch.
    pub fn next_batch(&mut self) -> Result<ReadOutcome<'_>, LogError> {
        let pos = self.position;
        let remaining = self.end.saturating_sub(pos);
        if remaining == 0 {
            return Ok(ReadOutcome::End);
        }
        let invalid = |reason: String| {
            Ok(ReadOutcome::Invalid {
                position: pos,
                reason,
            })
        };
        if remaining < LOG_OVERHEAD_BYTES as u64 {
            return invalid(format!(
                "{remaining} trailing bytes, too short for a batch header"
            ));
        }
        self.ensure(pos, LOG_OVERHEAD_BYTES)?;
        let at = (pos - self.buf_start) as usize;
        let length = i32::from_be_bytes([
            self.buf[at + 8],
            self.buf[at + 9],
            self.buf[at + 10],
            self.buf[at + 11],
        ]);
        if length < BATCH_LENGTH_MIN || length as u64 > BATCH_BYTES_MAX {
            return invalid(format!("batch length {length} out of range"));
        }
        let total = LOG_OVERHEAD_BYTES as u64 + length as u64;
        if total > remaining {
            return invalid(format!(
                "batch of {total} bytes but only {remaining} remain"
            ));
        }
        self.ensure(pos, total as usize)?;
        let at = (pos - self.buf_start) as usize;
        let bytes = &self.buf[at..at + total as usize];
        let view = match BatchView::parse(bytes) {
            Ok(v) => v,
            Err(e) => return invalid(e.to_string()),
        };
        if self.verify_crc && view.stored_crc() != view.computed_crc() {
            return invalid(format!(
                "CRC mismatch: stored {:#010x}, computed {:#010x}",
                view.stored_crc(),
                view.computed_crc()
            ));
        }
        if view.last_offset_delta() < 0 {
            return invalid(format!(
                "negative last offset delta {}",
                view.last_offset_delta()
            ));
        }
        self.position = pos + total;
        Ok(ReadOutcome::Batch {
            position: pos,
            bytes,
        })
    }
}
