//! Producer-id blocks (Kafka's AllocateProducerIds): the controller hands a broker
//! the next block of ids and records its end, so no id is ever given twice — across
//! brokers, and across restarts, because the image replays the block's end.

use moldau_protocol::ResponseError;

use super::error::ControllerError;
use crate::image::MetadataImage;
use crate::record::MetadataRecord;

/// Ids per block, as Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// A range of producer ids a broker may hand out: `[first, first + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdBlock {
    pub first: i64,
    pub size: i64,
}

impl ProducerIdBlock {
    /// The id after the block's last.
    pub fn end(&self) -> i64 {
        self.first + self.size
    }
}

/// The next block for broker `broker_id` (at `broker_epoch`), starting where the
/// image's last block ended, and the record that claims it.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<(ProducerIdBlock, MetadataRecord), ControllerError> {
    let first = image.next_producer_id().max(0);
    if first > i64::MAX - PRODUCER_ID_BLOCK_SIZE {
        return Err(ControllerError::new(
            ResponseError::UnknownServerError,
            "producer ids exhausted",
        ));
    }
    let block = ProducerIdBlock {
        first,
        size: PRODUCER_ID_BLOCK_SIZE,
    };
    let record = MetadataRecord::ProducerIds {
        broker_id,
        broker_epoch,
        next_producer_id: block.end(),
    };
    Ok((block, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_each_other_and_never_overlap() {
        let image = MetadataImage::default();
        let (first, record) = allocate_producer_ids(&image, 1, 0).unwrap();
        assert_eq!(
            first,
            ProducerIdBlock {
                first: 0,
                size: 1000
            }
        );
        let (image, _) = image.apply_batch(&[record], 0).unwrap();
        let (second, _) = allocate_producer_ids(&image, 2, 0).unwrap();
        assert_eq!(second.first, first.end());
    }

    #[test]
    fn the_last_ids_are_refused_rather_than_wrapped() {
        let image = MetadataImage::default();
        let record = MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 0,
            next_producer_id: i64::MAX - 10,
        };
        let (image, _) = image.apply_batch(&[record], 0).unwrap();
        assert!(allocate_producer_ids(&image, 1, 0).is_err());
    }
}
