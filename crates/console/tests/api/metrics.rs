//! `/metrics`: a scrape checked against what Kafka clients produced and consumed,
//! and the text format's own rules.

use crate::groups::{consume_and_commit, consumer};
use crate::harness::start;
use moldau_client::producer::ProducerBuilder;
use moldau_client::ProducerRecord;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Parses the exposition format into `name{labels}` -> value, checking each line.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut families_typed = BTreeSet::new();
    let mut families_helped = BTreeSet::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_string();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(families_typed.insert(name), "TYPE twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            families_helped.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| families_typed.contains(*f)))
            .unwrap_or(name);
        assert!(
            families_typed.contains(family),
            "sample before its TYPE: {line}"
        );
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "duplicate series {series}"
        );
    }
    assert_eq!(
        families_typed, families_helped,
        "every family has HELP and TYPE"
    );
    out
}

fn value(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no series {series}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_matches_what_was_produced_and_consumed() {
    let c = start(&[]).await;
    c.create_topic("m", 1, json!({})).await;
    let old = moldau_console::console::now_ms() - 120_000;
    let producer = ProducerBuilder::new(&c.kafka).build().expect("producer");
    let send = |n: usize, from: usize| {
        let producer = producer.clone();
        async move {
            let mut acks = Vec::new();
            for i in from..from + n {
                let rec =
                    ProducerRecord::new("m", format!("value-{i}")).with_timestamp(old + i as i64);
                acks.push(producer.send(rec).await.expect("send"));
            }
            for a in acks {
                a.await.expect("ack");
            }
        }
    };
    send(50, 0).await;
    let member = consumer(&c, "mg");
    member.subscribe(&["m"]).await.expect("subscribe");
    consume_and_commit(&member, 50).await;
    member.close().await.expect("close");
    send(7, 50).await;
    producer.close().await.expect("close producer");

    let r = c.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some(moldau_console::prometheus::PROMETHEUS_CONTENT_TYPE)
    );
    let m = parse(&r.text());

    let topic = "{topic=\"m\"}";
    assert_eq!(
        value(&m, &format!("moldau_topic_records_in_total{topic}")),
        57.0
    );
    assert!(value(&m, &format!("moldau_topic_bytes_in_total{topic}")) > 57.0 * 7.0);
    // The consumer fetched the first 50 (it may have prefetched the last 7 too).
    let out = value(&m, &format!("moldau_topic_records_out_total{topic}"));
    assert!((50.0..=57.0).contains(&out), "records out {out}");
    assert!(value(&m, &format!("moldau_topic_bytes_out_total{topic}")) > 0.0);

    // One series per topic by default (metrics.partition.level is off); the topic
    // has one partition, so the sums are that partition's values.
    let p = "{topic=\"m\"}";
    assert_eq!(
        value(&m, &format!("moldau_partition_high_watermark{p}")),
        57.0
    );
    assert_eq!(
        value(&m, &format!("moldau_partition_log_end_offset{p}")),
        57.0
    );
    assert_eq!(
        value(&m, &format!("moldau_partition_log_start_offset{p}")),
        0.0
    );
    assert!(value(&m, &format!("moldau_partition_size_bytes{p}")) > 0.0);

    // Replication, as the only replica leads it: in sync, nothing offline.
    assert_eq!(value(&m, &format!("moldau_partition_replicas{p}")), 1.0);
    assert_eq!(
        value(&m, &format!("moldau_partition_in_sync_replicas{p}")),
        1.0
    );
    assert_eq!(
        value(&m, &format!("moldau_partition_under_replicated{p}")),
        0.0
    );
    assert_eq!(value(&m, "moldau_under_replicated_partitions"), 0.0);
    assert_eq!(value(&m, "moldau_offline_partitions"), 0.0);

    let g = "{group=\"mg\",topic=\"m\"}";
    assert_eq!(
        value(&m, &format!("moldau_consumer_group_committed_offset{g}")),
        50.0
    );
    assert_eq!(value(&m, &format!("moldau_consumer_group_lag{g}")), 7.0);
    // The next record to consume was stamped two minutes ago.
    let age = value(&m, &format!("moldau_consumer_group_lag_seconds{g}"));
    assert!((119.0..600.0).contains(&age), "time lag {age}");
    assert_eq!(value(&m, "moldau_consumer_groups{state=\"Empty\"}"), 1.0);
    assert_eq!(
        value(&m, "moldau_consumer_group_members{group=\"mg\"}"),
        0.0
    );
    assert!(value(&m, "moldau_group_rebalances_total") >= 1.0);

    for api in ["Produce", "Fetch", "JoinGroup", "OffsetCommit", "Metadata"] {
        let count = value(&m, &format!("moldau_requests_total{{api=\"{api}\"}}"));
        assert!(count >= 1.0, "{api}");
        let hist = format!("moldau_request_duration_seconds_count{{api=\"{api}\"}}");
        assert_eq!(value(&m, &hist), count, "{api}");
        let inf = format!("moldau_request_duration_seconds_bucket{{api=\"{api}\",le=\"+Inf\"}}");
        assert_eq!(value(&m, &inf), count, "{api}");
    }
    assert!(value(&m, "moldau_connections_accepted_total") >= 2.0);
    assert!(value(&m, "moldau_connections") >= 0.0);
    assert!(value(&m, "moldau_log_flush_duration_seconds_count") >= 2.0);
    assert!(value(&m, "moldau_log_fsyncs_total") >= 1.0);
    assert_eq!(
        value(
            &m,
            &format!(
                "moldau_broker_info{{cluster_id=\"{}\",node_id=\"1\",version=\"{}\"}}",
                c.broker.cluster_id,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Buckets are cumulative: counts never fall as the bound grows.
    let mut buckets: Vec<(f64, f64)> = m
        .iter()
        .filter_map(|(k, v)| {
            let le =
                k.strip_prefix("moldau_request_duration_seconds_bucket{api=\"Produce\",le=\"")?;
            let le = le.trim_end_matches("\"}");
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                *v,
            ))
        })
        .collect();
    assert!(buckets.len() > 10);
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
}

/// A consumer that starts in the middle of a batch is sent the whole batch, but only
/// the records from its fetch offset on were delivered: "records out" counts those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_out_counts_records_from_the_fetch_offset_not_whole_batches() {
    use moldau_client::{ConsumerBuilder, OffsetReset, SeekTo, TopicPartition};
    use moldau_protocol::batch::Codec;
    use moldau_protocol::batch_builder::BatchBuilder;
    use moldau_protocol::batch_header::ProducerStamp;
    use std::time::Duration;

    let c = start(&[]).await;
    c.create_topic("half", 1, json!({})).await;
    let now = moldau_console::console::now_ms();
    let mut builder = BatchBuilder::new(Codec::None, 0);
    let no_headers: [(String, Option<bytes::Bytes>); 0] = [];
    for i in 0..10 {
        builder
            .push(now, None, Some(format!("v{i}").as_bytes()), &no_headers)
            .expect("push");
    }
    let mut batch = builder.build(ProducerStamp::default()).expect("batch");
    let hosted = c.broker.replicas.get_by_name("half", 0).expect("hosted");
    let (_, durable) = hosted.append(&mut batch, now, true).expect("append");
    if let Some(rx) = durable {
        rx.await.expect("durable").expect("durable ok");
    }

    // Starts at the end (nothing delivered), then seeks into the batch.
    let consumer = ConsumerBuilder::new(&c.kafka)
        .auto_offset_reset(OffsetReset::Latest)
        .build()
        .expect("consumer");
    let tp = TopicPartition {
        topic: "half".into(),
        partition: 0,
    };
    consumer
        .assign(std::slice::from_ref(&tp))
        .await
        .expect("assign");
    consumer.seek(&tp, SeekTo::Offset(6)).await.expect("seek");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 4 && tokio::time::Instant::now() < deadline {
        got.extend(
            consumer
                .poll(Duration::from_millis(500))
                .await
                .expect("poll")
                .into_iter()
                .map(|r| r.offset),
        );
    }
    assert_eq!(got, vec![6, 7, 8, 9]);
    consumer.close().await.expect("close");

    let m = parse(&c.get("/metrics").await.text());
    assert_eq!(
        value(&m, "moldau_topic_records_out_total{topic=\"half\"}"),
        4.0
    );
}
