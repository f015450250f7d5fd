//! Transaction indexes (`.txnindex`) and control batches (transaction markers): any
//! bytes decode to entries / a marker or a clean error, never a panic; decoded
//! index entries re-encode to the same bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use moldau_log::txn_index::decode_all;
use moldau_protocol::batch::BatchView;
use moldau_protocol::control_record::read_control_batch;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_all(data, Path::new("fuzz.txnindex")) {
        let again: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
        assert_eq!(again, data);
    }
    if let Ok(view) = BatchView::parse(data) {
        let _ = read_control_batch(&view);
    }
});
