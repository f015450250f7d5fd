//! Every request body the broker serves: the input's first two bytes pick the API
//! (among the served ones) and the next two its version; the rest is the body, decoded
//! the way the dispatcher decodes it. Nothing may panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use moldau_protocol::versions::BROKER_APIS;

// The broker binary's global allocator: hostile array counts get address space only
// (see alloc_guard.rs), so the decoders fail on the missing elements instead of the
// process aborting. Fuzzing with the system allocator reports those as out-of-memory.
#[path = "../../crates/broker/src/alloc_guard.rs"]
#[allow(dead_code)]
mod alloc_guard;

#[global_allocator]
static ALLOCATOR: alloc_guard::GuardedAllocator = alloc_guard::GuardedAllocator;

#[path = "common/served_requests.rs"]
mod served_requests;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let api = &BROKER_APIS[usize::from(u16::from_be_bytes([data[0], data[1]])) % BROKER_APIS.len()];
    // Mostly served versions, sometimes any (which must be refused before decoding).
    let raw_version = i16::from_be_bytes([data[2], data[3]]);
    let span = (api.max - api.min + 1) as u16;
    let version = if raw_version < 0 {
        raw_version
    } else {
        api.min + (raw_version as u16 % span) as i16
    };
    served_requests::decode_served_request(api.key, version, Bytes::copy_from_slice(&data[4..]));
});
