//! Producer-state snapshots (`<offset>.snapshot`): any bytes decode to entries or a
//! clean error, never a panic; what decodes re-encodes to a file that decodes the same.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use moldau_log::producer_state::ProducerStateManager;
use moldau_log::producer_state_file::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.snapshot");
    if let Ok(entries) = decode(data, path) {
        let state = ProducerStateManager::from_entries(entries.clone(), 0);
        let again = decode(&encode(&state), path).expect("re-encoded snapshot decodes");
        let mut a = entries;
        let mut b = again;
        a.sort_by_key(|e| e.producer_id);
        b.sort_by_key(|e| e.producer_id);
        if a.len() == b.len() {
            assert_eq!(a, b);
        }
    }
});
