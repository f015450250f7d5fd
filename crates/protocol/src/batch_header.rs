//! The fixed header of a magic-2 batch as a value, and sealing: writing it in front
//! of (possibly compressed) record bytes with the length and the CRC that cover them.
//! Every place that writes a whole batch (the builder, broker recompression, log
//! compaction) seals through here, so the header layout is written in one place.

use bytes::{BufMut, BytesMut};

use crate::batch::{
    refresh_crc, BatchView, Codec, BATCH_HEADER_BYTES, COMPRESSION_MASK, CONTROL_BIT,
    DELETE_HORIZON_BIT, LOG_OVERHEAD_BYTES, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT,
};
use crate::batch_builder::BuildError;
use crate::compression::compress_into;

/// The only batch format Moldau writes.
const MAGIC_V2: i8 = 2;
/// The largest batch a header can describe: its length field is an i32.
pub const BATCH_BYTES_MAX: usize = i32::MAX as usize;
/// "No producer id / epoch / sequence" in a batch header.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
/// Leader epoch a writer leaves for the broker to fill in.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Producer identity stamped into a batch (idempotent and transactional
/// producers), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record.
    pub base_sequence: i32,
}

impl Default for ProducerStamp {
    fn default() -> Self {
        ProducerStamp {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
        }
    }
}

/// Every header field except the length and the CRC, which sealing computes, and the
/// codec bits, which sealing sets from the codec it compresses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    /// Attribute bits other than the codec: timestamp type, transactional, control,
    /// delete horizon.
    pub flags: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer: ProducerStamp,
    pub records_count: i32,
}

impl BatchHeader {
    /// The header of an existing batch, to re-seal it with other records or codec.
    pub fn of(view: &BatchView<'_>) -> BatchHeader {
        BatchHeader {
            base_offset: view.base_offset(),
            partition_leader_epoch: view.partition_leader_epoch(),
            flags: view.attributes() & !COMPRESSION_MASK,
            last_offset_delta: view.last_offset_delta(),
            base_timestamp: view.base_timestamp(),
            max_timestamp: view.max_timestamp(),
            producer: ProducerStamp {
                producer_id: view.producer_id(),
                producer_epoch: view.producer_epoch(),
                base_sequence: view.base_sequence(),
            },
            records_count: view.records_count(),
        }
    }

    /// Sets or clears one attribute flag (see the `*_BIT` constants).
    pub fn set_flag(&mut self, bit: i16, on: bool) {
        assert_eq!(bit & COMPRESSION_MASK, 0, "codec bits are set by sealing");
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    pub fn is_log_append_time(&self) -> bool {
        self.flags & TIMESTAMP_TYPE_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.flags & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.flags & CONTROL_BIT != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.flags & DELETE_HORIZON_BIT != 0
    }

    /// Seals a batch. `buffer` holds `BATCH_HEADER_BYTES` of room (any content), then
    /// the uncompressed record bytes; the header is written into the room, the
    /// records compressed with `codec` (in place when `Codec::None`), and the length
    /// and CRC computed. Refuses a result larger than `limit_bytes`.
    pub fn seal(
        &self,
        codec: Codec,
        mut buffer: BytesMut,
        limit_bytes: usize,
    ) -> Result<BytesMut, BuildError> {
        assert!(buffer.len() >= BATCH_HEADER_BYTES, "no room for the header");
        assert!(limit_bytes <= BATCH_BYTES_MAX);
        let mut out = if codec == Codec::None {
            buffer
        } else {
            let raw = buffer.split_off(BATCH_HEADER_BYTES);
            compress_into(codec, raw, &mut buffer).map_err(BuildError::Compress)?;
            buffer
        };
        if out.len() > limit_bytes {
            return Err(BuildError::TooLarge {
                size_bytes: out.len(),
                limit_bytes,
            });
        }
        let batch_length = (out.len() - LOG_OVERHEAD_BYTES) as i32;
        let mut header = &mut out[..BATCH_HEADER_BYTES];
        header.put_i64(self.base_offset);
        header.put_i32(batch_length);
        header.put_i32(self.partition_leader_epoch);
        header.put_i8(MAGIC_V2);
        header.put_u32(0); // CRC: computed below, over what follows it
        header.put_i16((self.flags & !COMPRESSION_MASK) | codec.attribute_bits());
        header.put_i32(self.last_offset_delta);
        header.put_i64(self.base_timestamp);
        header.put_i64(self.max_timestamp);
        header.put_i64(self.producer.producer_id);
        header.put_i16(self.producer.producer_epoch);
        header.put_i32(self.producer.base_sequence);
        header.put_i32(self.records_count);
        assert!(
            header.is_empty(),
            "header layout is BATCH_HEADER_BYTES long"
        );
        refresh_crc(&mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resealing_a_view_keeps_every_header_field() {
        let header = BatchHeader {
            base_offset: 77,
            partition_leader_epoch: 3,
            flags: TRANSACTIONAL_BIT | TIMESTAMP_TYPE_BIT,
            last_offset_delta: 0,
            base_timestamp: 10,
            max_timestamp: 20,
            producer: ProducerStamp {
                producer_id: 5,
                producer_epoch: 6,
                base_sequence: 7,
            },
            records_count: 1,
        };
        let mut buffer = BytesMut::zeroed(BATCH_HEADER_BYTES);
        buffer.extend_from_slice(b"not really records");
        let sealed = header.seal(Codec::Gzip, buffer, BATCH_BYTES_MAX).unwrap();
        let view = BatchView::parse(&sealed).unwrap();
        assert_eq!(view.size(), sealed.len());
        assert_eq!(view.codec(), Codec::Gzip);
        assert_eq!(view.stored_crc(), view.computed_crc());
        assert_eq!(BatchHeader::of(&view), header);
        assert!(header.is_transactional() && header.is_log_append_time());
        assert!(!header.is_control() && !header.has_delete_horizon());
    }

    #[test]
    fn a_sealed_batch_over_the_limit_is_refused() {
        let mut buffer = BytesMut::zeroed(BATCH_HEADER_BYTES);
        buffer.extend_from_slice(&[1u8; 100]);
        let header = BatchHeader {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            flags: 0,
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer: ProducerStamp::default(),
            records_count: 1,
        };
        assert_eq!(
            header.seal(Codec::None, buffer, BATCH_HEADER_BYTES + 99),
            Err(BuildError::TooLarge {
                size_bytes: BATCH_HEADER_BYTES + 100,
                limit_bytes: BATCH_HEADER_BYTES + 99
            })
        );
    }
}
