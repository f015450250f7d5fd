//! The consumer-protocol subscription and assignment decoders the coordinator applies
//! to JoinGroup/SyncGroup bytes and to group metadata read back from disk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_coordinator::consumer_protocol::{assignment_partitions, subscription_topics};

fuzz_target!(|data: &[u8]| {
    if let Ok(topics) = subscription_topics(data) {
        assert!(topics.len() <= data.len(), "each topic takes input bytes");
    }
    if let Ok(partitions) = assignment_partitions(data) {
        let count: usize = partitions.iter().map(|(_, p)| p.len()).sum();
        assert!(count <= data.len(), "each partition takes input bytes");
    }
});
