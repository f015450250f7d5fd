//! Consumer groups against a real broker: assignment without overlap, rebalances on
//! join and leave, commits that survive a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moldau_client::consumer::{AssignmentStrategy, Consumer, ConsumerBuilder};
use moldau_client::producer::ProducerBuilder;
use moldau_client::{OffsetReset, ProducerRecord, TopicPartition};

const PARTITIONS: i32 = 6;

async fn produce(addr: &str, topic: &str, n: usize) {
    let producer = ProducerBuilder::new(addr).build().unwrap();
    let mut fs = Vec::new();
    for i in 0..n {
        let rec = ProducerRecord::new(topic, format!("v{i}")).with_key(format!("k{i}"));
        fs.push(producer.send(rec).await.unwrap());
    }
    for f in fs {
        f.await.unwrap();
    }
    producer.close().await.unwrap();
}

fn consumer(addr: &str, group: &str, strategy: AssignmentStrategy) -> Consumer {
    ConsumerBuilder::new(addr)
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .assignment_strategies(vec![strategy])
        .heartbeat_interval(Duration::from_millis(300))
        .session_timeout(Duration::from_secs(6))
        .build()
        .unwrap()
}

/// A consumer polling in its own task (as each group member would in its own
/// process), recording every record it gets.
struct Member {
    consumer: Consumer,
    seen: Arc<Mutex<Vec<(i32, i64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Member {
    fn start(consumer: Consumer) -> Member {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (consumer.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                match c.poll(Duration::from_millis(100)).await {
                    Ok(records) => s
                        .lock()
                        .unwrap()
                        .extend(records.iter().map(|r| (r.partition, r.offset))),
                    Err(moldau_client::Error::Closed) => return,
                    Err(e) => panic!("poll failed: {e}"),
                }
            }
        });
        Member {
            consumer,
            seen,
            task,
        }
    }

    async fn stop(self) {
        self.consumer.close().await.unwrap();
        let _ = self.task.await;
    }
}

