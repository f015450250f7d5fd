//! Decoders of disk and client bytes never panic, whatever they are fed.

use crate::consumer_protocol::{assignment_partitions, subscription_topics};
use crate::describe_record;
use crate::records::{
    GroupMetadataValue, MemberMetadata, OffsetCommitKey, OffsetCommitValue, RecordKey,
};
use bytes::Bytes;

/// Deterministic pseudo-random bytes (SplitMix64).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn decode_everything(bytes: &[u8]) {
    let _ = RecordKey::decode(bytes);
    let _ = OffsetCommitValue::decode(bytes);
    let _ = GroupMetadataValue::decode(bytes);
    let _ = subscription_topics(bytes);
    let _ = assignment_partitions(bytes);
    let _ = describe_record(bytes, Some(bytes));
    let _ = describe_record(&[0, 2, 0, 1, b'g'], Some(bytes));
    let _ = describe_record(&[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 0], Some(bytes));
}

#[test]
fn random_and_mutated_records_never_panic() {
    let mut noise = Noise(42);
    for len in 0..64usize {
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
            decode_everything(&bytes);
        }
    }
    let valid = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: Some("range".into()),
        leader: Some("m".into()),
        current_state_timestamp_ms: 5,
        members: vec![MemberMetadata {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1,
            session_timeout_ms: 2,
            subscription: Bytes::from(crate::consumer_protocol::tests::subscription(&["t"])),
            assignment: Bytes::from(crate::consumer_protocol::tests::assignment(&[("t", &[1])])),
        }],
    }
    .encode()
    .unwrap_or_else(|e| panic!("{e}"));
    let key = OffsetCommitKey {
        group: "g".into(),
        topic: "t".into(),
        partition: 1,
    }
    .encode()
    .unwrap_or_else(|e| panic!("{e}"));
    for seed in [valid.to_vec(), key.to_vec()] {
        for _ in 0..5_000 {
            let mut bytes = seed.clone();
            let flips = 1 + noise.next() % 4;
            for _ in 0..flips {
                let at = (noise.next() as usize) % bytes.len();
                bytes[at] = noise.next() as u8;
            }
            decode_everything(&bytes);
            let cut = (noise.next() as usize) % (bytes.len() + 1);
            decode_everything(&bytes[..cut]);
        }
    }
}
