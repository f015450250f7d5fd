//! Produce validates every record of a batch, as Kafka's log validator does: hostile
//! batches with a valid CRC get Kafka's error code (with per-record errors where the
//! fault is per record) and never move the log end offset; a normal producer still
//! works afterwards. A topic's `compression.type` re-encodes what is stored.

use bytes::Bytes;
use moldau_e2e::{BrokerProcess, RawConnection};
use moldau_protocol::batch::{refresh_crc, BatchIter, Codec, BATCH_HEADER_BYTES};
use moldau_protocol::batch_encode::encode_timed_batch;
use moldau_protocol::compression::compress;
use moldau_protocol::kafka::messages::produce_request::{PartitionProduceData, TopicProduceData};
use moldau_protocol::kafka::messages::produce_response::PartitionProduceResponse;
use moldau_protocol::kafka::messages::{ProduceRequest, ProduceResponse, TopicName};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TIMEOUT: Duration = Duration::from_secs(10);
const PRODUCE_VERSION: i16 = 8;
const INVALID_RECORD: i16 = 87;
const INVALID_TIMESTAMP: i16 = 32;
const RECORD_LIST_TOO_LARGE: i16 = 18;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn create_topics(addr: &str, topics: &[(&str, &[(&str, &str)])]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, configs)| {
            configs.iter().fold(
                NewTopic::new(name, 1, TopicReplication::Fixed(1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results = runtime
        .block_on(admin.create_topics(&new, &AdminOptions::new().operation_timeout(Some(TIMEOUT))))
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// The partition's log end offset (one node: the high watermark once durable).
fn end_offset(addr: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "watermarks")
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .expect("watermarks")
        .1
}

fn produce(addr: &str, topic: &str, records: Vec<u8>) -> PartitionProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.into()))])]);
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, PRODUCE_VERSION).expect("encode");
    let mut conn = RawConnection::connect(addr);
    let answer = conn.call(0, PRODUCE_VERSION, false, &body);
    let mut answer = Bytes::from(answer);
    let mut response = ProduceResponse::decode(&mut answer, PRODUCE_VERSION).expect("decode");
    response.responses.remove(0).partition_responses.remove(0)
}

/// A valid uncompressed batch of `(key, timestamp)` records, each with value "x".
fn batch(records: &[(Option<&str>, i64)], compression: Codec) -> Vec<u8> {
    let records: Vec<_> = records
        .iter()
        .map(|(k, ts)| {
            (
                k.map(|k| Bytes::from(k.to_string())),
                Some(Bytes::from("x")),
                *ts,
            )
        })
        .collect();
    encode_timed_batch(&records, compression)
        .expect("encode")
        .to_vec()
}

/// `base`'s header with another record payload, count and codec; length, last offset
/// delta and CRC made consistent, so only the records themselves are wrong.
fn forged(base: &[u8], payload: &[u8], count: i32, codec: i16) -> Vec<u8> {
    let mut b = base[..BATCH_HEADER_BYTES].to_vec();
    b.extend_from_slice(payload);
    let length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    refresh_crc(&mut b);
    b
}

#[test]
fn hostile_batches_are_refused_and_never_appended() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topics(
        &addr,
        &[
            ("plain", &[]),
            ("compacted", &[("cleanup.policy", "compact")]),
            (
                "recent",
                &[
                    ("message.timestamp.before.max.ms", "60000"),
                    ("message.timestamp.after.max.ms", "60000"),
                ],
            ),
        ],
    );
    let now = now_ms();
    let ok = produce(&addr, "plain", batch(&[(Some("k"), now)], Codec::None));
    assert_eq!(ok.error_code, 0, "{:?}", ok.error_message);
    let plain_end = end_offset(&addr, "plain");
    assert_eq!(plain_end, 1);

    let refused = |topic: &str, records: Vec<u8>, code: i16, what: &str| {
        let before = end_offset(&addr, topic);
        let r = produce(&addr, topic, records);
        assert_eq!(r.error_code, code, "{what}: {:?}", r.error_message);
        assert!(r.error_message.is_some(), "{what}: a message says why");
        assert_eq!(end_offset(&addr, topic), before, "{what}: nothing appended");
        r
    };

    // Issue 19: a 70-byte batch with a valid CRC claiming 2^31-1 records.
    let one = batch(&[(Some("k"), now)], Codec::None);
    let huge = forged(&one, &one[BATCH_HEADER_BYTES..], i32::MAX, 0);
    assert_eq!(huge.len(), 70);
    refused("plain", huge, INVALID_RECORD, "count 2^31-1");

    // Two records whose offset deltas are 0, 0.
    let two = batch(&[(Some("a"), now), (Some("b"), now)], Codec::None);
    let mut payload = two[BATCH_HEADER_BYTES..].to_vec();
    let second = 1 + payload[0] as usize / 2; // length varint (zigzag) + body
    assert_eq!(payload[second + 3], 2, "second record's offset delta is 1");
    payload[second + 3] = 0;
    refused(
        "plain",
        forged(&two, &payload, 2, 0),
        INVALID_RECORD,
        "deltas",
    );

    // A record length varint that never ends.
    refused(
        "plain",
        forged(&one, &[0x80, 0x80, 0x80], 1, 0),
        INVALID_RECORD,
        "truncated varint",
    );

    // A gzip bomb: 200 gzip members of 1 MiB of zeros each (a reader inflates them
    // all, as Kafka's does), 200 MiB in a few hundred KB, past the decompression bound.
    let member = compress(Codec::Gzip, &vec![0u8; 1 << 20]).expect("gzip");
    let gz = member.repeat(200);
    assert!(gz.len() < 1_000_000);
    refused(
        "plain",
        forged(&one, &gz, 1, 1),
        INVALID_RECORD,
        "gzip bomb",
    );

    // A keyless record on a compacted topic: per-record errors (KIP-467).
    let mixed = batch(
        &[(Some("a"), now), (None, now), (Some("c"), now)],
        Codec::Lz4,
    );
    let r = refused("compacted", mixed, INVALID_RECORD, "missing key");
    let indexes: Vec<i32> = r.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, vec![1]);

    // Timestamps outside the topic's window, and two hours ahead on a default topic
    // (Kafka 4's message.timestamp.after.max.ms is one hour).
    let old = batch(
        &[(Some("a"), now), (Some("b"), now - 86_400_000)],
        Codec::None,
    );
    let r = refused("recent", old, INVALID_TIMESTAMP, "a day old");
    assert_eq!(r.record_errors.len(), 1);
    assert_eq!(r.record_errors[0].batch_index, 1);
    let future = batch(&[(Some("a"), now + 7_200_000)], Codec::None);
    refused("plain", future, INVALID_TIMESTAMP, "two hours ahead");

    // The same topics still take good data, from a normal librdkafka producer too.
    let ok = produce(&addr, "compacted", batch(&[(Some("k"), now)], Codec::Zstd));
    assert_eq!(ok.error_code, 0, "{:?}", ok.error_message);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("compression.type", "gzip")
        .create()
        .expect("producer");
    for i in 0..10 {
        let key = format!("key-{i}");
        producer
            .send(BaseRecord::to("plain").key(&key).payload("value"))
            .expect("queued");
    }
    producer.flush(TIMEOUT).expect("delivered");
    assert_eq!(end_offset(&addr, "plain"), plain_end + 10);
}