/// Waits until every member has a non-empty assignment, all in one generation,
/// covering every partition exactly once.
async fn settle(members: &[&Member], topic: &str) -> Vec<BTreeSet<TopicPartition>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sets: Vec<BTreeSet<TopicPartition>> = members
            .iter()
            .map(|m| m.consumer.assignment().into_iter().collect())
            .collect();
        let total: usize = sets.iter().map(|s| s.len()).sum();
        let union: BTreeSet<&TopicPartition> = sets.iter().flatten().collect();
        let gens: BTreeSet<Option<i32>> = members
            .iter()
            .map(|m| m.consumer.group_generation().map(|g| g.1))
            .collect();
        if total == PARTITIONS as usize
            && union.len() == PARTITIONS as usize
            && sets.iter().all(|s| !s.is_empty())
            && gens.len() == 1
        {
            assert!(union.iter().all(|tp| tp.topic == topic));
            return sets;
        }
        assert!(
            Instant::now() < deadline,
            "group did not settle: {sets:?} {gens:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rebalance_round(strategy: AssignmentStrategy) {
    common::init_logs();
    let t0 = Instant::now();
    macro_rules! mark {
        ($m:expr) => {
            eprintln!("{:?} {:?} {}", strategy, t0.elapsed(), $m)
        };
    }
    let Some(broker) = common::start_broker(&[
        &format!("num.partitions={PARTITIONS}"),
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=1",
    ]) else {
        return;
    };
    let topic = common::unique("grp");
    let group = common::unique("g");
    produce(&broker.addr, &topic, 300).await;
    mark!("produced");

    let a = consumer(&broker.addr, &group, strategy);
    a.subscribe(&[&topic]).await.unwrap();
    let a = Member::start(a);
    let sets = settle(&[&a], &topic).await;
    assert_eq!(sets[0].len(), PARTITIONS as usize);
    mark!("a settled");

    let b = consumer(&broker.addr, &group, strategy);
    b.subscribe(&[&topic]).await.unwrap();
    let b = Member::start(b);
    let sets = settle(&[&a, &b], &topic).await;
    assert_eq!(sets[0].len(), 3, "{strategy:?}: {sets:?}");
    assert_eq!(sets[1].len(), 3);
    mark!("a+b settled");

    // Everything produced is read by the two members together.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all: Vec<(i32, i64)> = a.seen.lock().unwrap().clone();
        all.extend(b.seen.lock().unwrap().iter().copied());
        let distinct: BTreeSet<(i32, i64)> = all.iter().copied().collect();
        if distinct.len() == 300 {
            break;
        }
        assert!(Instant::now() < deadline, "read {} of 300", distinct.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mark!("all read");
    a.consumer.commit().await.unwrap();
    b.consumer.commit().await.unwrap();

    // b leaves: a gets everything back.
    b.stop().await;
    mark!("b stopped");
    let sets = settle(&[&a], &topic).await;
    assert_eq!(sets[0].len(), PARTITIONS as usize);
    mark!("a alone");
    a.stop().await;
    mark!("a stopped");

    // A new member of the same group resumes at the committed offsets: nothing new.
    let c = consumer(&broker.addr, &group, strategy);
    c.subscribe(&[&topic]).await.unwrap();
    let c = Member::start(c);
    settle(&[&c], &topic).await;
    mark!("c settled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(c.seen.lock().unwrap().is_empty(), "re-read records");
    let lags = c.consumer.lags();
    assert!(lags.values().all(|&l| l == 0), "{lags:?}");
    c.stop().await;
}

#[tokio::test]
async fn range_group_rebalances_on_join_and_leave() {
    rebalance_round(AssignmentStrategy::Range).await;
}

#[tokio::test]
async fn roundrobin_group_rebalances_on_join_and_leave() {
    rebalance_round(AssignmentStrategy::RoundRobin).await;
}

#[tokio::test]
async fn cooperative_sticky_group_rebalances_on_join_and_leave() {
    rebalance_round(AssignmentStrategy::CooperativeSticky).await;
}

fn start() -> Option<common::Broker> {
    common::start_group_broker(PARTITIONS)
}

#[tokio::test]
async fn killed_member_is_replaced_after_session_timeout() {
    let Some(broker) = start() else { return };
    let topic = common::unique("kill");
    let group = common::unique("kg");
    produce(&broker.addr, &topic, 10).await;
    let a = consumer(&broker.addr, &group, AssignmentStrategy::Range);
    a.subscribe(&[&topic]).await.unwrap();
    let a = Member::start(a);
    let b = consumer(&broker.addr, &group, AssignmentStrategy::Range);
    b.subscribe(&[&topic]).await.unwrap();
    let b = Member::start(b);
    settle(&[&a, &b], &topic).await;
    // "Kill" b: its tasks stop, no LeaveGroup, no more heartbeats.
    b.task.abort();
    drop(b.consumer);
    let started = Instant::now();
    let sets = settle(&[&a], &topic).await;
    assert_eq!(sets[0].len(), PARTITIONS as usize);
    // The coordinator waited for the session to expire (6 s), not for a leave.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    a.stop().await;
}

#[tokio::test]
async fn static_member_rejoins_with_its_partitions_and_no_rebalance() {
    let Some(broker) = start() else { return };
    let topic = common::unique("static");
    let group = common::unique("sg");
    produce(&broker.addr, &topic, 10).await;
    let make = |instance: &str| {
        ConsumerBuilder::new(&broker.addr)
            .group_id(&group)
            .group_instance_id(instance)
            .assignment_strategies(vec![AssignmentStrategy::Range])
            .heartbeat_interval(Duration::from_millis(300))
            .session_timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let a = make("instance-a");
    a.subscribe(&[&topic]).await.unwrap();
    let a = Member::start(a);
    let b = make("instance-b");
    b.subscribe(&[&topic]).await.unwrap();
    let b = Member::start(b);
    let sets = settle(&[&a, &b], &topic).await;
    let generation = a.consumer.group_generation().unwrap().1;
    // b goes away (a static member sends no LeaveGroup) and comes back in time.
    b.stop().await;
    let b2 = make("instance-b");
    b2.subscribe(&[&topic]).await.unwrap();
    let b2 = Member::start(b2);
    let again = settle(&[&a, &b2], &topic).await;
    assert_eq!(again, sets, "static member got different partitions");
    assert_eq!(
        a.consumer.group_generation().unwrap().1,
        generation,
        "a rebalance happened"
    );
    a.stop().await;
    b2.stop().await;
}

#[tokio::test]
async fn added_partitions_trigger_a_rebalance() {
    let Some(broker) = start() else { return };
    let topic = common::unique("grow");
    let group = common::unique("gg");
    produce(&broker.addr, &topic, 10).await;
    let a = ConsumerBuilder::new(&broker.addr)
        .group_id(&group)
        .set("metadata.max.age.ms", "300")
        .unwrap()
        .heartbeat_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    a.subscribe(&[&topic]).await.unwrap();
    let a = Member::start(a);
    settle(&[&a], &topic).await;
    let admin = moldau_client::AdminClient::connect(&broker.addr).unwrap();
    admin
        .create_partitions(&topic, PARTITIONS + 2)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.consumer.assignment().len() != PARTITIONS as usize + 2 {
        assert!(
            Instant::now() < deadline,
            "still {:?}",
            a.consumer.assignment()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
}

#[tokio::test]
async fn auto_commit_commits_consumed_positions() {
    let Some(broker) = start() else { return };
    let topic = common::unique("auto");
    let group = common::unique("ag");
    produce(&broker.addr, &topic, 120).await;
    let c = ConsumerBuilder::new(&broker.addr)
        .group_id(&group)
        .auto_offset_reset(OffsetReset::Earliest)
        .set("auto.commit.interval.ms", "100")
        .unwrap()
        .build()
        .unwrap();
    c.subscribe(&[&topic]).await.unwrap();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while n < 120 {
        n += c.poll(Duration::from_millis(100)).await.unwrap().len();
        assert!(Instant::now() < deadline);
    }
    // Keep polling past the interval: the commit happens inside poll.
    for _ in 0..3 {
        c.poll(Duration::from_millis(150)).await.unwrap();
    }
    let admin = moldau_client::AdminClient::connect(&broker.addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lag = admin.group_lag(&group).await.unwrap();
        if lag.len() == PARTITIONS as usize && lag.values().all(|l| l.lag == 0) {
            break;
        }
        assert!(Instant::now() < deadline, "{lag:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.close().await.unwrap();
}
