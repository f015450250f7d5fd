//! Every decoder the log applies to batch bytes: the batch view and iterator, record
//! parsing (with decompression), the compaction filter and the `__consumer_offsets`
//! decoder of the dump tool. None may panic; what they accept must be consistent.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use moldau_log::cleaner::{filter_batch, Filtered};
use moldau_log::dump_offsets::format_offsets_record;
use moldau_log::records::{parse_records, record_data};
use moldau_protocol::batch::{BatchIter, BatchView};

fuzz_target!(|data: &[u8]| {
    for item in BatchIter::new(data) {
        let Ok((_, view)) = item else { break };
        let _ = view.validate();
        let Ok(payload) = record_data(&view) else { continue };
        let Ok(records) = parse_records(&payload, view.records_count()) else { continue };
        assert_eq!(records.len(), view.records_count() as usize);
        let mut latest = HashMap::new();
        for r in &records {
            let _ = format_offsets_record(0, r.key, r.value);
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
    let _ = format_offsets_record(1, Some(data), Some(data));
});
