//! The hand-written encoder against kafka-protocol's own encoding of the same
//! response, byte for byte, for every version it writes.

use super::*;
use crate::request::encode_frame_bytes;
use moldau_protocol::kafka::messages::fetch_response::{
    AbortedTransaction as KafkaAborted, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch,
    NodeEndpoint, PartitionData,
};
use moldau_protocol::kafka::messages::{ApiKey, BrokerId, FetchResponse, TopicName};
use moldau_protocol::kafka::protocol::StrBytes;
use std::io::Write;
use std::sync::Arc;

fn partition(index: i32, error: i16, records: Option<&[u8]>, aborted: bool) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(error)
        .with_high_watermark(1000 + index as i64)
        .with_last_stable_offset(900 + index as i64)
        .with_log_start_offset(7 * index as i64)
        .with_aborted_transactions(aborted.then(|| {
            vec![
                KafkaAborted::default()
                    .with_producer_id(5.into())
                    .with_first_offset(42),
                KafkaAborted::default()
                    .with_producer_id(6.into())
                    .with_first_offset(43),
            ]
        }))
        .with_records(records.map(Bytes::copy_from_slice))
}

fn topic(name: &str, id: u128, partitions: Vec<PartitionData>) -> FetchableTopicResponse {
    FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_string(name.to_string())))
        .with_topic_id(Uuid::from_u128(id))
        .with_partitions(partitions)
}

/// Responses covering errors, empty, null and big records, aborted transactions
/// (none, empty, some), several topics and partitions, long names.
fn sample_responses(version: i16) -> Vec<FetchResponse> {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let session = if version >= 7 { 77 } else { 0 };
    let long_name = "t".repeat(200);
    vec![
        FetchResponse::default(),
        FetchResponse::default()
            .with_error_code(if version >= 7 { 70 } else { 0 })
            .with_throttle_time_ms(12),
        FetchResponse::default()
            .with_session_id(session)
            .with_responses(vec![topic(
                "orders",
                1,
                vec![
                    partition(0, 0, Some(b"batch-bytes"), false),
                    partition(1, 1, None, false),
                    partition(2, 0, Some(b""), true),
                ],
            )]),
        FetchResponse::default()
            .with_throttle_time_ms(3)
            .with_session_id(session)
            .with_responses(vec![
                topic("a", 2, vec![partition(0, 0, Some(&big), false)]),
                topic(&long_name, 3, vec![]),
                topic(
                    "c",
                    u128::MAX,
                    (0..130)
                        .map(|i| partition(i, 0, Some(&big[..i as usize * 3]), i % 2 == 0))
                        .collect(),
                ),
            ]),
    ]
    .into_iter()
    .map(|mut r| {
        for t in &mut r.responses {
            for p in &mut t.partitions {
                if version >= 11 {
                    p.preferred_read_replica = BrokerId(p.partition_index % 3 - 1);
                }
                // A partition not led here names its leader (KIP-951, v12+).
                if version >= 12 && p.partition_index % 4 == 1 {
                    p.current_leader = LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(p.partition_index + 2))
                        .with_leader_epoch(p.partition_index * 7);
                }
                // A replica whose log diverged is told where (v12+), alone or
                // beside a current leader.
                if version >= 12 && p.partition_index % 5 == 1 {
                    p.diverging_epoch = EpochEndOffset::default()
                        .with_epoch(p.partition_index + 4)
                        .with_end_offset(1 << 40 | p.partition_index as i64);
                }
            }
        }
        if version >= 16 && !r.responses.is_empty() {
            r.node_endpoints = vec![
                NodeEndpoint::default()
                    .with_node_id(BrokerId(3))
                    .with_host(StrBytes::from_static_str("broker-3.example"))
                    .with_port(9092)
                    .with_rack(Some(StrBytes::from_static_str("rack-a"))),
                NodeEndpoint::default()
                    .with_node_id(BrokerId(131))
                    .with_host(StrBytes::from_static_str("10.0.0.131"))
                    .with_port(19092),
            ];
        }
        r
    })
    .collect()
}

