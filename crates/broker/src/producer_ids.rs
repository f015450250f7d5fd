//! Producer ids for InitProducerId, taken from blocks committed to the metadata log
//! (Kafka's AllocateProducerIds): a block is claimed before any of its ids is handed
//! out, so ids never repeat across restarts, nor between brokers.

use crate::broker::Broker;
use crate::error::BrokerError;
use moldau_metadata::controller::{allocate_producer_ids, ProducerIdBlock};
use tokio::sync::Mutex;

/// The block this broker hands ids from.
#[derive(Default)]
pub struct ProducerIdAllocator {
    /// The next id to hand out and the end of its block; `None` before the first block.
    current: Mutex<Option<(i64, ProducerIdBlock)>>,
}

impl ProducerIdAllocator {
    /// A fresh producer id; claims a new block through the metadata log when the
    /// current one is used up. Held under one (async) lock so a block is claimed
    /// once.
    pub async fn next_id(&self, broker: &Broker) -> Result<i64, BrokerError> {
        let mut current = self.current.lock().await;
        if let Some((next, block)) = current.as_mut() {
            if *next < block.end() {
                let id = *next;
                *next += 1;
                return Ok(id);
            }
        }
        let image = broker.metadata.image();
        let epoch = image.broker(broker.node_id).map_or(-1, |b| b.epoch);
        let (block, record) = allocate_producer_ids(&image, broker.node_id, epoch)
            .map_err(|e| BrokerError::api(e.error, e.message))?;
        broker.commit(&[record]).await?;
        tracing::debug!(
            first = block.first,
            size = block.size,
            "claimed a producer id block"
        );
        *current = Some((block.first + 1, block));
        Ok(block.first)
    }
}