/// The codecs of the batches stored in a partition's first segment.
fn stored_codecs(broker: &BrokerProcess, topic: &str) -> Vec<Codec> {
    let path = broker
        .data_dir
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log");
    let bytes = std::fs::read(&path).expect("segment file");
    // An active segment may hold reserved zeroes past its last batch: stop there.
    BatchIter::new(&bytes)
        .map_while(Result::ok)
        .map(|(_, view)| view.codec())
        .collect()
}

/// Reads partition 0 of `topic` from the start until `expected` records arrive.
fn consume(addr: &str, topic: &str, expected: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < expected {
        assert!(
            std::time::Instant::now() < deadline,
            "got {} records",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            let m = m.expect("message");
            out.push((
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    out
}

#[test]
fn compression_type_recompresses_what_is_stored() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topics(
        &addr,
        &[
            ("to-lz4", &[("compression.type", "lz4")]),
            ("to-plain", &[("compression.type", "uncompressed")]),
            ("as-sent", &[]),
        ],
    );
    let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("key-{i}").into_bytes(),
                format!("value {i} value value value").into_bytes(),
            )
        })
        .collect();
    for (topic, producer_codec) in [
        ("to-lz4", "none"),
        ("to-plain", "gzip"),
        ("as-sent", "gzip"),
    ] {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &addr)
            .set("compression.type", producer_codec)
            .set("linger.ms", "20")
            .create()
            .expect("producer");
        for (k, v) in &sent {
            producer
                .send(BaseRecord::to(topic).key(k).payload(v))
                .expect("queued");
        }
        producer.flush(TIMEOUT).expect("delivered");
    }
    // `allowed`: what else may be stored besides `codec`. librdkafka sends a batch
    // uncompressed when compressing would make it larger (a lone small record), so a
    // `producer` topic may hold a few uncompressed batches beside the gzip ones.
    let expect_codec_among = |topic: &str, codec: Codec, allowed: &[Codec]| {
        let codecs = stored_codecs(&broker, topic);
        assert!(
            codecs.contains(&codec),
            "{topic}: stored {codecs:?}, expected {codec:?}"
        );
        assert!(
            codecs.iter().all(|c| *c == codec || allowed.contains(c)),
            "{topic}: stored {codecs:?}, expected {codec:?}"
        );
        assert_eq!(
            consume(&addr, topic, sent.len()),
            sent,
            "{topic}: same records"
        );
    };
    expect_codec_among("to-lz4", Codec::Lz4, &[]);
    expect_codec_among("to-plain", Codec::None, &[]);
    expect_codec_among("as-sent", Codec::Gzip, &[Codec::None]);
}

/// A batch larger than the topic's `segment.bytes` can never be stored: Kafka answers
/// RECORD_LIST_TOO_LARGE (final), not a retriable storage error, and appends nothing.
#[test]
fn a_batch_larger_than_a_segment_is_refused_as_too_large() {
    let broker = BrokerProcess::start(&[]);
    let addr = broker.addr.clone();
    create_topics(&addr, &[("small-segments", &[("segment.bytes", "1024")])]);
    let value = Bytes::from(vec![b'v'; 4096]);
    let big = encode_timed_batch(&[(None, Some(value), now_ms())], Codec::None)
        .expect("encode")
        .to_vec();
    let refused = produce(&addr, "small-segments", big);
    assert_eq!(refused.error_code, RECORD_LIST_TOO_LARGE, "{refused:?}");
    assert_eq!(end_offset(&addr, "small-segments"), 0);
    let fits = produce(
        &addr,
        "small-segments",
        batch(&[(None, now_ms())], Codec::None),
    );
    assert_eq!(fits.error_code, 0, "{fits:?}");
    assert_eq!(end_offset(&addr, "small-segments"), 1);
}
