//! `kafka-dump-log.sh` for Moldau's files: segments (`.log`), offset indexes,
//! time indexes, transaction indexes (`.txnindex`) and producer snapshots
//! (`.snapshot`), printed line for line the way
//! Kafka's DumpLogSegments tool does.
//!
//! Wired to `moldau dump-log --files A.log[,A.index,A.timeindex] [--print-data-log]
//! [--verify-index-only]`. Segments under a `__consumer_offsets-N` directory have
//! their keys and values printed by the [`OffsetsRecordFormat`] the caller passes: the
//! group coordinator's record schemas live in a crate above this one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use moldau_protocol::batch::{BatchView, Codec};

use crate::batch_header::BatchHeader;
use crate::error::LogError;
use crate::offset_index::{decode_offset_entry, OFFSET_INDEX_ENTRY_BYTES};
use crate::producer_state_file::{self, SNAPSHOT_SUFFIX};
use crate::segment::{INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::segment_walk::{walk_segment, RecordContent, RecordLine, SegmentSink};
use crate::time_index::{decode_time_entry, TIME_INDEX_ENTRY_BYTES};
use crate::txn_index::{self, TXN_INDEX_SUFFIX};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{parse_records, record_data, Record};

/// Index files larger than this are refused (Kafka's `segment.index.bytes` max is 2 GiB,
/// realistic ones are 10 MiB).
pub const DUMP_INDEX_FILE_BYTES_MAX: u64 = 1 << 31;

/// Renders one `__consumer_offsets` record as `(key, payload)` text, given its offset
/// (for messages about records that do not decode), key and value (`None` for a
/// tombstone).
pub type OffsetsRecordFormat<'a> =
    &'a dyn Fn(i64, Option<&[u8]>, Option<&[u8]>) -> (String, String);

fn w(out: &mut dyn Write, path: &Path, text: std::fmt::Arguments<'_>) -> Result<(), LogError> {
    out.write_fmt(text).map_err(LogError::at(path))
}

/// Prints each file the way `kafka-dump-log.sh` does: batch lines for `.log` files
/// (and record lines with `print_data_log`), `offset: N position: P` for `.index`,
/// `timestamp: T offset: N` for `.timeindex`. With `verify_index_only`, index
/// entries are checked against the log and only mismatches are printed. Records of
/// `__consumer_offsets` go through `offsets_format` when there is one, and are
/// printed as raw text like any others when there is none.
pub fn dump_files(
    files: &[PathBuf],
    print_data_log: bool,
    verify_index_only: bool,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
    out: &mut dyn Write,
) -> Result<(), LogError> {
    for file in files {
        w(out, file, format_args!("Dumping {}\n", file.display()))?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(LOG_SUFFIX) {
            dump_log(file, print_data_log, offsets_format, out)?;
        } else if name.ends_with(INDEX_SUFFIX) {
            dump_index(file, verify_index_only, out)?;
        } else if name.ends_with(TIME_INDEX_SUFFIX) {
            dump_time_index(file, verify_index_only, out)?;
        } else if name.ends_with(SNAPSHOT_SUFFIX) {
            dump_producer_snapshot(file, out)?;
        } else if name.ends_with(TXN_INDEX_SUFFIX) {
            dump_txn_index(file, out)?;
        } else {
            w(
                out,
                file,
                format_args!("Ignoring unknown file {}\n", file.display()),
            )?;
        }
    }
    Ok(())
}

/// A transaction index, one line per aborted transaction as Kafka's tool prints it.
fn dump_txn_index(path: &Path, out: &mut dyn Write) -> Result<(), LogError> {
    for t in txn_index::read(path)? {
        w(
            out,
            path,
            format_args!(
                "AbortedTxn(version=0, producerId={}, firstOffset={}, lastOffset={}, lastStableOffset={})\n",
                t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset
            ),
        )?;
    }
    Ok(())
}

/// A producer-state snapshot, one line per producer as Kafka's tool prints it.
fn dump_producer_snapshot(path: &Path, out: &mut dyn Write) -> Result<(), LogError> {
    let mut entries = producer_state_file::read(path)?;
    entries.sort_by_key(|e| e.producer_id);
    for e in entries {
        let txn = e
            .current_txn_first_offset
            .map_or("OptionalLong.empty".to_string(), |o| {
                format!("OptionalLong[{o}]")
            });
        w(
            out,
            path,
            format_args!(
                "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {txn} lastTimestamp: {}",
                e.producer_id, e.epoch, e.coordinator_epoch, e.last_timestamp
            ),
        )?;
        if let Some(b) = e.batches.back() {
            w(
                out,
                path,
                format_args!(
                    " firstSequence: {} lastSequence: {} lastOffset: {} offsetDelta: {} timestamp: {}",
                    b.first_seq,
                    b.last_seq,
                    b.last_offset,
                    b.last_offset - b.first_offset,
                    b.timestamp
                ),
            )?;
        }
        w(out, path, format_args!("\n"))?;
    }
    Ok(())
}

/// Base offset from a segment file name (`00000000000000000042.log` -> 42).
pub(crate) fn base_offset_of(path: &Path) -> Result<i64, LogError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| LogError::corrupt(path, "file name does not start with a base offset"))
}

