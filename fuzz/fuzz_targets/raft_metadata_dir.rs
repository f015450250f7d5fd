//! The metadata quorum's storage as found on disk: the input is a `quorum-state`
//! file, a `metadata-snapshot` file and a `__cluster_metadata-0` segment (the first
//! four bytes are the two files' lengths, big-endian u16 each; the rest is the
//! segment). Opening the Raft log store and state machine, reading every entry and
//! decoding its records may fail but never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_metadata::raft::{MetadataLogStore, MetadataStateMachine};
use openraft::storage::RaftLogStorage;
use openraft::{EntryPayload, RaftLogReader};

fn take<'a>(data: &mut &'a [u8], len: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(len.min(data.len()));
    *data = tail;
    head
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let lengths = take(&mut data, 4);
    if lengths.len() < 4 {
        return;
    }
    let quorum_len = u16::from_be_bytes([lengths[0], lengths[1]]) as usize;
    let snapshot_len = u16::from_be_bytes([lengths[2], lengths[3]]) as usize;
    let quorum_state = take(&mut data, quorum_len);
    let snapshot = take(&mut data, snapshot_len);
    let segment = data;

    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("tempdir");
    let part = dir.path().join("__cluster_metadata-0");
    std::fs::create_dir_all(&part).expect("mkdir");
    std::fs::write(part.join("quorum-state"), quorum_state).expect("write");
    std::fs::write(part.join("metadata-snapshot"), snapshot).expect("write");
    std::fs::write(part.join("00000000000000000000.log"), segment).expect("write");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    if let Ok(mut store) = MetadataLogStore::open(&part) {
        runtime.block_on(async {
            let _ = store.read_vote().await;
            let _ = store.get_log_state().await;
            if let Ok(entries) = store.try_get_log_entries(0..u64::MAX).await {
                for entry in entries {
                    if let EntryPayload::Normal(command) = entry.payload {
                        let _ = command.records();
                    }
                }
            }
        });
    }
    if let Ok(state_machine) = MetadataStateMachine::open(&part) {
        let _ = state_machine.image().topics().count();
    }
});
