//! Consumes a topic as a member of a group, printing records and lag, with a
//! rebalance listener that commits before partitions move away.
//!
//! `cargo run -p moldau-client --example group_consumer -- 127.0.0.1:9092 billing events`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;
use moldau_client::consumer::{Consumer, ConsumerBuilder, OffsetReset, RebalanceListener};
use moldau_client::TopicPartition;

struct CommitOnRevoke;

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked<'a>(
        &'a self,
        consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            println!("revoked: {partitions:?}");
            if let Err(e) = consumer.commit().await {
                eprintln!("commit before revocation failed: {e}");
            }
        })
    }

    fn on_partitions_assigned<'a>(
        &'a self,
        _consumer: &'a Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move { println!("assigned: {partitions:?}") })
    }
}

#[tokio::main]
async fn main() -> moldau_client::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = args.get(1).map_or("127.0.0.1:9092", String::as_str);
    let group = args.get(2).map_or("example-group", String::as_str);
    let topic = args.get(3).map_or("events", String::as_str);

    let consumer = ConsumerBuilder::new(bootstrap)
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .rebalance_listener(Arc::new(CommitOnRevoke))
        .build()?;
    consumer.subscribe(&[topic]).await?;
    let mut stream = consumer.stream();
    let mut n = 0u64;
    while let Some(record) = stream.next().await {
        let record = record?;
        n += 1;
        if n % 1000 == 1 {
            println!(
                "{}-{}@{}: {:?} (lag {:?})",
                record.topic,
                record.partition,
                record.offset,
                record.value.as_deref().map(String::from_utf8_lossy),
                consumer.lags()
            );
        }
    }
    Ok(())
}
