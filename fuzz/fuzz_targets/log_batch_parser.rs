//! Every decoder the log applies to batch bytes: the batch view and iterator, record
//! parsing (with decompression), the compaction filter and the `__consumer_offsets`
//! record decoders (the coordinator's, which the dump tool and group replay use). None
//! may panic; what they accept must be consistent.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use moldau_coordinator::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};
use moldau_log::cleaner::{filter_batch, Filtered};
use moldau_protocol::batch::{BatchIter, BatchView};
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{parse_records, record_data};

fuzz_target!(|data: &[u8]| {
    for item in BatchIter::new(data) {
        let Ok((_, view)) = item else { break };
        let _ = view.validate();
        let Ok(payload) = record_data(&view, DECOMPRESSED_BATCH_BYTES_MAX) else {
            continue;
        };
        let Ok(records) = parse_records(&payload, view.records_count()) else {
            continue;
        };
        assert_eq!(records.len(), view.records_count() as usize);
        let mut latest = HashMap::new();
        for r in &records {
            decode_offsets_record(r.key, r.value);
            if let Some(k) = r.key {
                latest.insert(k.to_vec(), view.base_offset() + r.offset_delta as i64);
            }
        }
        // A rewritten batch must itself parse, keep the base offset, and hold no more
        // records than the original.
        if let Ok(Filtered::Rewritten(out)) = filter_batch(&view, &latest, 1_000, 10) {
            let again = BatchView::parse(&out).expect("rewritten batch parses");
            assert_eq!(again.base_offset(), view.base_offset());
            assert_eq!(again.stored_crc(), again.computed_crc());
            assert!(again.records_count() <= view.records_count());
        }
    }
    decode_offsets_record(Some(data), Some(data));
});

/// Runs every __consumer_offsets decoder over a record; none may panic.
fn decode_offsets_record(key: Option<&[u8]>, value: Option<&[u8]>) {
    if let Some(k) = key {
        let _ = RecordKey::decode(k);
    }
    if let Some(v) = value {
        let _ = OffsetCommitValue::decode(v);
        let _ = GroupMetadataValue::decode(v);
    }
}
