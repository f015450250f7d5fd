//! One segment: a `.log` file of batches with its `.index`, `.timeindex` and
//! `.txnindex`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use moldau_protocol::batch::{BatchView, BATCH_HEADER_BYTES};

use crate::batch_header::BatchHeader;
use crate::batch_reader::{BatchReader, ReadOutcome};
use crate::cached_file::CachedFile;
use crate::disk_reservation::DiskReservation;
use crate::error::LogError;
use crate::offset_index::OffsetIndex;
use crate::time_index::TimeIndex;
use crate::txn_index::{TxnIndex, TXN_INDEX_SUFFIX};

/// Suffix of segment data files.
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub const INDEX_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";

/// Kafka's file name for a segment file: the base offset as 20 zero-padded digits.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// Reads exactly `len` bytes at `position` into a fresh buffer without zeroing it
/// first: fetches are the hot read path, and zero-filling a megabyte before the kernel
/// overwrites it halves their throughput.
fn read_uninit_at(file: &File, len: usize, position: u64) -> std::io::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let mut filled = 0usize;
    while filled < len {
        let offset = libc::off_t::try_from(position + filled as u64)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: the destination is the vector's spare capacity from `filled` on,
        // `len - filled` bytes long; pread writes at most that many bytes there, and
        // the length is only raised over bytes it reported as written.
        let got = unsafe {
            libc::pread(
                file.as_raw_fd(),
                buf.as_mut_ptr().add(filled).cast::<libc::c_void>(),
                len - filled,
                offset,
            )
        };
        if got < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += got as usize;
        // SAFETY: the first `filled` bytes were written by pread above.
        unsafe { buf.set_len(filled) };
    }
    Ok(buf)
}

/// Where one batch of an append lies in the caller's buffer, and what it carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchMeta {
    pub position_in_buf: usize,
    pub size_bytes: usize,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// What a segment's recovery scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentRecovery {
    pub valid_bytes: u64,
    pub truncated_bytes: u64,
    pub batches: u64,
}

/// A segment of the log.
pub(crate) struct LogSegment {
    base_offset: i64,
    dir: PathBuf,
    /// Extra suffix while the files are in transit (`.cleaned`, `.swap`, `.deleted`).
    suffix: String,
    /// The `.log` file, open only while in use (see [`crate::file_cache`]).
    log: CachedFile,
    size_bytes: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Transactions aborted by markers stored here.
    txn_index: TxnIndex,
    /// One past the last offset stored here; the base offset while empty.
    next_offset: i64,
    /// Largest batch max timestamp stored here, -1 if none.
    max_timestamp: i64,
    /// Last offset of the batch carrying `max_timestamp`.
    offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch: `segment.ms` counts from it, as in Kafka.
    rolling_timestamp: Option<i64>,
    created_ms: i64,
    bytes_since_last_index_entry: u64,
    /// Blocks reserved past the end while the segment is active (cheaper appends).
    reservation: DiskReservation,
}

fn file_path(dir: &Path, base_offset: i64, kind: &str, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{}{}",
        segment_file_name(base_offset, kind),
        suffix
    ))
}

