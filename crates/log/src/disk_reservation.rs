//! Disk space reserved ahead of a segment's end, so appends land in allocated blocks.
//!
//! On Linux (ext4 measured) a write that extends a file costs several times the CPU of
//! a write into blocks that are already allocated: 1 MiB appends took 1.7-3.2 ms of
//! system time each against 0.25 ms with the space reserved. `fallocate` with
//! `FALLOC_FL_KEEP_SIZE` reserves blocks past the end of file without changing its
//! size, so the file stays byte-for-byte Kafka's segment format (readers, recovery and
//! `kafka-dump-log.sh` see exactly the batches). The reservation grows with the
//! segment, up to a cap, and is given back when the segment stops being active.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;

/// Smallest step the reservation grows by: small segments (most of
/// `__consumer_offsets`) hold little spare space.
pub const RESERVE_STEP_MIN_BYTES: u64 = 64 * 1024;
/// Largest step: the most spare space an active segment holds beyond its end.
pub const RESERVE_STEP_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Filesystem block granularity assumed when deciding whether spare blocks exist.
const BLOCK_BYTES: u64 = 4096;

/// Space reserved on disk beyond a segment file's end.
#[derive(Debug)]
pub(crate) struct DiskReservation {
    /// File offset up to which blocks are reserved.
    reserved_end: u64,
    /// Cleared when the filesystem refuses: the reservation is only an optimisation.
    supported: bool,
}

impl DiskReservation {
    /// No reservation yet for a file whose data ends at `size_bytes`.
    pub fn new(size_bytes: u64) -> Self {
        DiskReservation {
            reserved_end: size_bytes,
            supported: true,
        }
    }

    /// Makes sure blocks are reserved up to at least `end`, growing by a step that
    /// doubles with the segment (between the two step bounds). Never fails: without a
    /// reservation the write still works, only slower.
    pub fn ensure(&mut self, file: &File, size_bytes: u64, end: u64) {
        if !self.supported || end <= self.reserved_end {
            return;
        }
        let step = size_bytes.clamp(RESERVE_STEP_MIN_BYTES, RESERVE_STEP_MAX_BYTES);
        let from = self.reserved_end.max(size_bytes);
        let len = (end - from).max(step);
        if fallocate_keep_size(file, from, len) {
            self.reserved_end = from + len;
        } else {
            self.supported = false;
        }
    }

    /// Gives back reserved blocks past `size_bytes` (a segment that stops being
    /// active). Truncating to the current size frees blocks beyond the end of file and
    /// changes nothing else. Returns the I/O error, if any.
    pub fn release(&mut self, file: &File, size_bytes: u64) -> std::io::Result<()> {
        let holds_spare = self.reserved_end > size_bytes || has_spare_blocks(file, size_bytes);
        self.reserved_end = size_bytes;
        if holds_spare {
            file.set_len(size_bytes)?;
        }
        Ok(())
    }

    /// Forgets the reservation after the file was truncated to `size_bytes` (which
    /// already freed everything past it).
    pub fn truncated(&mut self, size_bytes: u64) {
        self.reserved_end = size_bytes;
    }
}

/// Whether the file holds blocks past `size_bytes` (e.g. left reserved by a crash).
fn has_spare_blocks(file: &File, size_bytes: u64) -> bool {
    match file.metadata() {
        // st_blocks counts 512-byte units.
        Ok(m) => m.blocks() * 512 > size_bytes.div_ceil(BLOCK_BYTES) * BLOCK_BYTES,
        Err(_) => false,
    }
}

fn fallocate_keep_size(file: &File, offset: u64, len: u64) -> bool {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return false;
    };
    // SAFETY: plain syscall on an open descriptor owned by `file`.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
    if rc != 0 {
        tracing::debug!(
            "fallocate(KEEP_SIZE) refused ({}); appends go without reserved space",
            std::io::Error::last_os_error()
        );
    }
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn allocated_bytes(file: &File) -> u64 {
        file.metadata().map(|m| m.blocks() * 512).unwrap_or(0)
    }

    /// A new empty file in a fresh temporary directory (kept alive with it).
    fn empty_file() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("00000000000000000000.log"))
            .expect("open");
        (dir, file)
    }

    #[test]
    fn reserves_ahead_without_changing_the_file_size_and_releases_on_request() {
        let (_dir, file) = empty_file();
        let mut r = DiskReservation::new(0);
        let data = vec![7u8; 10_000];
        r.ensure(&file, 0, data.len() as u64);
        file.write_all_at(&data, 0).expect("write");
        let len = file.metadata().expect("metadata").len();
        assert_eq!(
            len, 10_000,
            "the file size is the data, never the reservation"
        );
        if r.supported {
            assert!(allocated_bytes(&file) >= RESERVE_STEP_MIN_BYTES);
        }
        let mut back = vec![0u8; 20_000];
        let n = file.read_at(&mut back, 0).expect("read");
        assert_eq!(n, 10_000, "reads end at the data");
        r.release(&file, 10_000).expect("release");
        assert_eq!(file.metadata().expect("metadata").len(), 10_000);
        assert!(allocated_bytes(&file) <= 12_288, "spare blocks freed");
    }

    #[test]
    fn the_step_grows_with_the_segment_up_to_the_cap() {
        let (_dir, file) = empty_file();
        let mut r = DiskReservation::new(0);
        r.ensure(&file, 0, 1);
        if !r.supported {
            return; // filesystem without fallocate: nothing to check
        }
        assert_eq!(r.reserved_end, RESERVE_STEP_MIN_BYTES);
        let size = 3 * 1024 * 1024;
        r.ensure(&file, size, size + 1);
        assert_eq!(r.reserved_end, 2 * size);
        let size = 64 * 1024 * 1024;
        r.ensure(&file, size, size + 1);
        assert_eq!(r.reserved_end, size + RESERVE_STEP_MAX_BYTES);
        assert_eq!(file.metadata().expect("metadata").len(), 0);
    }
}
