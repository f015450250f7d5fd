//! Reading a coordinator's internal partition (`__consumer_offsets`,
//! `__transaction_state`) back from its log when the coordinator takes it over: every
//! batch up to the log end, in order, control batches (transaction markers)
//! included: the group coordinator needs them for offsets committed in transactions.
//!
//! Up to the log end, not the high watermark, as Kafka's loader reads: a new leader
//! learns the high watermark only from its followers' next fetches, and until then
//! its own lags behind records every in-sync replica had (commits already
//! acknowledged). The leader's log is the one its followers truncate to, so what it
//! holds is what the partition will hold.

use moldau_log::PartitionLog;
use moldau_protocol::batch::{BatchIter, BatchView};

/// How much of the log one read brings into memory.
const REPLAY_READ_BYTES_MAX: usize = 4 << 20;

/// Calls `on_batch` with each batch of `log`. A read or
/// framing error ends the replay where it happened (logged with `topic` and
/// `partition`): what came before is kept.
pub(crate) fn replay_batches(
    log: &PartitionLog,
    topic: &str,
    partition: i32,
    mut on_batch: impl FnMut(&BatchView<'_>),
) {
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let read = match log.read(offset, REPLAY_READ_BYTES_MAX, end, true) {
            Ok(r) if !r.bytes.is_empty() => r,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(topic, partition, "replaying the partition: {e}");
                return;
            }
        };
        let before = offset;
        for item in BatchIter::new(&read.bytes) {
            let view = match item {
                Ok((_, view)) => view,
                Err(e) => {
                    tracing::error!(topic, partition, offset, "replaying the partition: {e}");
                    break;
                }
            };
            offset = offset.max(view.last_offset() + 1);
            on_batch(&view);
        }
        if offset == before {
            return;
        }
    }
}