impl LogSegment {
    /// Creates a new empty segment (files must not exist or be empty).
    pub fn create(
        dir: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        suffix: &str,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let log_path = file_path(dir, base_offset, LOG_SUFFIX, suffix);
        let log = CachedFile::create(&log_path)?;
        let index_path = file_path(dir, base_offset, INDEX_SUFFIX, suffix);
        let time_path = file_path(dir, base_offset, TIME_INDEX_SUFFIX, suffix);
        // Stale index files for this base offset would describe other data.
        for p in [&index_path, &time_path] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(p, e)),
            }
        }
        let (offset_index, _) = OffsetIndex::open(&index_path, base_offset, max_index_bytes, 0)?;
        let (time_index, _) = TimeIndex::open(&time_path, base_offset, max_index_bytes)?;
        let txn_index = TxnIndex::create(file_path(dir, base_offset, TXN_INDEX_SUFFIX, suffix))?;
        Ok(LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            suffix: suffix.to_string(),
            log,
            size_bytes: 0,
            offset_index,
            time_index,
            txn_index,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp: None,
            created_ms: now_ms,
            bytes_since_last_index_entry: 0,
            reservation: DiskReservation::new(0),
        })
    }

    /// Opens an existing segment without checking its batches. Indexes are opened with
    /// `max_index_bytes` preallocation only if missing. Returns the segment and whether
    /// both indexes looked intact (callers rebuild them via [`LogSegment::recover`]
    /// otherwise).
    pub fn open(
        dir: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        suffix: &str,
        now_ms: i64,
    ) -> Result<(Self, bool), LogError> {
        let log_path = file_path(dir, base_offset, LOG_SUFFIX, suffix);
        let size_bytes = std::fs::metadata(&log_path)
            .map_err(LogError::at(&log_path))?
            .len();
        let log = CachedFile::existing(&log_path);
        let index_path = file_path(dir, base_offset, INDEX_SUFFIX, suffix);
        let time_path = file_path(dir, base_offset, TIME_INDEX_SUFFIX, suffix);
        let index_existed = index_path.exists() && time_path.exists();
        let (offset_index, offsets_ok) =
            OffsetIndex::open(&index_path, base_offset, max_index_bytes, size_bytes)?;
        let (time_index, times_ok) = TimeIndex::open(&time_path, base_offset, max_index_bytes)?;
        let txn_index = TxnIndex::open(file_path(dir, base_offset, TXN_INDEX_SUFFIX, suffix))?;
        let mut seg = LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            suffix: suffix.to_string(),
            log,
            size_bytes,
            offset_index,
            time_index,
            txn_index,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp: None,
            created_ms: now_ms,
            bytes_since_last_index_entry: 0,
            reservation: DiskReservation::new(size_bytes),
        };
        let mut intact = index_existed && offsets_ok && times_ok;
        if let Some((ts, off)) = seg.time_index.last_entry()? {
            seg.max_timestamp = ts;
            seg.offset_of_max_timestamp = off;
        }
        // The last entry must name the batch at its position (Kafka's sanity check,
        // made exact); then finish the picture from there to the end of the file.
        let last_entry = seg.offset_index.last_entry()?;
        if let Some((offset, pos)) = last_entry {
            let names_batch = seg
                .read_header(pos as u64)?
                .is_some_and(|h| h.last_offset == offset);
            intact &= names_batch;
        }
        if let Some((_, off)) = seg.time_index.last_entry()? {
            intact &=
                off < seg.base_offset.saturating_add(u32::MAX as i64) && off >= seg.base_offset;
        }
        let from = match last_entry {
            Some((_, pos)) if intact => pos as u64,
            _ => 0,
        };
        match seg.scan_headers_from(from)? {
            Some(end) if end == size_bytes => {}
            _ => intact = false,
        }
        if seg.size_bytes > 0 {
            seg.rolling_timestamp = seg.read_header(0)?.map(|h| h.max_timestamp);
        }
        Ok((seg, intact))
    }

    /// Walks batch headers from `pos` to the end, updating next offset and max
    /// timestamp. Returns the position where the walk ended, `None` if a header was
    /// implausible before the end.
    fn scan_headers_from(&mut self, mut pos: u64) -> Result<Option<u64>, LogError> {
        while pos < self.size_bytes {
            let Some(h) = self.read_header(pos)? else {
                return Ok(None);
            };
            if h.base_offset < self.base_offset || pos + h.size_bytes > self.size_bytes {
                return Ok(None);
            }
            self.next_offset = self.next_offset.max(h.last_offset + 1);
            if h.max_timestamp > self.max_timestamp {
                self.max_timestamp = h.max_timestamp;
                self.offset_of_max_timestamp = h.last_offset;
            }
            self.bytes_since_last_index_entry += h.size_bytes;
            pos += h.size_bytes;
        }
        Ok(Some(pos))
    }

    /// Reads the batch header at `pos`; `None` if it does not fit or is implausible.
    pub fn read_header(&self, pos: u64) -> Result<Option<BatchHeader>, LogError> {
        if pos + BATCH_HEADER_BYTES as u64 > self.size_bytes {
            return Ok(None);
        }
        let mut h = [0u8; BATCH_HEADER_BYTES];
        self.log
            .get()?
            .read_exact_at(&mut h, pos)
            .map_err(LogError::at(&self.log_path()))?;
        Ok(BatchHeader::parse(&h).filter(|h| h.magic == 2))
    }

    /// Re-reads every batch (length, magic, CRC, offsets growing), rebuilds both
    /// indexes, and truncates the file at the first bad byte. `on_batch` sees every
    /// valid batch (the caller rebuilds its leader-epoch cache from them).
    pub fn recover(
        &mut self,
        index_interval_bytes: u64,
        on_batch: &mut dyn FnMut(&BatchView<'_>),
    ) -> Result<SegmentRecovery, LogError> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.rolling_timestamp = None;
        self.bytes_since_last_index_entry = 0;
        let log = self.log.get()?;
        let path = self.log_path();
        let mut reader = BatchReader::new(&log, &path, 0, self.size_bytes, true);
        let mut batches = 0;
        let valid_bytes = loop {
            match reader.next_batch()? {
                ReadOutcome::End => break self.size_bytes,
                ReadOutcome::Invalid { position, reason } => {
                    tracing::warn!(segment = %path.display(), position, %reason, "invalid batch found during recovery");
                    break position;
                }
                ReadOutcome::Batch { position, bytes } => {
                    let view = BatchView::parse(bytes)?;
                    let last = view.last_offset();
                    if view.base_offset() < self.next_offset
                        || last - self.base_offset > i32::MAX as i64
                    {
                        tracing::warn!(
                            segment = %path.display(),
                            position,
                            base_offset = view.base_offset(),
                            expected_at_least = self.next_offset,
                            "batch offset out of order during recovery"
                        );
                        break position;
                    }
                    on_batch(&view);
                    let meta = BatchMeta {
                        position_in_buf: 0,
                        size_bytes: bytes.len(),
                        last_offset: last,
                        max_timestamp: view.max_timestamp(),
                    };
                    self.index_batch(position, &meta, index_interval_bytes)?;
                    batches += 1;
                }
            }
        };
        let truncated_bytes = self.size_bytes - valid_bytes;
        if truncated_bytes > 0 {
            log.set_len(valid_bytes).map_err(LogError::at(&path))?;
            self.reservation.truncated(valid_bytes);
            self.size_bytes = valid_bytes;
        }
        Ok(SegmentRecovery {
            valid_bytes,
            truncated_bytes,
            batches,
        })
    }

    /// Updates indexes and bookkeeping for a batch now stored at `position`.
    fn index_batch(
        &mut self,
        position: u64,
        meta: &BatchMeta,
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        if self.rolling_timestamp.is_none() {
            self.rolling_timestamp = Some(meta.max_timestamp);
        }
        if meta.max_timestamp > self.max_timestamp {
            self.max_timestamp = meta.max_timestamp;
            self.offset_of_max_timestamp = meta.last_offset;
        }
        if self.bytes_since_last_index_entry > index_interval_bytes {
            self.offset_index
                .append(meta.last_offset, position as u32)?;
            self.time_index.maybe_append(
                self.max_timestamp,
                self.offset_of_max_timestamp,
                false,
            )?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += meta.size_bytes as u64;
        self.next_offset = meta.last_offset + 1;
        Ok(())
    }

    /// Writes `buf` (whole batches described by `metas`) at the end of the segment.
    pub fn append(
        &mut self,
        buf: &[u8],
        metas: &[BatchMeta],
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        let start = self.size_bytes;
        assert!(
            start + buf.len() as u64 <= u32::MAX as u64,
            "segment position overflow"
        );
        let log = self.log.get()?;
        self.reservation
            .ensure(&log, start, start + buf.len() as u64);
        log.write_all_at(buf, start)
            .map_err(LogError::at(&self.log_path()))?;
        self.size_bytes += buf.len() as u64;
        for meta in metas {
            self.index_batch(
                start + meta.position_in_buf as u64,
                meta,
                index_interval_bytes,
            )?;
        }
        Ok(())
    }

    /// Finds the batch containing `offset` (the first whose last offset is >= it):
    /// index lookup, then a header scan. `None` if the segment ends before it.
    pub fn translate_offset(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let (_, start) = self.offset_index.lookup(offset)?;
        let mut pos = start as u64;
        while let Some(h) = self.read_header(pos)? {
            if h.last_offset >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size_bytes;
        }
        Ok(None)
    }

    /// Whole batches from `position`: as many as fit in `max_bytes` (at least one if
    /// `min_one_batch`), none with base offset >= `max_offset`.
    pub fn read_from(
        &self,
        position: u64,
        first: &BatchHeader,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Vec<u8>, LogError> {
        if first.base_offset >= max_offset {
            return Ok(Vec::new());
        }
        let available = self.size_bytes - position;
        let mut want = (max_bytes as u64).min(available);
        if min_one_batch {
            want = want.max(first.size_bytes.min(available));
        }
        let mut buf = read_uninit_at(&*self.log.get()?, want as usize, position)
            .map_err(LogError::at(&self.log_path()))?;
        // Keep only whole batches below max_offset.
        let mut end = 0usize;
        while end + BATCH_HEADER_BYTES <= buf.len() {
            let mut h = [0u8; BATCH_HEADER_BYTES];
            h.copy_from_slice(&buf[end..end + BATCH_HEADER_BYTES]);
            let Some(hdr) = BatchHeader::parse(&h) else {
                break;
            };
            if hdr.base_offset >= max_offset || end as u64 + hdr.size_bytes > buf.len() as u64 {
                break;
            }
            end += hdr.size_bytes as usize;
        }
        buf.truncate(end);
        Ok(buf)
    }

    /// Removes the batch containing `offset` and everything after it. Returns the
    /// number of bytes removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64, LogError> {
        let Some((pos, _)) = self.translate_offset(offset)? else {
            return Ok(0);
        };
        let removed = self.size_bytes - pos;
        self.log
            .get()?
            .set_len(pos)
            .map_err(LogError::at(&self.log_path()))?;
        self.reservation.truncated(pos);
        self.size_bytes = pos;
        self.offset_index.truncate_to_position(pos as u32)?;
        self.time_index.truncate_to_offset(offset)?;
        self.txn_index.truncate_to(offset)?;
        // Recompute the tail state from what is left.
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        if let Some((ts, off)) = self.time_index.last_entry()? {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = off;
        }
        let from = match self.offset_index.last_entry()? {
            Some((off, p)) => {
                self.next_offset = off + 1;
                p as u64
            }
            None => 0,
        };
        self.bytes_since_last_index_entry = 0;
        self.scan_headers_from(from)?;
        if self.size_bytes == 0 {
            self.rolling_timestamp = None;
        }
        Ok(removed)
    }

    /// Records the final max timestamp in the time index and trims both indexes, as
    /// Kafka does when a segment stops being the active one.
    pub fn on_become_inactive(&mut self) -> Result<(), LogError> {
        // Spare blocks reserved for appends are not needed any more (also those a
        // crash left behind on a segment reopened after it).
        self.reservation
            .release(&*self.log.get()?, self.size_bytes)
            .map_err(LogError::at(&self.log_path()))?;
        if self.max_timestamp >= 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp, true)?;
        }
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// Lets both indexes grow back to `max_index_bytes` (the segment is active
    /// again); the files grow when an entry needs the room, so an idle partition's
    /// open writes nothing.
    pub fn on_become_active(&mut self, max_index_bytes: u64) -> Result<(), LogError> {
        self.offset_index.storage().set_growth(max_index_bytes);
        self.time_index.storage().set_growth(max_index_bytes);
        Ok(())
    }

    /// Renames all the segment's files from the current suffix to `suffix`.
    pub fn change_suffix(&mut self, suffix: &str) -> Result<(), LogError> {
        let renames = [
            (
                self.log_path(),
                file_path(&self.dir, self.base_offset, LOG_SUFFIX, suffix),
            ),
            (
                self.offset_index.path().to_path_buf(),
                file_path(&self.dir, self.base_offset, INDEX_SUFFIX, suffix),
            ),
            (
                self.time_index.path().to_path_buf(),
                file_path(&self.dir, self.base_offset, TIME_INDEX_SUFFIX, suffix),
            ),
        ];
        for (from, to) in &renames {
            std::fs::rename(from, to).map_err(LogError::at(from))?;
        }
        self.log.set_path(renames[0].1.clone());
        self.offset_index.storage().set_path(renames[1].1.clone());
        self.time_index.storage().set_path(renames[2].1.clone());
        self.txn_index.rename(file_path(
            &self.dir,
            self.base_offset,
            TXN_INDEX_SUFFIX,
            suffix,
        ))?;
        self.suffix = suffix.to_string();
        Ok(())
    }

    /// Deletes all the segment's files (missing ones are fine).
    pub fn delete_files(&self) -> Result<(), LogError> {
        self.log.close();
        self.offset_index.close();
        self.time_index.close();
        for p in [
            self.log_path(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&p, e)),
            }
        }
        self.txn_index.delete()
    }

    /// fsyncs data, both indexes and nothing else.
    pub fn sync_all(&self) -> Result<(), LogError> {
        self.log
            .get()?
            .sync_data()
            .map_err(LogError::at(&self.log_path()))?;
        self.offset_index
            .file()?
            .sync_all()
            .map_err(LogError::at(self.offset_index.path()))?;
        self.time_index
            .file()?
            .sync_all()
            .map_err(LogError::at(self.time_index.path()))
    }

    pub fn log_path(&self) -> PathBuf {
        file_path(&self.dir, self.base_offset, LOG_SUFFIX, &self.suffix)
    }
    /// The open `.log` file (opened now if the cache had closed it).
    pub fn log_file(&self) -> Result<Arc<File>, LogError> {
        self.log.get()
    }
    #[cfg(test)]
    pub fn log_is_open(&self) -> bool {
        self.log.is_open()
    }
    #[cfg(test)]
    pub fn close_log_file(&self) {
        self.log.close()
    }
    pub fn index_files(&self) -> Result<[(PathBuf, Arc<File>); 2], LogError> {
        Ok([
            (
                self.offset_index.path().to_path_buf(),
                self.offset_index.file()?,
            ),
            (
                self.time_index.path().to_path_buf(),
                self.time_index.file()?,
            ),
        ])
    }
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub fn rolling_timestamp(&self) -> Option<i64> {
        self.rolling_timestamp
    }
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }
    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }
    pub fn txn_index(&self) -> &TxnIndex {
        &self.txn_index
    }
    pub fn txn_index_mut(&mut self) -> &mut TxnIndex {
        &mut self.txn_index
    }
}
