//! A scripted fake broker that misbehaves: retriable errors, dropped connections,
//! non-retriable errors and garbage. The client must retry, reconnect, report
//! errors by name, and never panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use moldau_client::consumer::ConsumerBuilder;
use moldau_client::producer::ProducerBuilder;
use moldau_client::{Error, OffsetReset, ProducerRecord, TopicPartition};
use moldau_protocol::batch::BatchView;
use moldau_protocol::kafka::messages::api_versions_response::ApiVersion;
use moldau_protocol::kafka::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use moldau_protocol::kafka::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use moldau_protocol::kafka::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use moldau_protocol::kafka::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use moldau_protocol::kafka::messages::*;
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake broker does with Produce and Fetch requests.
#[derive(Clone, Copy)]
enum Script {
    /// First `n` produce requests get this error code, then success.
    ProduceErrors { code: i16, n: usize },
    /// The first produce request's connection is closed without an answer.
    DropFirstProduce,
    /// Fetches return these bytes as the partition's records.
    FetchGarbage,
    /// Fetch responses are cut-off nonsense frames.
    FetchUndecodable,
}

struct Fake {
    addr: String,
    produce_calls: Arc<AtomicUsize>,
}

async fn fake_broker(script: Script) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let produce_calls = Arc::new(AtomicUsize::new(0));
    let next_offset = Arc::new(AtomicUsize::new(0));
    let next_sequence = Arc::new(AtomicUsize::new(0));
    let calls = produce_calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(
                sock,
                addr.port(),
                script,
                calls.clone(),
                next_offset.clone(),
                next_sequence.clone(),
            ));
        }
    });
    Fake {
        addr: addr.to_string(),
        produce_calls,
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

async fn serve(
    mut sock: TcpStream,
    port: u16,
    script: Script,
    calls: Arc<AtomicUsize>,
    next_offset: Arc<AtomicUsize>,
    next_sequence: Arc<AtomicUsize>,
) {
    let mut buf = BytesMut::new();
    loop {
        let frame = loop {
            match moldau_protocol::frame::split_frame(&mut buf, 1 << 24) {
                Ok(Some(f)) => break f,
                Ok(None) => {}
                Err(_) => return,
            }
            match sock.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let mut body = frame.clone();
        let Ok((key, header)) = moldau_protocol::frame::decode_header(&mut body) else {
            return;
        };
        let v = header.request_api_version;
        let mut out = BytesMut::new();
        out.put_u32(0);
        out.put_i32(header.correlation_id);
        if key.response_header_version(v) >= 1 {
            out.put_u8(0);
        }
        match key {
            ApiKey::ApiVersions => {
                let keys = [
                    (0, 3, 11),
                    (1, 4, 12),
                    (2, 1, 8),
                    (3, 1, 12),
                    (18, 0, 3),
                    (22, 0, 4),
                ];
                ApiVersionsResponse::default()
                    .with_api_keys(
                        keys.iter()
                            .map(|&(k, min, max)| {
                                ApiVersion::default()
                                    .with_api_key(k)
                                    .with_min_version(min)
                                    .with_max_version(max)
                            })
                            .collect(),
                    )
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::Metadata => {
                MetadataResponse::default()
                    .with_cluster_id(Some(sb("fake")))
                    .with_controller_id(BrokerId(0))
                    .with_brokers(vec![MetadataResponseBroker::default()
                        .with_node_id(BrokerId(0))
                        .with_host(sb("127.0.0.1"))
                        .with_port(port as i32)])
                    .with_topics(vec![MetadataResponseTopic::default()
                        .with_name(Some(TopicName(sb("t"))))
                        .with_partitions(vec![MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(BrokerId(0))
                            .with_replica_nodes(vec![BrokerId(0)])
                            .with_isr_nodes(vec![BrokerId(0)])])])
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut body, v).unwrap();
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let records = req.topic_data[0].partition_data[0].records.clone().unwrap();
                let view = BatchView::parse(&records).unwrap();
                let count = view.records_count() as usize;
                let mut code = match script {
                    Script::ProduceErrors { code, n: bad } if n < bad => code,
                    Script::DropFirstProduce if n == 0 => return,
                    _ => 0,
                };
                // Sequence checks as a broker does them for idempotent producers.
                if code == 0 && view.producer_id() >= 0 {
                    let expected = next_sequence.load(Ordering::SeqCst) as i32;
                    let seq = view.base_sequence();
                    if seq == expected {
                        next_sequence.fetch_add(count, Ordering::SeqCst);
                    } else if seq < expected {
                        code = 46; // DUPLICATE_SEQUENCE_NUMBER
                    } else {
                        code = 45; // OUT_OF_ORDER_SEQUENCE_NUMBER
                    }
                }
                let base = if code == 0 {
                    next_offset.fetch_add(count, Ordering::SeqCst) as i64
                } else {
                    -1
                };
                ProduceResponse::default()
                    .with_responses(vec![TopicProduceResponse::default()
                        .with_name(TopicName(sb("t")))
                        .with_partition_responses(vec![PartitionProduceResponse::default()
                            .with_index(0)
                            .with_error_code(code)
                            .with_base_offset(base)
                            .with_log_append_time_ms(-1)])])
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::InitProducerId => {
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(1000))
                    .with_producer_epoch(0)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::ListOffsets => {
                ListOffsetsResponse::default()
                    .with_topics(vec![ListOffsetsTopicResponse::default()
                        .with_name(TopicName(sb("t")))
                        .with_partitions(vec![ListOffsetsPartitionResponse::default()
                            .with_partition_index(0)
                            .with_offset(0)])])
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::Fetch => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if matches!(script, Script::FetchUndecodable) {
                    out.put_slice(&[0xff; 7]);
                } else {
                    // A batch header claiming a huge record count, then junk.
                    let mut junk = vec![0u8; 80];
                    junk[11] = 68; // batch length
                    junk[16] = 2; // magic
                    junk[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
                    FetchResponse::default()
                        .with_responses(vec![FetchableTopicResponse::default()
                            .with_topic(TopicName(sb("t")))
                            .with_partitions(vec![PartitionData::default()
                                .with_partition_index(0)
                                .with_high_watermark(10)
                                .with_records(Some(Bytes::from(junk)))])])
                        .encode(&mut out, v)
                        .unwrap();
                }
            }
            _ => return,
        }
        let n = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&n.to_be_bytes());
        if sock.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn producer(addr: &str) -> moldau_client::Producer {
    producer_with(addr, true)
}

fn producer_with(addr: &str, idempotent: bool) -> moldau_client::Producer {
    ProducerBuilder::new(addr)
        .linger(Duration::ZERO)
        .enable_idempotence(idempotent)
        .set("retry.backoff.ms", "10")
        .unwrap()
        .delivery_timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test]
async fn retriable_produce_errors_are_retried_in_order() {
    for idempotent in [true, false] {
        retried_in_order(idempotent).await;
    }
}

async fn retried_in_order(idempotent: bool) {
    let fake = fake_broker(Script::ProduceErrors { code: 6, n: 3 }).await;
    let p = producer_with(&fake.addr, idempotent);
    // Records big enough that each fills its own batch, so several batches of
    // the partition are in flight at once (idempotent case).
    let payload = "x".repeat(20_000);
    let mut fs = Vec::new();
    for i in 0..40 {
        let rec = ProducerRecord::new("t", format!("{i}:{payload}"));
        fs.push(p.send(rec).await.unwrap());
    }
    let mut offsets = Vec::new();
    for f in fs {
        offsets.push(f.await.unwrap().offset);
    }
    // Every record written exactly once, in send order.
    assert_eq!(
        offsets,
        (0..40).collect::<Vec<i64>>(),
        "idempotent={idempotent}"
    );
    assert!(fake.produce_calls.load(Ordering::SeqCst) > 3);
    p.close().await.unwrap();
}

#[tokio::test]
async fn dropped_connection_is_reconnected_and_the_batch_resent() {
    let fake = fake_broker(Script::DropFirstProduce).await;
    let p = producer(&fake.addr);
    let m = p
        .send(ProducerRecord::new("t", "after reconnect"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(m.offset, 0);
    assert_eq!(fake.produce_calls.load(Ordering::SeqCst), 2);
    p.close().await.unwrap();
}

#[tokio::test]
async fn non_retriable_errors_reach_the_caller_by_name() {
    let fake = fake_broker(Script::ProduceErrors { code: 87, n: 1 }).await;
    let p = producer(&fake.addr);
    let err = p
        .send(ProducerRecord::new("t", "bad"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    let b = err.broker().expect("a broker error");
    assert_eq!(b.name, "INVALID_RECORD");
    assert!(!err.is_retriable());
    assert_eq!(fake.produce_calls.load(Ordering::SeqCst), 1);
    p.close().await.unwrap();
}

async fn poll_errors(script: Script) -> Error {
    let fake = fake_broker(script).await;
    let c = ConsumerBuilder::new(&fake.addr)
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    c.assign(&[TopicPartition::new("t", 0)]).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match c.poll(Duration::from_millis(200)).await {
            Err(e) => return e,
            Ok(r) => assert!(r.is_empty(), "garbage turned into records"),
        }
        assert!(std::time::Instant::now() < deadline, "no error surfaced");
    }
}

#[tokio::test]
async fn garbage_records_are_an_error_not_a_panic() {
    let e = poll_errors(Script::FetchGarbage).await;
    assert!(matches!(e, Error::Protocol(_)), "{e}");
}

#[tokio::test]
async fn undecodable_fetch_responses_are_an_error_not_a_panic() {
    let e = poll_errors(Script::FetchUndecodable).await;
    assert!(matches!(e, Error::Protocol(_)), "{e}");
}
