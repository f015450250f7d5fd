//! The builder checked against two independent readers: kafka-protocol's encoder and
//! decoder (an oracle written by others) and this crate's own view and record iterator.

use super::*;
use crate::batch::{BatchView, DELETE_HORIZON_BIT};
use crate::record::{parse_records, record_data};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as OracleRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

const CODECS: [(Codec, Compression); 5] = [
    (Codec::None, Compression::None),
    (Codec::Gzip, Compression::Gzip),
    (Codec::Snappy, Compression::Snappy),
    (Codec::Lz4, Compression::Lz4),
    (Codec::Zstd, Compression::Zstd),
];

/// (timestamp, key, value, headers) of the sample records; timestamps never go down,
/// because kafka-protocol takes the smallest as the base where Kafka takes the first.
type Sample = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Bytes>)>,
);

fn sample() -> Vec<Sample> {
    let mut out: Vec<Sample> = vec![
        (
            1000,
            Some(b"k0".to_vec()),
            Some(b"v0".to_vec()),
            vec![
                ("h".into(), Some(Bytes::from_static(b"hv"))),
                ("n".into(), None),
            ],
        ),
        (1000, None, Some(b"v1".to_vec()), vec![]),
        (1005, Some(b"k2".to_vec()), None, vec![]),
    ];
    // Enough repetitive data that every codec compresses, and lengths over 127 so
    // varints take more than one byte.
    for i in 0..40 {
        out.push((
            1_000_000 + i,
            Some(format!("key-{i}").into_bytes()),
            Some(format!("value {i} ").repeat(30).into_bytes()),
            vec![(
                format!("header-{i}"),
                Some(Bytes::from(vec![b'x'; i as usize])),
            )],
        ));
    }
    out
}

const STAMP: ProducerStamp = ProducerStamp {
    producer_id: 4711,
    producer_epoch: 3,
    base_sequence: 100,
};

fn build(codec: Codec, records: &[Sample]) -> Bytes {
    let mut b = BatchBuilder::new(codec, 64);
    for (ts, key, value, headers) in records {
        let before = b.size_bytes();
        let predicted = b.record_size(*ts, key.as_deref(), value.as_deref(), headers);
        b.push(*ts, key.as_deref(), value.as_deref(), headers)
            .unwrap();
        assert_eq!(b.size_bytes() - before, predicted);
    }
    b.build(STAMP).unwrap().freeze()
}

