//! A cluster as librdkafka's Metadata shows it, polled until the state a test waits
//! for: brokers registered, partitions with leaders, an ISR of a given shape.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a cluster test waits for the cluster to reach a state it expects (nodes
/// start, elect and register on a loaded 2-core machine).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(200);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// A partition as Metadata reports it; `isr` is sorted, `replicas` in Kafka's order
/// (the first is the preferred leader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

fn metadata_client(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client")
}

/// Waits until at least `count` brokers are registered.
pub fn wait_for_brokers(bootstrap: &str, count: usize) {
    let client = metadata_client(bootstrap);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while client
        .fetch_metadata(None, METADATA_TIMEOUT)
        .map_or(0, |md| md.brokers().len())
        < count
    {
        assert!(
            Instant::now() < deadline,
            "{count} brokers never registered"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// One Metadata look at `topic`: its partitions that have a leader, and how many
/// brokers are listed; `None` when the request failed.
fn look(client: &BaseConsumer, topic: &str) -> Option<(BTreeMap<i32, PartitionState>, usize)> {
    let md = client.fetch_metadata(Some(topic), METADATA_TIMEOUT).ok()?;
    let partitions = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions())
        .filter(|p| p.error().is_none() && p.leader() >= 0)
        .map(|p| {
            let mut isr = p.isr().to_vec();
            isr.sort_unstable();
            let state = PartitionState {
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                isr,
            };
            (p.id(), state)
        })
        .collect();
    Some((partitions, md.brokers().len()))
}

/// `topic`'s partitions that have a leader, right now (empty when none or when the
/// request failed).
pub fn partitions_now(bootstrap: &str, topic: &str) -> BTreeMap<i32, PartitionState> {
    look(&metadata_client(bootstrap), topic)
        .map(|(partitions, _)| partitions)
        .unwrap_or_default()
}

/// `topic`'s partitions that have a leader, once at least `brokers_min` brokers are
/// listed and `settled` holds for them.
pub fn wait_for_partitions(
    bootstrap: &str,
    topic: &str,
    brokers_min: usize,
    settled: impl Fn(&BTreeMap<i32, PartitionState>) -> bool,
) -> BTreeMap<i32, PartitionState> {
    let client = metadata_client(bootstrap);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = None;
    loop {
        if let Some((partitions, brokers)) = look(&client, topic) {
            if brokers >= brokers_min && !partitions.is_empty() && settled(&partitions) {
                return partitions;
            }
            last = Some(partitions);
        }
        assert!(
            Instant::now() < deadline,
            "{topic} never reached the expected state; last seen: {last:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Partition 0 of `topic`, once at least `brokers_min` brokers are listed and
/// `settled` holds for it.
pub fn wait_for_partition_0(
    bootstrap: &str,
    topic: &str,
    brokers_min: usize,
    settled: impl Fn(&PartitionState) -> bool,
) -> PartitionState {
    wait_for_partitions(bootstrap, topic, brokers_min, |ps| {
        ps.get(&0).is_some_and(&settled)
    })[&0]
        .clone()
}
