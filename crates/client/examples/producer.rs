//! Sends records and reports where they landed.
//!
//! `cargo run -p moldau-client --example producer -- 127.0.0.1:9092 events 1000`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::time::Instant;

use moldau_client::producer::ProducerBuilder;
use moldau_client::{Compression, ProducerRecord};

#[tokio::main]
async fn main() -> moldau_client::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = args.get(1).map_or("127.0.0.1:9092", String::as_str);
    let topic = args.get(2).map_or("events", String::as_str);
    let count: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1000);

    let producer = ProducerBuilder::new(bootstrap)
        .compression(Compression::Lz4)
        .client_id("example-producer")
        .build()?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(count);
    for i in 0..count {
        let record = ProducerRecord::new(topic, format!("event number {i}"))
            .with_key(format!("user-{}", i % 100))
            .with_header("source", "example");
        // Waits only when buffer.memory is full; the delivery resolves later.
        deliveries.push(producer.send(record).await?);
    }
    let mut last = None;
    for d in deliveries {
        last = Some(d.await?);
    }
    producer.close().await?;
    if let Some(m) = last {
        println!(
            "sent {count} records in {:?}; last one at {}-{} offset {}",
            started.elapsed(),
            m.topic,
            m.partition,
            m.offset
        );
    }
    Ok(())
}
