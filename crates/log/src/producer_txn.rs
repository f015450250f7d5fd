//! Transactions on one partition's log: markers applied to producer state, aborted
//! transactions recorded in the marker's segment `.txnindex`, the last stable offset
//! and the aborted transactions a read_committed fetch returns.

use moldau_protocol::batch::BatchView;
use moldau_protocol::control_record::read_control_batch;

use crate::error::LogError;
use crate::partition_log::PartitionLog;
use crate::producer_state::{CompletedTxn, ProducerBatch, ProducerStateManager, TxnMarker};
use crate::txn_index::AbortedTxn;

/// The marker a control batch at `offset` carries; `None` for a batch that is not
/// one (not a control batch, no producer id, another control type, or unreadable).
pub(crate) fn txn_marker(view: &BatchView<'_>, offset: i64) -> Option<TxnMarker> {
    if !view.is_control() || view.producer_id() < 0 {
        return None;
    }
    match read_control_batch(view) {
        Ok((_, Some(marker))) => Some(TxnMarker {
            producer_id: view.producer_id(),
            epoch: view.producer_epoch(),
            offset,
            marker,
            timestamp: view.max_timestamp(),
        }),
        Ok((_, None)) => None,
        Err(e) => {
            tracing::warn!(offset, error = %e, "unreadable control batch");
            None
        }
    }
}

/// What a batch already in the log (or from the leader) does to producer state.
pub(crate) enum ReplicatedProducerBatch {
    Data(ProducerBatch),
    Marker(TxnMarker),
}

impl ReplicatedProducerBatch {
    /// `None` for a batch without a producer id.
    pub fn from_view(view: &BatchView<'_>) -> Option<Self> {
        if view.is_control() {
            return txn_marker(view, view.base_offset()).map(ReplicatedProducerBatch::Marker);
        }
        ProducerBatch::from_view(view, view.base_offset()).map(ReplicatedProducerBatch::Data)
    }

    /// Applies the batch unchecked; returns the transaction a marker closed.
    pub fn apply_to(&self, state: &mut ProducerStateManager) -> Option<CompletedTxn> {
        match self {
            ReplicatedProducerBatch::Data(batch) => {
                state.apply(batch);
                None
            }
            ReplicatedProducerBatch::Marker(marker) => state.apply_marker(marker),
        }
    }
}

/// The `.txnindex` entry for `txn` if it was aborted, with the LSO `state` (which
/// already has it closed) gives.
pub(crate) fn aborted_entry(
    state: &ProducerStateManager,
    txn: &CompletedTxn,
) -> Option<AbortedTxn> {
    txn.aborted.then(|| AbortedTxn {
        producer_id: txn.producer_id,
        first_offset: txn.first_offset,
        last_offset: txn.last_offset,
        last_stable_offset: state.last_stable_offset_after(txn),
    })
}

impl PartitionLog {
    /// Records a just-closed transaction: an aborted one goes into the `.txnindex`
    /// of the segment holding its marker.
    pub(crate) fn index_completed_txn(&mut self, txn: &CompletedTxn) -> Result<(), LogError> {
        let Some(entry) = aborted_entry(&self.producers, txn) else {
            return Ok(());
        };
        self.index_aborted(entry)
    }

    /// Appends `entry` to the index of the segment holding its marker.
    pub(crate) fn index_aborted(&mut self, entry: AbortedTxn) -> Result<(), LogError> {
        let Some((_, seg)) = self.segments.range_mut(..=entry.last_offset).next_back() else {
            return Ok(());
        };
        seg.txn_index_mut().append(entry)
    }

    /// First offset of the oldest open transaction, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset()
    }

    /// The last stable offset: read_committed consumers see everything below it —
    /// the high watermark, or the start of the oldest open transaction if earlier
    /// (never below the log start, which DeleteRecords may have moved past it).
    pub fn last_stable_offset(&self) -> i64 {
        self.first_unstable_offset()
            .map_or(self.high_watermark, |first| {
                first.max(self.log_start_offset).min(self.high_watermark)
            })
    }

    /// The aborted transactions overlapping `[fetch_offset, upper_bound_offset)`,
    /// from the `.txnindex` of the segment holding `fetch_offset` onwards (a
    /// transaction may start in one segment and be aborted in a later one).
    pub fn aborted_transactions(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let start_base = self
            .segments
            .range(..=fetch_offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        let mut out = Vec::new();
        for seg in self.segments.range(start_base..).map(|(_, s)| s) {
            if seg
                .txn_index()
                .collect(fetch_offset, upper_bound_offset, &mut out)
            {
                break;
            }
        }
        out
    }
}