pub(crate) fn open(path: &Path) -> Result<(File, u64), LogError> {
    let f = File::open(path).map_err(LogError::at(path))?;
    let len = f.metadata().map_err(LogError::at(path))?.len();
    Ok((f, len))
}

pub(crate) fn is_consumer_offsets(path: &Path) -> bool {
    path.parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("__consumer_offsets-"))
}

pub(crate) fn timestamp_type(view: &BatchView<'_>) -> &'static str {
    if view.is_log_append_time() {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

fn dump_log(
    path: &Path,
    print_data_log: bool,
    offsets_format: Option<OffsetsRecordFormat<'_>>,
    out: &mut dyn Write,
) -> Result<(), LogError> {
    let base = base_offset_of(path)?;
    w(out, path, format_args!("Log starting offset: {base}\n"))?;
    walk_segment(
        path,
        print_data_log,
        offsets_format,
        &mut TextSink { path, out },
    )
}

/// Lines as `kafka-dump-log.sh` prints them.
struct TextSink<'a> {
    path: &'a Path,
    out: &'a mut dyn Write,
}

impl SegmentSink for TextSink<'_> {
    fn batch(&mut self, view: &BatchView<'_>, position: u64) -> Result<(), LogError> {
        let delete_horizon = if view.has_delete_horizon() {
            format!("OptionalLong[{}]", view.base_timestamp())
        } else {
            "OptionalLong.empty".to_string()
        };
        w(
            self.out,
            self.path,
            format_args!(
                "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {} position: {} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}\n",
                view.base_offset(),
                view.last_offset(),
                view.records_count(),
                view.base_sequence(),
                view.last_sequence(),
                view.producer_id(),
                view.producer_epoch(),
                view.partition_leader_epoch(),
                view.is_transactional(),
                view.is_control(),
                delete_horizon,
                position,
                timestamp_type(view),
                view.max_timestamp(),
                view.size(),
                view.magic(),
                codec_name(view.codec()),
                view.stored_crc(),
                view.stored_crc() == view.computed_crc(),
            ),
        )
    }

    fn record(&mut self, view: &BatchView<'_>, r: RecordLine<'_>) -> Result<(), LogError> {
        let mut line = format!(
            "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
            r.offset,
            timestamp_type(view),
            r.timestamp,
            r.key_size,
            r.value_size,
            r.sequence,
            r.header_keys.join(",")
        );
        match r.content {
            RecordContent::Control(description) => line.push_str(&description),
            RecordContent::Offsets { key, payload } => {
                line.push_str(&format!(" key: {key} payload: {payload}"))
            }
            RecordContent::Raw { key, value } => {
                if let Some(k) = key {
                    line.push_str(&format!(" key: {}", String::from_utf8_lossy(k)));
                }
                if let Some(v) = value {
                    line.push_str(&format!(" payload: {}", String::from_utf8_lossy(v)));
                }
            }
        }
        line.push('\n');
        self.out
            .write_all(line.as_bytes())
            .map_err(LogError::at(self.path))
    }

    fn undecodable_records(&mut self, _view: &BatchView<'_>, error: &str) -> Result<(), LogError> {
        w(
            self.out,
            self.path,
            format_args!("| records could not be decoded: {error}\n"),
        )
    }

    fn invalid_bytes(&mut self, _valid_bytes: u64, invalid: u64) -> Result<(), LogError> {
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        w(
            self.out,
            self.path,
            format_args!("Found {invalid} invalid bytes at the end of {name}\n"),
        )
    }
}

pub(crate) fn codec_name(codec: Codec) -> &'static str {
    codec.name()
}