/// Encodes `response` with the hand-written encoder; non-empty records alternate
/// between memory and a file region.
fn encode_ours(response: &FetchResponse, version: i16, correlation_id: i32) -> Frame {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(b"leading junk").unwrap();
    let mut file_len = 12u64;
    let mut regions = Vec::new();
    for (i, p) in response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .enumerate()
    {
        let records = match &p.records {
            None => FetchRecords::Null,
            Some(r) if i % 2 == 1 && !r.is_empty() => {
                file.write_all(r).unwrap();
                file_len += r.len() as u64;
                FetchRecords::File(FileRegion {
                    file: Arc::new(file.try_clone().unwrap()),
                    position: file_len - r.len() as u64,
                    len: r.len() as u64,
                })
            }
            Some(r) => FetchRecords::Bytes(r.clone()),
        };
        regions.push(records);
    }
    let mut regions = regions.into_iter();
    let mut enc = FetchResponseEncoder::new(
        version,
        correlation_id,
        response.throttle_time_ms,
        response.error_code,
        response.session_id,
        response.responses.len(),
    )
    .unwrap();
    for t in &response.responses {
        enc.topic(t.topic.0.as_str(), t.topic_id, t.partitions.len())
            .unwrap();
        for p in &t.partitions {
            let header = FetchPartitionHeader {
                partition_index: p.partition_index,
                error_code: p.error_code,
                high_watermark: p.high_watermark,
                last_stable_offset: p.last_stable_offset,
                log_start_offset: p.log_start_offset,
                aborted_transactions: p.aborted_transactions.as_ref().map(|v| {
                    v.iter()
                        .map(|a| AbortedTransaction {
                            producer_id: a.producer_id.0,
                            first_offset: a.first_offset,
                        })
                        .collect()
                }),
                preferred_read_replica: p.preferred_read_replica.0,
                current_leader: (p.current_leader != LeaderIdAndEpoch::default()).then_some(
                    CurrentLeader {
                        leader_id: p.current_leader.leader_id.0,
                        leader_epoch: p.current_leader.leader_epoch,
                    },
                ),
                diverging_epoch: (p.diverging_epoch != EpochEndOffset::default())
                    .then_some((p.diverging_epoch.epoch, p.diverging_epoch.end_offset)),
            };
            enc.partition(&header, &regions.next().unwrap()).unwrap();
        }
    }
    let endpoints: Vec<LeaderEndpoint> = response
        .node_endpoints
        .iter()
        .map(|e| LeaderEndpoint {
            node_id: e.node_id.0,
            host: e.host.to_string(),
            port: e.port,
            rack: e.rack.as_ref().map(|r| r.to_string()),
        })
        .collect();
    enc.finish(&endpoints).unwrap()
}

#[test]
fn every_version_matches_kafka_protocol_byte_for_byte() {
    for version in FETCH_RESPONSE_VERSION_MIN..=FETCH_RESPONSE_VERSION_MAX {
        let header_version = ApiKey::Fetch.response_header_version(version);
        for (i, response) in sample_responses(version).iter().enumerate() {
            let correlation_id = 1000 + i as i32;
            let reference =
                encode_frame_bytes(correlation_id, header_version, response, version).unwrap();
            let ours = encode_ours(response, version, correlation_id);
            assert_eq!(ours.len(), reference.len() as u64, "v{version} #{i} length");
            let bytes = ours.materialize().unwrap();
            assert!(
                bytes == reference[..],
                "v{version} response #{i} differs from kafka-protocol's encoding"
            );
        }
    }
}

#[test]
fn file_records_stay_out_of_the_byte_chunks() {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&[9u8; 5000]).unwrap();
    let file = Arc::new(file);
    let mut enc = FetchResponseEncoder::new(16, 1, 0, 0, 0, 1).unwrap();
    enc.topic("", Uuid::from_u128(9), 1).unwrap();
    let header = FetchPartitionHeader {
        partition_index: 0,
        error_code: 0,
        high_watermark: 10,
        last_stable_offset: 10,
        log_start_offset: 0,
        aborted_transactions: Some(Vec::new()),
        preferred_read_replica: -1,
        current_leader: None,
        diverging_epoch: None,
    };
    let region = FileRegion {
        file,
        position: 100,
        len: 4000,
    };
    enc.partition(&header, &FetchRecords::File(region)).unwrap();
    let frame = enc.finish(&[]).unwrap();
    let in_memory: u64 = frame
        .chunks()
        .iter()
        .filter(|c| matches!(c, FrameChunk::Bytes(_)))
        .map(FrameChunk::len)
        .sum();
    assert!(in_memory < 100, "records were copied: {in_memory} bytes");
    let bytes = frame.materialize().unwrap();
    let size = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert_eq!(size as usize, bytes.len() - 4);
}

#[test]
fn unsupported_versions_are_refused() {
    assert!(FetchResponseEncoder::new(3, 1, 0, 0, 0, 0).is_err());
    assert!(FetchResponseEncoder::new(19, 1, 0, 0, 0, 0).is_err());
}

#[test]
fn every_advertised_fetch_version_has_an_encoding() {
    let advertised = moldau_protocol::versions::supported(ApiKey::Fetch).expect("Fetch is served");
    assert!(advertised.min >= FETCH_RESPONSE_VERSION_MIN);
    assert!(
        advertised.max <= FETCH_RESPONSE_VERSION_MAX,
        "Fetch v{} is advertised but has no response encoding",
        advertised.max
    );
}
