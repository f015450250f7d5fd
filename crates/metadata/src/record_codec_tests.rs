use crate::record_codec::{api_key, decode, encode};
use crate::test_records::*;
use crate::{MetadataRecord, TopicId};

#[test]
fn every_record_round_trips() {
    for r in one_of_each() {
        let bytes = r.to_bytes();
        assert_eq!(MetadataRecord::from_bytes(&bytes).unwrap(), r, "{r:?}");
        assert_eq!(bytes[0], 1, "frame version");
        assert_eq!(bytes[1] as u32, r.api_key());
    }
}

#[test]
fn topic_record_bytes_are_krafts() {
    // Frame 1, api key 2, version 0, compact string "t", 16-byte uuid, no tags.
    let r = MetadataRecord::Topic {
        name: "t".into(),
        id: TopicId([9; 16]),
    };
    let mut want = vec![1, api_key::TOPIC as u8, 0, 2, b't'];
    want.extend_from_slice(&[9; 16]);
    want.push(0);
    assert_eq!(encode(&r), want);
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    let mut bytes = encode(&MetadataRecord::NoOp);
    assert_eq!(bytes.pop(), Some(0));
    bytes.extend_from_slice(&[1, 7, 2, 0xaa, 0xbb]);
    assert_eq!(decode(&bytes).unwrap(), MetadataRecord::NoOp);
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    for r in one_of_each() {
        let bytes = r.to_bytes();
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "{r:?} cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "{r:?} with a trailing byte");
    }
}

#[test]
fn bad_frames_are_refused() {
    assert!(decode(&[2, 20, 0, 0]).is_err(), "frame version 2");
    assert!(decode(&[1, 99, 0, 0]).is_err(), "unknown api key");
    assert!(decode(&[1, 20, 1, 0]).is_err(), "newer version");
    // Config on resource type 3 (unknown) and on a broker named "x".
    let config = |ty: u8, name: &[u8]| {
        let mut b = vec![1, api_key::CONFIG as u8, 0, ty, name.len() as u8 + 1];
        b.extend_from_slice(name);
        b.extend_from_slice(&[2, b'k', 0, 0]);
        b
    };
    assert!(decode(&config(4, b"")).is_ok());
    assert!(decode(&config(3, b"")).is_err());
    assert!(decode(&config(4, b"x")).is_err());
}

#[test]
fn pseudo_random_bytes_never_panic() {
    // A small deterministic fuzz over mutations of valid records.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for r in one_of_each() {
        let bytes = r.to_bytes();
        for _ in 0..2000 {
            let mut b = bytes.clone();
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
            if let Ok(again) = decode(&b) {
                assert_eq!(decode(&encode(&again)).unwrap(), again);
            }
        }
    }
}