/// A batch's records, decompressed within [`DECOMPRESSED_BATCH_BYTES_MAX`], or why not.
pub(crate) fn decode_records(view: &BatchView<'_>) -> Result<Vec<OwnedRecord>, String> {
    record_data(view, DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(|e| e.to_string())
        .and_then(|data| {
            parse_records(&data, view.records_count())
                .map(|rs| rs.into_iter().map(OwnedRecord::from).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        })
}

/// The fields of a record the dump prints, detached from the decompressed buffer.
pub(crate) struct OwnedRecord {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) header_keys: Vec<Vec<u8>>,
}

impl OwnedRecord {
    /// Offset, timestamp and sequence of this record within its batch.
    pub(crate) fn position_in(&self, view: &BatchView<'_>) -> (i64, i64, i32) {
        let offset = view.base_offset() + self.offset_delta as i64;
        let timestamp = if view.is_log_append_time() {
            view.max_timestamp()
        } else {
            view.base_timestamp() + self.timestamp_delta
        };
        let sequence = if view.base_sequence() < 0 {
            -1
        } else {
            view.base_sequence().wrapping_add(self.offset_delta)
        };
        (offset, timestamp, sequence)
    }
}

impl From<Record<'_>> for OwnedRecord {
    fn from(r: Record<'_>) -> Self {
        OwnedRecord {
            timestamp_delta: r.timestamp_delta,
            offset_delta: r.offset_delta,
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            header_keys: r.headers.iter().map(|(k, _)| k.to_vec()).collect(),
        }
    }
}

/// ` endTxnMarker: COMMIT coordinatorEpoch: N` for transaction markers (key: version
/// i16, type i16; value: version i16, coordinator epoch i32).
pub(crate) fn control_description(r: &OwnedRecord) -> String {
    let key = r.key.as_deref().unwrap_or_default();
    if key.len() < 4 {
        return " controlType: UNKNOWN(-1)".to_string();
    }
    let kind = i16::from_be_bytes([key[2], key[3]]);
    let epoch = r
        .value
        .as_deref()
        .filter(|v| v.len() >= 6)
        .map_or(-1, |v| i32::from_be_bytes([v[2], v[3], v[4], v[5]]));
    match kind {
        0 => format!(" endTxnMarker: ABORT coordinatorEpoch: {epoch}"),
        1 => format!(" endTxnMarker: COMMIT coordinatorEpoch: {epoch}"),
        other => format!(" controlType: UNKNOWN({other})"),
    }
}

/// Reads a whole index file after checking its size.
fn read_index(path: &Path) -> Result<Vec<u8>, LogError> {
    let (_, len) = open(path)?;
    if len > DUMP_INDEX_FILE_BYTES_MAX {
        return Err(LogError::corrupt(
            path,
            format!("{len} bytes exceeds {DUMP_INDEX_FILE_BYTES_MAX}"),
        ));
    }
    std::fs::read(path).map_err(LogError::at(path))
}

