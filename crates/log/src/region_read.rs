//! Reads that return *where* batches lie instead of copying them: the broker hands the
//! file region to `sendfile`, so fetched records go from the page cache to the socket
//! without passing through user space.

use std::fs::File;
use std::sync::Arc;

use crate::batch_header::BatchHeader;
use crate::error::LogError;
use crate::partition_log::PartitionLog;
use crate::segment::LogSegment;

/// Whole batches of one segment, as a byte range of its `.log` file.
#[derive(Clone, Debug)]
pub struct RegionRead {
    /// The segment file holding the batches; `None` when nothing is returned. Holding
    /// it keeps the data readable even if the segment is deleted meanwhile.
    pub file: Option<Arc<File>>,
    /// Byte position of the first batch in `file`.
    pub position: u64,
    /// Bytes of whole batches from `position`; 0 when nothing is returned.
    pub len: u64,
    /// Base offset of the first batch returned (may be below the requested offset,
    /// as in Kafka); the requested offset when empty.
    pub first_offset: i64,
    /// Offsets the batches cover (last offset of the last batch + 1 - `first_offset`):
    /// the number of records, except where compaction removed some. 0 when empty.
    pub offset_span: i64,
}

impl RegionRead {
    fn empty(offset: i64) -> Self {
        RegionRead {
            file: None,
            position: 0,
            len: 0,
            first_offset: offset,
            offset_span: 0,
        }
    }

    /// True when no batch is returned.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartitionLog {
    /// Same batches as [`PartitionLog::read`] with the same arguments and errors, but
    /// returned as a region of the segment file rather than copied into memory. Only
    /// a few batch headers are read, whatever the size of the region.
    pub fn read_region(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<RegionRead, LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(self.out_of_range(offset));
        }
        if offset == self.log_end_offset || offset >= max_offset {
            return Ok(RegionRead::empty(offset));
        }
        let start_base = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(start_base..).map(|(_, s)| s) {
            if let Some((pos, header)) = seg.translate_offset(offset)? {
                let Some((end, last_offset)) =
                    seg.region_end(pos, &header, max_bytes, max_offset, min_one_batch)?
                else {
                    return Ok(RegionRead::empty(offset));
                };
                return Ok(RegionRead {
                    file: Some(seg.log_file()?),
                    position: pos,
                    len: end - pos,
                    first_offset: header.base_offset,
                    offset_span: last_offset + 1 - header.base_offset,
                });
            }
        }
        Ok(RegionRead::empty(offset))
    }
}

impl LogSegment {
    /// Where the whole batches [`LogSegment::read_from`] would return end, and the
    /// last offset they hold; `None` when it would return nothing. Instead of reading
    /// the range it jumps with the offset index (positions grow with offsets) to near
    /// the byte limit and reads only the headers from there.
    pub(crate) fn region_end(
        &self,
        position: u64,
        first: &BatchHeader,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Option<(u64, i64)>, LogError> {
        if first.base_offset >= max_offset {
            return Ok(None);
        }
        let available = self.size_bytes() - position;
        let mut want = (max_bytes as u64).min(available);
        if min_one_batch {
            want = want.max(first.size_bytes.min(available));
        }
        let limit = position + want;
        // The segment holds only whole batches: when neither the byte limit nor the
        // offset bound cuts it, the region runs to its end.
        if limit == self.size_bytes() && max_offset >= self.next_offset() {
            return Ok((limit > position).then(|| (limit, self.next_offset() - 1)));
        }
        let mut pos = self.scan_start(position, limit, max_offset)?;
        let mut last_offset = None;
        while let Some(h) = self.read_header(pos)? {
            if h.base_offset >= max_offset || pos + h.size_bytes > limit {
                break;
            }
            last_offset = Some(h.last_offset);
            pos += h.size_bytes;
        }
        Ok(last_offset.map(|last| (pos, last)))
    }

    /// A batch position in `[position, limit)` from which a header walk finds the
    /// region end: the start of the batch named by the index entry *before* the last
    /// one that starts within `limit` and holds offsets below `max_offset`. That batch
    /// ends at or before the next entry's position, so it lies wholly within the
    /// region and every batch between `position` and it does too.
    fn scan_start(&self, position: u64, limit: u64, max_offset: i64) -> Result<u64, LogError> {
        let index = self.offset_index();
        // Entries grow in both offset and position, so this holds for a prefix.
        let lo = index.count_prefix(|offset, pos| (pos as u64) <= limit && offset < max_offset)?;
        // `lo` entries satisfy `within`; the one before the last of them is safe.
        match lo.checked_sub(2) {
            Some(i) => Ok((index.entry(i)?.1 as u64).max(position)),
            None => Ok(position),
        }
    }
}
