//! Produce/consume round trips against a real broker.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::time::Duration;

use moldau_client::consumer::ConsumerBuilder;
use moldau_client::producer::ProducerBuilder;
use moldau_client::{Compression, OffsetReset, ProducerRecord, SeekTo, TopicPartition};

#[tokio::test]
async fn round_trip_with_every_compression() {
    let Some(broker) = common::start_broker(&["num.partitions=1"]) else {
        return;
    };
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = common::unique(&format!("rt-{codec:?}").to_lowercase());
        let producer = ProducerBuilder::new(&broker.addr)
            .compression(codec)
            .linger(Duration::from_millis(5))
            .build()
            .unwrap();
        let mut futures = Vec::new();
        for i in 0..500 {
            let rec = ProducerRecord::new(&topic, format!("value-{i}"))
                .with_key(format!("key-{}", i % 7))
                .with_header("idx", i.to_string())
                .with_timestamp(1_700_000_000_000 + i);
            futures.push(producer.send(rec).await.unwrap());
        }
        producer.flush().await.unwrap();
        let mut offsets = Vec::new();
        for f in futures {
            let m = f.await.unwrap();
            assert_eq!(m.partition, 0);
            offsets.push(m.offset);
        }
        assert_eq!(offsets, (0..500).collect::<Vec<i64>>(), "{codec:?}");
        producer.close().await.unwrap();

        let consumer = ConsumerBuilder::new(&broker.addr)
            .auto_offset_reset(OffsetReset::Earliest)
            .build()
            .unwrap();
        let tp = TopicPartition::new(&topic, 0);
        consumer.assign(std::slice::from_ref(&tp)).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 500 {
            let batch = consumer.poll(Duration::from_secs(10)).await.unwrap();
            assert!(!batch.is_empty(), "{codec:?}: stalled at {}", got.len());
            got.extend(batch);
        }
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
            assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 7).as_bytes()));
            assert_eq!(r.headers[0].key, "idx");
            assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
        }
        // Seek back and read again from the middle.
        consumer.seek(&tp, SeekTo::Offset(250)).await.unwrap();
        let again = consumer.poll(Duration::from_secs(10)).await.unwrap();
        assert_eq!(again[0].offset, 250);
        assert_eq!(consumer.lag(&tp).map(|l| l >= 0), Some(true));
        // Seek by timestamp: the first record at or after it.
        consumer
            .seek(&tp, SeekTo::Timestamp(1_700_000_000_000 + 123))
            .await
            .unwrap();
        let at = consumer.poll(Duration::from_secs(10)).await.unwrap();
        assert_eq!(at[0].offset, 123);
        consumer.seek(&tp, SeekTo::End).await.unwrap();
        assert_eq!(consumer.position(&tp), Some(500));
        consumer.seek(&tp, SeekTo::Beginning).await.unwrap();
        assert_eq!(consumer.position(&tp), Some(0));
        consumer.close().await.unwrap();
    }
}
