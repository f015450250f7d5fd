//! Building a partition's producer state at open and after truncation: the newest
//! usable `.snapshot`, then the batch headers of the log after it (only the 61-byte
//! headers are read: producer id, epoch and sequence live there; control batches,
//! a few dozen bytes, are read whole for their marker). The `.txnindex` entries of
//! markers after the snapshot are rebuilt on the way.

use moldau_protocol::batch::BatchView;
use moldau_protocol::control_record::CONTROL_BATCH_BYTES_MAX;

use crate::batch_header::BatchHeader;
use crate::error::LogError;
use crate::partition_log::PartitionLog;
use crate::producer_state::ProducerStateManager;
use crate::producer_state_file;
use crate::producer_txn::{aborted_entry, txn_marker};
use crate::segment::LogSegment;
use crate::txn_index::AbortedTxn;

impl PartitionLog {
    /// Rebuilds `self.producers` from the newest snapshot at or below the log end
    /// (newer ones describe data that is gone and are deleted) and the log after it.
    /// A damaged snapshot is deleted and the next older one tried.
    pub(crate) fn load_producer_state(&mut self) -> Result<(), LogError> {
        let snapshots = producer_state_file::list(&self.dir)?;
        self.load_producer_state_from(snapshots).map(|_| ())
    }

    /// [`Self::load_producer_state`] from `snapshots`, the directory's snapshot
    /// files (offset, path) as listed by the caller (opening lists the directory
    /// once for everything). Returns whether the snapshot used was taken at the log
    /// end, so nothing had to be replayed.
    pub(crate) fn load_producer_state_from(
        &mut self,
        snapshots: Vec<(i64, std::path::PathBuf)>,
    ) -> Result<bool, LogError> {
        let end = self.log_end_offset;
        let mut usable = Vec::with_capacity(snapshots.len());
        for (offset, path) in snapshots {
            if offset > end {
                producer_state_file::remove(&path)?;
            } else {
                usable.push((offset, path));
            }
        }
        usable.sort();
        let first_base = self.segments.keys().next().copied().unwrap_or(end);
        let mut state = None;
        for (offset, path) in usable.into_iter().rev() {
            match producer_state_file::read(&path) {
                Ok(entries) => {
                    state = Some(ProducerStateManager::from_entries(entries, offset));
                    break;
                }
                Err(e) => {
                    tracing::warn!(partition = %self.tp, error = %e, "discarding unreadable producer snapshot");
                    producer_state_file::delete_where(&self.dir, |o| o == offset)?;
                }
            }
        }
        let mut state = state.unwrap_or_else(|| ProducerStateManager::new(first_base));
        let snapshot_at_end = state.map_end_offset() == end;
        self.replay_producer_batches(&mut state)?;
        self.producers = state;
        Ok(snapshot_at_end)
    }

    /// Applies every batch from `state`'s end to the log end, and rebuilds the
    /// transaction index entries of the markers there.
    fn replay_producer_batches(
        &mut self,
        state: &mut ProducerStateManager,
    ) -> Result<(), LogError> {
        let from = state.map_end_offset();
        for seg in self.segments.values_mut() {
            seg.txn_index_mut().truncate_to(from)?;
        }
        let mut aborted: Vec<AbortedTxn> = Vec::new();
        let start_base = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(start_base..).map(|(_, s)| s) {
            let mut pos = match seg.translate_offset(from)? {
                Some((pos, _)) => pos,
                None => continue,
            };
            while let Some(h) = seg.read_header(pos)? {
                if h.last_offset >= from {
                    if h.is_control() {
                        if let Some(txn) = read_marker(seg, pos, &h)?
                            .and_then(|marker| state.apply_marker(&marker))
                        {
                            aborted.extend(aborted_entry(state, &txn));
                        }
                    } else if let Some(batch) = h.producer_batch() {
                        state.apply(&batch);
                    }
                    state.advance_to(h.last_offset + 1);
                }
                pos += h.size_bytes;
            }
        }
        state.advance_to(self.log_end_offset);
        for entry in aborted {
            self.index_aborted(entry)?;
        }
        Ok(())
    }

    /// Writes `<log end>.snapshot` (at a roll, and fsynced at a clean shutdown).
    pub(crate) fn take_producer_snapshot(&mut self, sync: bool) -> Result<(), LogError> {
        self.producers.advance_to(self.log_end_offset);
        producer_state_file::write(&self.dir, &self.producers, sync)?;
        self.dir_changes += 1;
        Ok(())
    }

    /// Deletes the snapshots below the oldest segment (their segments are gone).
    pub(crate) fn delete_old_producer_snapshots(&self) -> Result<(), LogError> {
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        producer_state_file::delete_where(&self.dir, |offset| offset < first_base)
    }

    /// Forgets producers idle for `expiration_ms` (`producer.id.expiration.ms`).
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.remove_expired(now_ms, expiration_ms)
    }

    /// This partition's producer state.
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producers
    }
}

/// The marker of the control batch at `pos` (header `h`); `None` when it is not one.
fn read_marker(
    seg: &LogSegment,
    pos: u64,
    h: &BatchHeader,
) -> Result<Option<crate::producer_state::TxnMarker>, LogError> {
    if h.size_bytes > CONTROL_BATCH_BYTES_MAX as u64 {
        tracing::warn!(
            offset = h.base_offset,
            size = h.size_bytes,
            "control batch too large to be a marker"
        );
        return Ok(None);
    }
    let buf = seg.read_from(pos, h, h.size_bytes as usize, i64::MAX, true)?;
    let Ok(view) = BatchView::parse(&buf) else {
        return Ok(None);
    };
    Ok(txn_marker(&view, h.base_offset))
}
