//! Fetch from the closest replica (KIP-392, issue 12) on three real `moldau serve`
//! processes, each in its own rack, with `replica.selector.class` set to Kafka's
//! RackAwareReplicaSelector: a librdkafka consumer with `client.rack` naming a
//! follower's rack is sent there by the leader (`preferred_read_replica`) and reads
//! every record from that follower (its per-topic fetch counter shows it), up to
//! the high watermark the follower learnt from its leader.

mod rdkafka_support;

use moldau_e2e::{sample, scrape_metrics, ClusterProcesses};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};
use rdkafka_support::cluster_view::{wait_for_brokers, wait_for_partition_0, SETTLE_TIMEOUT};
use rdkafka_support::{delivered, enqueue, producer};
use std::time::{Duration, Instant};

const NODES: i32 = 3;
const SELECTOR: &str =
    "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// `moldau_topic_records_out_total` of `topic` on the node whose console is `console`.
fn records_out(console: &str, topic: &str) -> u64 {
    let series = format!("moldau_topic_records_out_total{{topic=\"{topic}\"}}");
    sample(&scrape_metrics(console), &series).map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_from_the_follower_in_its_rack() {
    let mut cluster = ClusterProcesses::start_with(NODES as usize, |id| {
        vec![
            "--rack".into(),
            format!("rack-{id}"),
            "--set".into(),
            SELECTOR.into(),
            "--console".into(),
            "127.0.0.1:0".into(),
        ]
    });
    let bootstrap = cluster.bootstrap();
    wait_for_brokers(&bootstrap, NODES as usize);
    let topic = "racked";
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    let new_topic = NewTopic::new(topic, 1, TopicReplication::Fixed(NODES));
    for r in admin
        .create_topics(&[new_topic], &AdminOptions::new())
        .await
        .expect("create topics")
    {
        r.expect("topic created");
    }
    let partition = wait_for_partition_0(&bootstrap, topic, 0, |p| p.isr.len() == NODES as usize);
    let (leader, replicas) = (partition.leader, partition.replicas);
    let follower = *replicas.iter().find(|r| **r != leader).expect("a follower");

    let records = 200;
    let acks_all = producer(&bootstrap, &[("acks", "all"), ("linger.ms", "2")]);
    let mut pending = Vec::new();
    for i in 0..records {
        let value = format!("v{i}");
        let record = FutureRecord::<(), _>::to(topic)
            .partition(0)
            .payload(&value);
        pending.push(enqueue(&acks_all, record).await);
    }
    for f in pending {
        delivered(f).await.expect("acks=all delivery");
    }

    // A consumer in the follower's rack.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "rack-reader")
        .set("enable.auto.commit", "false")
        .set("client.rack", format!("rack-{follower}"))
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut seen = Vec::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while seen.len() < records {
        assert!(
            Instant::now() < deadline,
            "read {} of {records}",
            seen.len()
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => seen.push((m.offset(), m.payload().unwrap_or_default().to_vec())),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    let expected: Vec<(i64, Vec<u8>)> = (0..records)
        .map(|i| (i as i64, format!("v{i}").into_bytes()))
        .collect();
    assert_eq!(seen, expected, "every record, in order, once");

    let mut console = |id: i32| cluster.node(id).console_addr.clone().expect("console");
    let from_follower = records_out(&console(follower), topic);
    let from_leader = records_out(&console(leader), topic);
    assert!(
        from_follower >= records as u64,
        "the follower in the consumer's rack served it: {from_follower} records from it, {from_leader} from the leader"
    );
    assert_eq!(from_leader, 0, "the leader only named the follower");
}
