//! The walk over a `.log` segment that both dumps share: batches in file order, each
//! batch's records (with `--print-data-log`), and the invalid bytes at the end. The text
//! dump and the JSON dump differ only in their [`SegmentSink`].

use std::path::Path;

use moldau_protocol::batch::BatchView;

use crate::batch_reader::{BatchReader, ReadOutcome};
use crate::dump::{
    base_offset_of, control_description, decode_records, is_consumer_offsets, open,
    OffsetsRecordFormat, OwnedRecord,
};
use crate::error::LogError;

/// What a record holds, as a dump prints it.
pub(crate) enum RecordContent<'a> {
    /// A control record: ` endTxnMarker: COMMIT coordinatorEpoch: N` and the like.
    Control(String),
    /// A `__consumer_offsets` record rendered by the group coordinator's schemas.
    Offsets { key: String, payload: String },
    /// Any other record: key and value as stored (`None` when null).
    Raw {
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
    },
}

/// One record's fields, in the order both dumps print them.
pub(crate) struct RecordLine<'a> {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) sequence: i32,
    pub(crate) key_size: i64,
    pub(crate) value_size: i64,
    pub(crate) header_keys: Vec<String>,
    pub(crate) content: RecordContent<'a>,
}

/// Receives what [`walk_segment`] finds.
pub(crate) trait SegmentSink {
    fn batch(&mut self, view: &BatchView<'_>, position: u64) -> Result<(), LogError>;
    fn record(&mut self, view: &BatchView<'_>, record: RecordLine<'_>) -> Result<(), LogError>;
    fn undecodable_records(&mut self, view: &BatchView<'_>, error: &str) -> Result<(), LogError>;
    /// `valid_bytes` is where the first batch that does not parse starts.
    fn invalid_bytes(&mut self, valid_bytes: u64, invalid: u64) -> Result<(), LogError>;
}

/// Walks the segment at `path`, handing each batch (and, with `print_data_log`, each
/// record) to `sink`. Records of `__consumer_offsets` segments go through
/// `offsets_format` when there is one.
pub(crate) fn walk_segment(
    path: &Path,
    print_data_log: bool,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
    sink: &mut dyn SegmentSink,
) -> Result<(), LogError> {
    base_offset_of(path)?;
    let (file, len) = open(path)?;
    let offsets_format = offsets_format.filter(|_| is_consumer_offsets(path));
    let mut reader = BatchReader::new(&file, path, 0, len, false);
    let mut valid_bytes = 0u64;
    while let ReadOutcome::Batch { position, bytes } = reader.next_batch()? {
        let view = BatchView::parse(bytes)?;
        sink.batch(&view, position)?;
        if print_data_log {
            walk_records(&view, offsets_format, sink)?;
        }
        valid_bytes = position + bytes.len() as u64;
    }
    if len > valid_bytes {
        sink.invalid_bytes(valid_bytes, len - valid_bytes)?;
    }
    Ok(())
}

fn walk_records(
    view: &BatchView<'_>,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
    sink: &mut dyn SegmentSink,
) -> Result<(), LogError> {
    let records = match decode_records(view) {
        Ok(records) => records,
        Err(e) => return sink.undecodable_records(view, &e),
    };
    for r in &records {
        sink.record(view, record_line(view, r, offsets_format))?;
    }
    Ok(())
}

fn record_line<'a>(
    view: &BatchView<'_>,
    r: &'a OwnedRecord,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
) -> RecordLine<'a> {
    let (offset, timestamp, sequence) = r.position_in(view);
    let len_of = |b: &Option<Vec<u8>>| b.as_ref().map_or(-1, |v| v.len() as i64);
    let content = if view.is_control() {
        RecordContent::Control(control_description(r))
    } else if let Some(format) = offsets_format {
        let (key, payload) = format(offset, r.key.as_deref(), r.value.as_deref());
        RecordContent::Offsets { key, payload }
    } else {
        RecordContent::Raw {
            key: r.key.as_deref(),
            value: r.value.as_deref(),
        }
    };
    RecordLine {
        offset,
        timestamp,
        sequence,
        key_size: len_of(&r.key),
        value_size: len_of(&r.value),
        header_keys: r
            .header_keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect(),
        content,
    }
}