/// The segment file next to an index file.
fn log_file_for(path: &Path) -> Result<PathBuf, LogError> {
    let base = base_offset_of(path)?;
    Ok(path.with_file_name(crate::segment::segment_file_name(base, LOG_SUFFIX)))
}

/// Header of the batch at `position` in `log`, if there is one.
fn header_at(log: &File, len: u64, position: u64) -> Option<BatchHeader> {
    use std::os::unix::fs::FileExt;
    let mut h = [0u8; moldau_protocol::batch::BATCH_HEADER_BYTES];
    if position + h.len() as u64 > len {
        return None;
    }
    log.read_exact_at(&mut h, position).ok()?;
    BatchHeader::parse(&h)
}

fn dump_index(path: &Path, verify_only: bool, out: &mut dyn Write) -> Result<(), LogError> {
    let base = base_offset_of(path)?;
    let raw = read_index(path)?;
    let log_path = log_file_for(path)?;
    let log = open(&log_path).ok();
    let mut mismatches = Vec::new();
    let mut printed = 0;
    for (i, chunk) in raw.chunks_exact(OFFSET_INDEX_ENTRY_BYTES).enumerate() {
        let (rel, position) = decode_offset_entry(chunk);
        // Preallocated space after a crash is zero: the first zero entry ends it.
        if rel == 0 && i > 0 {
            break;
        }
        let offset = base + rel as i64;
        if let Some((file, len)) = &log {
            let found = header_at(file, *len, position as u64).map_or(-1, |h| h.last_offset);
            if found != offset {
                mismatches.push((offset, found));
            }
        }
        if !verify_only {
            w(
                out,
                path,
                format_args!("offset: {offset} position: {position}\n"),
            )?;
        }
        printed += 1;
    }
    if printed == 0 {
        w(out, path, format_args!("{} is empty.\n", path.display()))?;
    }
    if !mismatches.is_empty() {
        w(
            out,
            path,
            format_args!("Mismatches in :{}\n", path.display()),
        )?;
        for (index_offset, log_offset) in mismatches {
            w(
                out,
                path,
                format_args!("  Index offset: {index_offset}, log offset: {log_offset}\n"),
            )?;
        }
    }
    Ok(())
}

