//! Hostile and broken input: each case gets a closed connection or Kafka's error,
//! and a normal client is served right after.

use moldau_e2e::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends raw bytes; returns what the broker answered before closing (or timing out).
fn exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Request header v1: api key, version, correlation id, null client id.
fn header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&api_key.to_be_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(&correlation_id.to_be_bytes());
    v.extend_from_slice(&(-1i16).to_be_bytes());
    v
}

fn assert_served(addr: &str) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    let md = p
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("a normal client is still served");
    assert_eq!(md.brokers().len(), 1);
}

#[test]
fn hostile_frames_close_the_connection_and_others_keep_being_served() {
    let broker = BrokerProcess::start(&["--set", "socket.request.max.bytes=1048576"]);
    let addr = broker.addr.clone();

    // Random bytes.
    let noise: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    exchange(&addr, &noise);
    assert_served(&addr);

    // A truncated frame: declares 100 bytes, sends 10, then closes.
    let mut truncated = 100i32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0u8; 10]);
    assert!(exchange(&addr, &truncated).is_empty());
    assert_served(&addr);

    // A frame larger than socket.request.max.bytes: refused before it is read.
    let mut huge = (512i32 << 20).to_be_bytes().to_vec();
    huge.extend_from_slice(&header(18, 0, 1));
    assert!(exchange(&addr, &huge).is_empty());
    // Negative size.
    assert!(exchange(&addr, &(-5i32).to_be_bytes()).is_empty());
    assert_served(&addr);

    // Unknown API key.
    assert!(exchange(&addr, &framed(&header(999, 0, 1))).is_empty());
    assert_served(&addr);

    // A body that does not decode (Metadata v1 with a cut string).
    let mut body = header(3, 1, 1);
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&50i16.to_be_bytes());
    body.extend_from_slice(b"abc");
    assert!(exchange(&addr, &framed(&body)).is_empty());
    assert_served(&addr);

    // Huge array counts inside valid frames, classic and flexible encodings.
    let mut body = header(3, 1, 1);
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(exchange(&addr, &framed(&body)).is_empty());
    let mut body = header(3, 12, 1);
    body.push(0); // header tagged fields
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(exchange(&addr, &framed(&body)).is_empty());
    let mut body = header(0, 9, 1);
    body.push(0);
    body.extend_from_slice(&[0x00, 0xff, 0xff, 0x00, 0x00, 0x07, 0xd0]); // txn id, acks, timeout
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // topics: ~4 billion
    assert!(exchange(&addr, &framed(&body)).is_empty());
    assert_served(&addr);

    // ApiVersions at a version the broker lacks: v0 layout with UNSUPPORTED_VERSION.
    let mut request = header(18, 99, 42);
    request.push(0); // flexible header: no tagged fields
    let answer = exchange(&addr, &framed(&request));
    assert!(answer.len() > 14, "an answer, not a closed connection");
    assert_eq!(&answer[4..8], &42i32.to_be_bytes(), "correlation id");
    assert_eq!(&answer[8..10], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");
    let count = i32::from_be_bytes(answer[10..14].try_into().unwrap());
    assert!(count > 10, "the supported ranges are listed");
    assert_served(&addr);
}

#[test]
fn produce_validation_answers_with_kafka_error_codes() {
    use moldau_protocol::kafka::messages::produce_request::{
        PartitionProduceData, TopicProduceData,
    };
    use moldau_protocol::kafka::messages::{
        ProduceRequest, ProduceResponse, RequestHeader, TopicName,
    };
    use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
    use moldau_protocol::kafka::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    let broker = BrokerProcess::start(&[
        "--set",
        "message.max.bytes=2000",
        "--set",
        "min.insync.replicas=2",
    ]);
    // Create the topic through a normal client's metadata request (auto-create).
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    p.client()
        .fetch_metadata(Some("validate"), Duration::from_secs(10))
        .unwrap();

    let batch = |value_len: usize| {
        let r = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1,
            key: None,
            value: Some(vec![b'x'; value_len].into()),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&r],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    };
    let produce = |topic: &str, acks: i16, records: bytes::Bytes| -> i16 {
        let req = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records))])]);
        let mut body = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(0)
            .with_request_api_version(8)
            .with_correlation_id(7)
            .encode(&mut body, 1)
            .unwrap();
        req.encode(&mut body, 8).unwrap();
        let answer = exchange(&broker.addr, &framed(&body));
        let mut resp = bytes::Bytes::from(answer[8..].to_vec());
        let r = ProduceResponse::decode(&mut resp, 8).unwrap();
        r.responses[0].partition_responses[0].error_code
    };
    assert_eq!(produce("validate", 1, batch(10)), 0);
    assert_eq!(produce("validate", 1, batch(5000)), 10, "MESSAGE_TOO_LARGE");
    let mut corrupt = batch(10).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(produce("validate", 1, corrupt.into()), 2, "CORRUPT_MESSAGE");
    assert_eq!(
        produce("validate", 5, batch(10)),
        21,
        "INVALID_REQUIRED_ACKS"
    );
    assert_eq!(
        produce("no-such-topic", 1, batch(10)),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        produce("__consumer_offsets", 1, batch(10)),
        3,
        "offsets topic not created yet"
    );
    assert_served(&broker.addr);
}
