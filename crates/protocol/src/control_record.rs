//! Control records: the transaction markers (COMMIT / ABORT) a transaction
//! coordinator has partition leaders write, in Kafka's schema. A control batch is a
//! transactional batch with the control bit, one record, no sequence; the record's
//! key is `version: i16, type: i16` and an end-transaction marker's value is
//! `version: i16, coordinatorEpoch: i32`.

use bytes::BytesMut;

use crate::batch::{BatchView, Codec};
use crate::batch_builder::{BatchBuilder, BuildError, NO_HEADERS};
use crate::batch_header::ProducerStamp;
use crate::record::{record_data, RecordIter};

/// Control record key version Kafka writes.
const KEY_VERSION: i16 = 0;
/// End-transaction marker value version Kafka writes.
const MARKER_VALUE_VERSION: i16 = 0;
/// version (2) + type (2).
const KEY_BYTES: usize = 4;
/// version (2) + coordinator epoch (4).
const MARKER_VALUE_BYTES: usize = 6;
/// A control batch is one short record; more than this is not one.
pub const CONTROL_BATCH_BYTES_MAX: usize = 1024;
/// Sequence of a control batch (markers carry none).
const NO_SEQUENCE: i32 = -1;

/// Kafka's control record types (the key's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
    /// Another type (KRaft's leader change, snapshot headers, ...): not a marker.
    Other(i16),
}

impl ControlType {
    pub fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
            ControlType::Other(c) => c,
        }
    }

    pub fn from_code(code: i16) -> ControlType {
        match code {
            0 => ControlType::Abort,
            1 => ControlType::Commit,
            c => ControlType::Other(c),
        }
    }

    /// Kafka's name, as kafka-dump-log prints it.
    pub fn name(self) -> &'static str {
        match self {
            ControlType::Abort => "ABORT",
            ControlType::Commit => "COMMIT",
            ControlType::Other(_) => "UNKNOWN",
        }
    }
}

/// An end-transaction marker: how the transaction ended and the epoch of the
/// coordinator that ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn control_type(&self) -> ControlType {
        if self.commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        }
    }
}

/// The key of a control record of type `t`.
pub fn control_key(t: ControlType) -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    key[..2].copy_from_slice(&KEY_VERSION.to_be_bytes());
    key[2..].copy_from_slice(&t.code().to_be_bytes());
    key
}

/// The control type a control record's key names; `None` when the key is too short.
pub fn parse_control_key(key: &[u8]) -> Option<ControlType> {
    let bytes: [u8; 2] = key.get(2..KEY_BYTES)?.try_into().ok()?;
    Some(ControlType::from_code(i16::from_be_bytes(bytes)))
}

/// The control batch for `marker` of producer `producer_id`/`producer_epoch`,
/// timestamped `timestamp_ms`; base offset and leader epoch are set at append.
pub fn build_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: EndTxnMarker,
    timestamp_ms: i64,
) -> Result<BytesMut, BuildError> {
    let mut value = [0u8; MARKER_VALUE_BYTES];
    value[..2].copy_from_slice(&MARKER_VALUE_VERSION.to_be_bytes());
    value[2..].copy_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let key = control_key(marker.control_type());
    let mut builder = BatchBuilder::new(Codec::None, 32)
        .transactional(true)
        .control(true);
    builder.push(timestamp_ms, Some(&key), Some(&value), &NO_HEADERS)?;
    builder.build(ProducerStamp {
        producer_id,
        producer_epoch,
        base_sequence: NO_SEQUENCE,
    })
}

/// Why a control batch could not be read as a marker.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlRecordError {
    #[error("control batch of {0} bytes exceeds {CONTROL_BATCH_BYTES_MAX}")]
    TooLarge(usize),
    #[error("control batch holds no record")]
    Empty,
    #[error("control record: {0}")]
    Record(String),
    #[error("control record key missing or shorter than {KEY_BYTES} bytes")]
    BadKey,
    #[error("end transaction marker value missing or shorter than {MARKER_VALUE_BYTES} bytes")]
    BadValue,
}

/// The first record's control type of control batch `view`, and for a COMMIT or
/// ABORT the marker.
pub fn read_control_batch(
    view: &BatchView<'_>,
) -> Result<(ControlType, Option<EndTxnMarker>), ControlRecordError> {
    if view.size() > CONTROL_BATCH_BYTES_MAX {
        return Err(ControlRecordError::TooLarge(view.size()));
    }
    let data = record_data(view, CONTROL_BATCH_BYTES_MAX)
        .map_err(|e| ControlRecordError::Record(e.to_string()))?;
    let record = RecordIter::new(&data, view.records_count())
        .next()
        .ok_or(ControlRecordError::Empty)?
        .map_err(|e| ControlRecordError::Record(e.to_string()))?;
    let t = record
        .key
        .and_then(parse_control_key)
        .ok_or(ControlRecordError::BadKey)?;
    if !matches!(t, ControlType::Abort | ControlType::Commit) {
        return Ok((t, None));
    }
    let value = record
        .value
        .filter(|v| v.len() >= MARKER_VALUE_BYTES)
        .ok_or(ControlRecordError::BadValue)?;
    let mut epoch = [0u8; 4];
    epoch.copy_from_slice(&value[2..MARKER_VALUE_BYTES]);
    Ok((
        t,
        Some(EndTxnMarker {
            commit: t == ControlType::Commit,
            coordinator_epoch: i32::from_be_bytes(epoch),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_batch_reads_back_with_kafkas_bytes() {
        let marker = EndTxnMarker {
            commit: true,
            coordinator_epoch: 7,
        };
        let bytes = build_marker_batch(42, 3, marker, 1_000).unwrap();
        let view = BatchView::parse(&bytes).unwrap();
        view.validate().unwrap();
        assert!(view.is_control() && view.is_transactional());
        assert_eq!(
            (
                view.producer_id(),
                view.producer_epoch(),
                view.base_sequence()
            ),
            (42, 3, -1)
        );
        assert_eq!(view.records_count(), 1);
        assert_eq!(
            read_control_batch(&view).unwrap(),
            (ControlType::Commit, Some(marker))
        );
        // Key: version 0, type 1 (COMMIT); value: version 0, coordinator epoch 7.
        let data = record_data(&view, CONTROL_BATCH_BYTES_MAX).unwrap();
        let record = RecordIter::new(&data, 1).next().unwrap().unwrap();
        assert_eq!(record.key, Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(record.value, Some(&[0u8, 0, 0, 0, 0, 7][..]));
    }

    #[test]
    fn an_abort_marker_and_a_short_key() {
        let marker = EndTxnMarker {
            commit: false,
            coordinator_epoch: -1,
        };
        let bytes = build_marker_batch(1, 0, marker, 5).unwrap();
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(
            read_control_batch(&view).unwrap(),
            (ControlType::Abort, Some(marker))
        );
        assert_eq!(parse_control_key(&[0, 0, 0]), None);
        assert_eq!(
            parse_control_key(&[0, 0, 0, 2]),
            Some(ControlType::Other(2))
        );
    }
}
