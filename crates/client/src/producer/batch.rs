//! One partition's batch as the producer tracks it: the records' encoding, the
//! callers waiting for the outcome, the buffer memory it holds, and its sequence.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::batch_builder::{BatchBuilder, ProducerStamp};
use crate::error::{Error, Result};
use crate::record::RecordMetadata;

/// The producer waiting for one record's outcome.
pub type DeliverySender = oneshot::Sender<Result<RecordMetadata>>;

pub(super) struct Delivery {
    pub(super) tx: DeliverySender,
    pub(super) timestamp: i64,
}

/// A batch of one partition, open (still accepting) or sealed.
pub struct ProducerBatch {
    /// Unique, increasing id (flush waits for ids below a mark).
    pub id: u64,
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    pub(super) builder: Option<BatchBuilder>,
    pub(super) sealed: Option<Bytes>,
    pub(super) deliveries: Vec<Delivery>,
    /// When the batch was created (linger and delivery timeout count from here).
    pub created: Instant,
    /// Sends attempted so far.
    pub attempts: u32,
    /// Buffer memory held until the batch completes.
    pub(super) permit: Option<OwnedSemaphorePermit>,
    /// Producer id, epoch and base sequence once the batch was given a sequence
    /// (idempotent producers), fixed across its retries.
    pub stamp: Option<ProducerStamp>,
}

impl ProducerBatch {
    pub(super) fn size_bytes(&self) -> usize {
        match (&self.builder, &self.sealed) {
            (_, Some(s)) => s.len(),
            (Some(b), None) => b.size_bytes(),
            (None, None) => 0,
        }
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.deliveries.len()
    }

    /// The encoded batch, sealing (and compressing) it on first use.
    pub fn bytes(&mut self) -> Result<Bytes> {
        if let Some(b) = &self.sealed {
            return Ok(b.clone());
        }
        let builder = self
            .builder
            .take()
            .ok_or_else(|| Error::Encode("batch has no records".into()))?;
        let bytes = builder
            .build(self.stamp.unwrap_or_default())
            .map_err(|e| Error::Encode(e.to_string()))?
            .freeze();
        self.sealed = Some(bytes.clone());
        Ok(bytes)
    }

    /// Gives an already sequenced batch a new stamp (after a producer reset),
    /// rewriting its sealed bytes if it was sealed.
    pub(super) fn restamp(&mut self, stamp: ProducerStamp) {
        self.stamp = Some(stamp);
        if let Some(sealed) = &self.sealed {
            self.sealed = Some(super::sequence::restamp(sealed, stamp));
        }
    }

    /// The sealed batch's buffer, if nothing else refers to it any more (the request
    /// was written), for reuse by a later batch.
    pub fn take_buffer(&mut self) -> Option<BytesMut> {
        self.sealed.take()?.try_into_mut().ok()
    }

    /// Reports success: record `i` got offset `base_offset + i`.
    pub fn succeed(mut self, base_offset: i64, log_append_time: Option<i64>) {
        self.permit.take();
        for (i, d) in self.deliveries.drain(..).enumerate() {
            let offset = if base_offset < 0 {
                -1
            } else {
                base_offset + i as i64
            };
            let _ = d.tx.send(Ok(RecordMetadata {
                topic: self.topic.clone(),
                partition: self.partition,
                offset,
                timestamp: log_append_time.unwrap_or(d.timestamp),
            }));
        }
    }

    /// Reports the same error for every record.
    pub fn fail(mut self, err: &Error) {
        self.permit.take();
        for d in self.deliveries.drain(..) {
            let _ = d.tx.send(Err(err.clone()));
        }
    }
}