fn dump_time_index(path: &Path, verify_only: bool, out: &mut dyn Write) -> Result<(), LogError> {
    let base = base_offset_of(path)?;
    let raw = read_index(path)?;
    let log_path = log_file_for(path)?;
    let log = open(&log_path).ok();
    let mut errors = Vec::new();
    let mut prev_ts = -1i64;
    let mut scan_pos = 0u64;
    for (i, chunk) in raw.chunks_exact(TIME_INDEX_ENTRY_BYTES).enumerate() {
        let (timestamp, rel) = decode_time_entry(chunk);
        if rel == 0 && i > 0 {
            break;
        }
        let offset = base + rel as i64;
        if let Some((file, len)) = &log {
            // Entries' offsets only grow: continue the header walk from the last one.
            let mut found = None;
            while let Some(h) = header_at(file, *len, scan_pos) {
                if h.last_offset >= offset {
                    found = Some(h);
                    break;
                }
                scan_pos += h.size_bytes;
            }
            match found {
                Some(h) if h.last_offset == offset => {
                    if h.max_timestamp != timestamp {
                        errors.push(format!(
                            "  Index timestamp: {timestamp}, log timestamp: {}",
                            h.max_timestamp
                        ));
                    }
                }
                other => errors.push(format!(
                    "Indexed offset: {offset}, found log offset: {}",
                    other.map_or(-1, |h| h.last_offset)
                )),
            }
            if prev_ts >= timestamp {
                errors.push(format!(
                    "  Index timestamp: {timestamp}, Previously indexed timestamp: {prev_ts}"
                ));
            }
        }
        if !verify_only {
            w(
                out,
                path,
                format_args!("timestamp: {timestamp} offset: {offset}\n"),
            )?;
        }
        prev_ts = timestamp;
    }
    if !errors.is_empty() {
        w(
            out,
            path,
            format_args!("Found time index problems in :{}\n", path.display()),
        )?;
        for e in errors {
            w(out, path, format_args!("{e}\n"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{fill, keyed_batch, open_log, small_config};

    fn dump(files: &[PathBuf], data: bool, verify: bool) -> String {
        let mut out = Vec::new();
        dump_files(files, data, verify, None, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prints_batches_records_and_indexes_like_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path(), small_config());
        let mut b = keyed_batch(
            &[("k1".into(), Some(b"hello".to_vec())), ("k2".into(), None)],
            1000,
            Codec::Gzip,
        );
        log.append(&mut b, 3, 0).unwrap();
        fill(&mut log, 30, 2, 30);
        let seg = dir.path().join("00000000000000000000.log");
        let text = dump(std::slice::from_ref(&seg), true, false);
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), format!("Dumping {}", seg.display()));
        assert_eq!(lines.next().unwrap(), "Log starting offset: 0");
        let crc = BatchView::parse(&b).unwrap().stored_crc();
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 3 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1001 size: {} magic: 2 compresscodec: gzip crc: {crc} isvalid: true",
                b.len()
            )
        );
        assert_eq!(
            lines.next().unwrap(),
            "| offset: 0 CreateTime: 1000 keySize: 2 valueSize: 5 sequence: -1 headerKeys: [] key: k1 payload: hello"
        );
        assert_eq!(lines.next().unwrap(), "| offset: 1 CreateTime: 1001 keySize: 2 valueSize: -1 sequence: -1 headerKeys: [] key: k2");
        assert!(lines
            .next()
            .unwrap()
            .starts_with("baseOffset: 2 lastOffset: 3 count: 2"));

        let index = dump(
            &[dir.path().join("00000000000000000000.index")],
            false,
            false,
        );
        let entries: Vec<&str> = index.lines().skip(1).collect();
        assert!(!entries.is_empty());
        assert!(
            entries
                .iter()
                .all(|l| l.starts_with("offset: ") && l.contains(" position: ")),
            "{index}"
        );
        let verified = dump(
            &[dir.path().join("00000000000000000000.index")],
            false,
            true,
        );
        assert_eq!(verified.lines().count(), 1, "no mismatches: {verified}");
        let times = dump(
            &[dir.path().join("00000000000000000000.timeindex")],
            false,
            false,
        );
        assert!(
            times.lines().skip(1).all(|l| l.starts_with("timestamp: ")),
            "{times}"
        );
        assert!(!times.contains("problems"), "{times}");
    }

    #[test]
    fn transaction_markers_and_the_txn_index_are_printed() {
        use moldau_protocol::control_record::{build_marker_batch, EndTxnMarker};
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path(), small_config());
        let mut b = keyed_batch(&[("k".into(), Some(b"v".to_vec()))], 1000, Codec::None);
        b[22] |= moldau_protocol::batch::TRANSACTIONAL_BIT as u8;
        moldau_protocol::batch::set_producer(&mut b, 9, 1, 0);
        moldau_protocol::batch::refresh_crc(&mut b);
        log.append(&mut b, 0, 0).unwrap();
        let end = EndTxnMarker {
            commit: false,
            coordinator_epoch: 4,
        };
        let mut m = build_marker_batch(9, 1, end, 2000).unwrap();
        log.append(&mut m, 0, 0).unwrap();
        log.set_high_watermark(2);
        let seg = dir.path().join("00000000000000000000.log");
        let text = dump(std::slice::from_ref(&seg), true, false);
        assert!(
            text.contains("isTransactional: true isControl: true"),
            "{text}"
        );
        assert!(
            text.contains("endTxnMarker: ABORT coordinatorEpoch: 4"),
            "{text}"
        );
        let index = dir.path().join("00000000000000000000.txnindex");
        let text = dump(std::slice::from_ref(&index), false, false);
        assert_eq!(
            text.lines().nth(1),
            Some("AbortedTxn(version=0, producerId=9, firstOffset=0, lastOffset=1, lastStableOffset=2)")
        );
    }

    #[test]
    fn producer_snapshots_print_one_line_per_producer() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path(), small_config());
        let mut b = keyed_batch(
            &[("k1".into(), Some(b"a".to_vec())), ("k2".into(), None)],
            1000,
            Codec::None,
        );
        moldau_protocol::batch::set_producer(&mut b, 42, 3, 7);
        log.append(&mut b, 0, 0).unwrap();
        log.close_for_shutdown().unwrap();
        let snapshot = dir.path().join("00000000000000000002.snapshot");
        let text = dump(std::slice::from_ref(&snapshot), false, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1..],
            ["producerId: 42 producerEpoch: 3 coordinatorEpoch: -1 currentTxnFirstOffset: OptionalLong.empty lastTimestamp: 1001 firstSequence: 7 lastSequence: 8 lastOffset: 1 offsetDelta: 1 timestamp: 1001"]
        );
    }

    #[test]
    fn offsets_records_go_through_the_callers_format() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("__consumer_offsets-3");
        let mut log = open_log(&dir, small_config());
        let mut b = keyed_batch(
            &[("k1".into(), Some(b"v1".to_vec())), ("k2".into(), None)],
            1000,
            Codec::None,
        );
        log.append(&mut b, 0, 0).unwrap();
        let seg = dir.join("00000000000000000000.log");
        let format = |offset: i64, key: Option<&[u8]>, value: Option<&[u8]>| {
            let text = |b: Option<&[u8]>| {
                b.map_or("-".into(), |b| String::from_utf8_lossy(b).into_owned())
            };
            (
                format!("K{offset}={}", text(key)),
                format!("V={}", text(value)),
            )
        };
        let mut out = Vec::new();
        dump_files(
            std::slice::from_ref(&seg),
            true,
            false,
            Some(&format),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let records: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(records.len(), 2, "{text}");
        assert!(
            records[0].ends_with("headerKeys: [] key: K0=k1 payload: V=v1"),
            "{text}"
        );
        assert!(
            records[1].ends_with("headerKeys: [] key: K1=k2 payload: V=-"),
            "{text}"
        );
        // Without a format the records print raw, like any topic's.
        let raw = dump(std::slice::from_ref(&seg), true, false);
        assert!(raw.contains("key: k1 payload: v1\n"), "{raw}");
        // Other topics never use it.
        let other = root.path().join("orders-0");
        let mut log = open_log(&other, small_config());
        log.append(&mut b, 0, 0).unwrap();
        let mut out = Vec::new();
        let seg = other.join("00000000000000000000.log");
        dump_files(&[seg], true, false, Some(&format), &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("key: k1 payload: v1\n"));
    }

    #[test]
    fn reports_trailing_garbage_and_index_mismatches() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path(), small_config());
        fill(&mut log, 30, 2, 30);
        drop(log);
        let seg = dir.path().join("00000000000000000000.log");
        let mut data = std::fs::read(&seg).unwrap();
        data.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&seg, &data).unwrap();
        assert!(dump(&[seg], false, false)
            .ends_with("Found 3 invalid bytes at the end of 00000000000000000000.log\n"));
        let idx = dir.path().join("00000000000000000000.index");
        let mut raw = std::fs::read(&idx).unwrap();
        raw[3] ^= 1; // first entry's relative offset
        std::fs::write(&idx, &raw).unwrap();
        assert!(dump(&[idx], false, true).contains("Mismatches in :"));
    }
}
