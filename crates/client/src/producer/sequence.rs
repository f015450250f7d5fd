//! Idempotent producing: the producer id and epoch from InitProducerId, and
//! per-partition sequence numbers stamped into each batch, so the broker can drop
//! duplicates and refuse gaps. That is what lets several batches of one partition be
//! in flight while retries still never reorder them.

use bytes::{Bytes, BytesMut};

use moldau_protocol::batch::{set_producer, BATCH_HEADER_BYTES};

use crate::batch_builder::ProducerStamp;

/// The batches of one partition that may be in flight at once with idempotence
/// (the broker remembers the last five).
pub const IDEMPOTENT_IN_FLIGHT_MAX: usize = 5;

/// The identity the broker gave this producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// Producer id.
    pub id: i64,
    /// Producer epoch.
    pub epoch: i16,
}

impl ProducerIdentity {
    /// The stamp for a batch starting at `sequence`.
    pub fn stamp(self, sequence: i32) -> ProducerStamp {
        ProducerStamp {
            producer_id: self.id,
            producer_epoch: self.epoch,
            base_sequence: sequence,
        }
    }
}

/// Sequence after `sequence` plus `records`, wrapping at `i32::MAX` as Kafka's do.
pub fn advance(sequence: i32, records: usize) -> i32 {
    ((sequence as i64 + records as i64) % (i32::MAX as i64 + 1)) as i32
}

/// A sealed batch with a new producer id, epoch and base sequence (after the
/// producer was reset); the CRC covers them, so it is recomputed.
pub fn restamp(sealed: &Bytes, stamp: ProducerStamp) -> Bytes {
    let mut b = BytesMut::from(&sealed[..]);
    if b.len() < BATCH_HEADER_BYTES {
        return sealed.clone();
    }
    set_producer(
        &mut b,
        stamp.producer_id,
        stamp.producer_epoch,
        stamp.base_sequence,
    );
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch_builder::BatchBuilder;
    use moldau_protocol::batch::{BatchView, Codec};
    use moldau_protocol::batch_builder::NO_HEADERS;

    #[test]
    fn restamped_batches_keep_a_valid_crc() {
        let mut b = BatchBuilder::new(Codec::None, 64);
        b.push(1, None, Some(b"v"), &NO_HEADERS).unwrap();
        b.push(2, None, Some(b"w"), &NO_HEADERS).unwrap();
        let id = ProducerIdentity { id: 7, epoch: 1 };
        let sealed = b.build(id.stamp(10)).unwrap().freeze();
        let view = BatchView::parse(&sealed).unwrap();
        view.validate().unwrap();
        assert_eq!((view.producer_id(), view.base_sequence()), (7, 10));
        let again = restamp(&sealed, ProducerIdentity { id: 9, epoch: 2 }.stamp(0));
        let view = BatchView::parse(&again).unwrap();
        view.validate().unwrap();
        assert_eq!(view.producer_id(), 9);
        assert_eq!(view.producer_epoch(), 2);
        assert_eq!(view.base_sequence(), 0);
        assert_eq!(view.last_sequence(), 1);
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(advance(5, 3), 8);
        assert_eq!(advance(i32::MAX, 1), 0);
        assert_eq!(advance(i32::MAX - 1, 3), 1);
    }
}
