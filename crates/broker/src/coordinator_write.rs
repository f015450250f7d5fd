//! A coordinator's write to its internal partition (`__consumer_offsets`,
//! `__transaction_state`) made as Kafka's coordinators make it, with acks=all:
//! refused before the append when the ISR is smaller than the topic's
//! `min.insync.replicas` (NOT_ENOUGH_REPLICAS); once appended, answered when it is
//! fsynced here and every in-sync replica has it, so a commit acknowledged to a client
//! survives the coordinator's broker dying. The coordinators turn the error codes into
//! their own (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR).

use crate::delayed_produce::replication_error;
use crate::error::BrokerError;
use crate::partition::Partition;
use moldau_log::AppendOrigin;
use moldau_protocol::ResponseError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Appends `batch` to `target`, a partition led here; the future resolves with the
/// write's error code, 0 once every in-sync replica has it, waiting for them at most
/// `timeout` (REQUEST_TIMED_OUT).
pub(crate) fn append_replicated(
    target: &Arc<Partition>,
    batch: &mut [u8],
    origin: AppendOrigin,
    timeout: Duration,
) -> Result<impl Future<Output = i16> + Send + 'static, BrokerError> {
    let min_insync = target.limits().min_insync_replicas;
    let isr = target.isr().len();
    if isr < min_insync {
        return Err(BrokerError::api(
            ResponseError::NotEnoughReplicas,
            format!("{isr} in-sync replicas, min.insync.replicas is {min_insync}"),
        ));
    }
    let (appended, durable) = target.append_from(batch, crate::clock::now_ms(), true, origin)?;
    let replicated = target.wait_for_replication(appended.info.last_offset);
    let deadline = tokio::time::Instant::now() + timeout;
    Ok(async move {
        if let Some(rx) = durable {
            match rx.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return BrokerError::Log(e).response_error().code(),
                Err(_) => return ResponseError::KafkaStorageError.code(),
            }
        }
        // Too many writes already waiting on this partition.
        let Some(rx) = replicated else {
            return ResponseError::RequestTimedOut.code();
        };
        match replication_error(rx, min_insync, deadline).await {
            Some((error, _)) => error.code(),
            None => 0,
        }
    })
}