fn oracle(compression: Compression, records: &[Sample]) -> BytesMut {
    let records: Vec<OracleRecord> = records
        .iter()
        .enumerate()
        .map(|(i, (ts, key, value, headers))| {
            let mut map = IndexMap::new();
            for (k, v) in headers {
                map.insert(StrBytes::from_string(k.clone()), v.clone());
            }
            OracleRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: STAMP.producer_id,
                producer_epoch: STAMP.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: STAMP.base_sequence + i as i32,
                timestamp: *ts,
                key: key.clone().map(Bytes::from),
                value: value.clone().map(Bytes::from),
                headers: map,
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf
}

#[test]
fn the_header_and_records_match_kafka_protocols_encoder_for_every_codec() {
    let records = sample();
    for (codec, compression) in CODECS {
        let ours = build(codec, &records);
        let theirs = oracle(compression, &records);
        let (a, b) = (
            BatchView::parse(&ours).unwrap(),
            BatchView::parse(&theirs).unwrap(),
        );
        assert_eq!(a.size(), ours.len(), "{codec:?}: one batch");
        a.validate().unwrap();
        // Everything before the CRC, and the header after it, byte for byte; the
        // length and CRC only differ if the compressed bytes do.
        assert_eq!(ours[12..17], theirs[12..17], "{codec:?}");
        assert_eq!(
            ours[21..BATCH_HEADER_BYTES],
            theirs[21..BATCH_HEADER_BYTES],
            "{codec:?}"
        );
        let limit = 1 << 20;
        assert_eq!(
            record_data(&a, limit).unwrap(),
            record_data(&b, limit).unwrap(),
            "{codec:?}: the uncompressed records are identical"
        );
        if codec == Codec::None {
            assert_eq!(&ours[..], &theirs[..], "uncompressed: the whole batch");
        }
    }
}

#[test]
fn kafka_protocols_decoder_and_ours_read_back_every_field() {
    let records = sample();
    for (codec, _) in CODECS {
        let bytes = build(codec, &records);
        let view = BatchView::parse(&bytes).unwrap();
        view.validate().unwrap();
        assert_eq!(view.codec(), codec);
        assert_eq!(view.records_count(), records.len() as i32);
        assert_eq!(view.base_timestamp(), 1000);
        assert_eq!(view.max_timestamp(), 1_000_039);
        assert_eq!(view.last_sequence(), 100 + records.len() as i32 - 1);
        if codec != Codec::None {
            assert!(view.records_payload().len() < record_data(&view, 1 << 20).unwrap().len());
        }
        let data = record_data(&view, 1 << 20).unwrap();
        let ours = parse_records(&data, view.records_count()).unwrap();
        let theirs = RecordBatchDecoder::decode(&mut bytes.clone())
            .unwrap()
            .records;
        assert_eq!((ours.len(), theirs.len()), (records.len(), records.len()));
        for (i, ((ts, key, value, headers), (o, t))) in
            records.iter().zip(ours.iter().zip(&theirs)).enumerate()
        {
            assert_eq!(o.offset_delta as usize, i);
            assert_eq!(view.base_timestamp() + o.timestamp_delta, *ts);
            assert_eq!((t.offset as usize, t.timestamp), (i, *ts));
            assert_eq!(o.key, key.as_deref());
            assert_eq!(o.value, value.as_deref());
            assert_eq!(t.key.as_deref(), key.as_deref());
            assert_eq!(t.value.as_deref(), value.as_deref());
            let read: Vec<_> = o.headers.iter().collect();
            let want: Vec<_> = headers.iter().map(|h| (h.key(), h.value())).collect();
            assert_eq!(read, want, "{codec:?} record {i}");
            let oracle_read: Vec<_> = t
                .headers
                .iter()
                .map(|(k, v)| (k.as_bytes(), v.as_deref()))
                .collect();
            assert_eq!(oracle_read, want);
            assert_eq!(t.producer_id, STAMP.producer_id);
            assert_eq!(t.sequence, STAMP.base_sequence + i as i32);
        }
    }
}

#[test]
fn attribute_flags_are_written_and_the_first_timestamp_is_the_base() {
    let mut b = BatchBuilder::new(Codec::Lz4, 0)
        .transactional(true)
        .control(true)
        .log_append_time(true);
    b.push(50, Some(b"k"), None, &NO_HEADERS).unwrap();
    // An earlier timestamp after the first: Kafka keeps the first as the base and
    // writes a negative delta.
    b.push(40, None, Some(b"v"), &NO_HEADERS).unwrap();
    let bytes = b.build(ProducerStamp::default()).unwrap();
    let view = BatchView::parse(&bytes).unwrap();
    view.validate().unwrap();
    assert!(view.is_transactional() && view.is_control() && view.is_log_append_time());
    assert!(!view.has_delete_horizon());
    assert_eq!(view.attributes() & !DELETE_HORIZON_BIT, 0x3b);
    assert_eq!((view.base_timestamp(), view.max_timestamp()), (50, 50));
    assert_eq!(
        (
            view.producer_id(),
            view.producer_epoch(),
            view.base_sequence()
        ),
        (-1, -1, -1)
    );
    let data = record_data(&view, 1 << 10).unwrap();
    let records = parse_records(&data, 2).unwrap();
    assert_eq!(records[1].timestamp_delta, -10);
    let plain = BatchBuilder::new(Codec::None, 0)
        .transactional(true)
        .transactional(false);
    let mut plain = plain;
    plain.push(1, None, None, &NO_HEADERS).unwrap();
    let bytes = plain.build(ProducerStamp::default()).unwrap();
    assert_eq!(BatchView::parse(&bytes).unwrap().attributes(), 0);
}

#[test]
fn a_record_past_the_size_limit_is_refused_and_the_batch_stays_as_it_was() {
    let limit = BATCH_HEADER_BYTES + 40;
    let mut b = BatchBuilder::new(Codec::None, 0).size_limit(limit);
    b.push(1, None, Some(&[7u8; 20]), &NO_HEADERS).unwrap();
    let size = b.size_bytes();
    let add = b.record_size(2, None, Some(&[7u8; 20]), &NO_HEADERS);
    let refused = b.push(2, None, Some(&[7u8; 20]), &NO_HEADERS);
    assert_eq!(
        refused,
        Err(BuildError::TooLarge {
            size_bytes: size + add,
            limit_bytes: limit
        })
    );
    assert_eq!((b.size_bytes(), b.count()), (size, 1));
    let bytes = b.build(ProducerStamp::default()).unwrap();
    assert_eq!(BatchView::parse(&bytes).unwrap().records_count(), 1);
}

#[test]
fn a_compressed_batch_that_grows_past_the_limit_is_refused_when_sealed() {
    // Incompressible bytes: gzip's framing makes them larger than the raw records.
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut b = BatchBuilder::new(Codec::Gzip, 0);
    b.push(1, None, Some(&noise), &NO_HEADERS).unwrap();
    let limit = b.size_bytes();
    let mut b = BatchBuilder::new(Codec::Gzip, 0).size_limit(limit);
    b.push(1, None, Some(&noise), &NO_HEADERS).unwrap();
    assert!(matches!(
        b.build(ProducerStamp::default()),
        Err(BuildError::TooLarge { limit_bytes, .. }) if limit_bytes == limit
    ));
}

#[test]
fn more_headers_than_readers_accept_are_refused() {
    let headers = vec![(&b"h"[..], None); RECORD_HEADERS_MAX + 1];
    let mut b = BatchBuilder::new(Codec::None, 0);
    assert_eq!(
        b.push(1, None, None, &headers),
        Err(BuildError::TooManyHeaders(RECORD_HEADERS_MAX + 1))
    );
    assert!(b.is_empty());
    b.push(1, None, None, &headers[1..]).unwrap();
    let bytes = b.build(ProducerStamp::default()).unwrap();
    let view = BatchView::parse(&bytes).unwrap();
    let data = record_data(&view, bytes.len()).unwrap();
    let records = parse_records(&data, 1).unwrap();
    assert_eq!(records[0].headers.len(), RECORD_HEADERS_MAX);
}
