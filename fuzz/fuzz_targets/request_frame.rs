//! The connection's read path: the input is the byte stream a client sends. Frames are
//! split with the broker's default size limit, headers decoded, and each body decoded
//! as the dispatcher would. Nothing may panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use moldau_protocol::frame::{decode_header, split_frame, REQUEST_FRAME_BYTES_MAX_DEFAULT};

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
    let mut buf = BytesMut::from(data);
    while let Ok(Some(mut frame)) = split_frame(&mut buf, REQUEST_FRAME_BYTES_MAX_DEFAULT) {
        // The connection closes on a bad header; so does this loop.
        let Ok((api_key, header)) = decode_header(&mut frame) else {
            break;
        };
        served_requests::decode_served_request(api_key, header.request_api_version, frame);
    }
});
