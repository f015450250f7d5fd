//! The Rust client with `group.protocol=consumer` (KIP-848) against a real broker:
//! the broker assigns, a member joining takes partitions only after the others
//! revoked them, a leaving member's partitions move at once, commits carry the member
//! epoch (a stale one is refused), and a librdkafka consumer-protocol member shares a
//! group with a Rust one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moldau_client::consumer::{Consumer, ConsumerBuilder, GroupProtocol};
use moldau_client::coordinator::Coordinator;
use moldau_client::offsets::{self, CommitIdentity, OffsetAndMetadata};
use moldau_client::producer::ProducerBuilder;
use moldau_client::{OffsetReset, ProducerRecord, TopicPartition};
use moldau_protocol::ResponseError;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::Message;

const PARTITIONS: i32 = 6;
/// How long a group may take to reach an expected assignment.
const SETTLE_WAIT: Duration = Duration::from_secs(60);
/// An offset no real commit of these tests reaches.
const STALE_OFFSET: i64 = 999_999;

fn start() -> Option<common::Broker> {
    common::start_broker(&[
        &format!("num.partitions={PARTITIONS}"),
        "offsets.topic.num.partitions=1",
        "group.consumer.heartbeat.interval.ms=200",
        "group.consumer.min.heartbeat.interval.ms=100",
    ])
}

async fn produce(addr: &str, topic: &str, tag: &str, n: usize) {
    let producer = ProducerBuilder::new(addr).build().unwrap();
    let mut fs = Vec::new();
    for i in 0..n {
        let rec = ProducerRecord::new(topic, format!("{tag}{i}")).with_key(format!("k{tag}{i}"));
        fs.push(producer.send(rec).await.unwrap());
    }
    for f in fs {
        f.await.unwrap();
    }
    producer.close().await.unwrap();
}

fn consumer(addr: &str, group: &str) -> Consumer {
    let c = ConsumerBuilder::new(addr)
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .set("group.protocol", "consumer")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.config().group_protocol, GroupProtocol::Consumer);
    c
}

/// What one member read: (partition, offset).
type Seen = Arc<Mutex<Vec<(i32, i64)>>>;

/// A Rust consumer polling in its own task, recording every record it gets.
struct Member {
    consumer: Consumer,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Member {
    async fn start(addr: &str, group: &str, topic: &str) -> Member {
        let consumer = consumer(addr, group);
        consumer.subscribe(&[topic]).await.unwrap();
        let seen = Seen::default();
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

    fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.consumer.assignment().into_iter().collect()
    }

    async fn stop(self) {
        self.consumer.close().await.unwrap();
        let _ = self.task.await;
    }
}

/// A librdkafka consumer-protocol member polling on its own thread.
struct RdMember {
    consumer: Arc<BaseConsumer>,
    seen: Seen,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RdMember {
    fn start(addr: &str, group: &str, topic: &str) -> RdMember {
        let consumer: Arc<BaseConsumer> = Arc::new(
            RdConfig::new()
                .set("bootstrap.servers", addr)
                .set("group.id", group)
                .set("group.protocol", "consumer")
                .set("auto.offset.reset", "earliest")
                .create()
                .unwrap(),
        );
        consumer.subscribe(&[topic]).unwrap();
        let seen = Seen::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, st) = (consumer.clone(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                    s.lock().unwrap().push((m.partition(), m.offset()));
                }
            }
        });
        RdMember {
            consumer,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.consumer
            .assignment()
            .map(|l| {
                l.elements()
                    .iter()
                    .map(|e| TopicPartition::new(e.topic(), e.partition()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for RdMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until `look` (every member's assignment, read in order) covers all
/// partitions with the sizes `want` asks for. At every look, a partition seen with
/// member i, then with a later member j, then with i again was held by both at
/// once: that fails the test.
async fn settle(
    what: &str,
    look: impl Fn() -> Vec<BTreeSet<TopicPartition>>,
    want: impl Fn(&[usize]) -> bool,
) -> Vec<BTreeSet<TopicPartition>> {
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        let first = look();
        let again = look();
        for i in 0..first.len() {
            for j in i + 1..first.len() {
                let twice: Vec<&TopicPartition> = first[i]
                    .intersection(&first[j])
                    .filter(|tp| again[i].contains(*tp))
                    .collect();
                assert!(twice.is_empty(), "{what}: {twice:?} held twice: {first:?}");
            }
        }
        let sizes: Vec<usize> = first.iter().map(BTreeSet::len).collect();
        let union: BTreeSet<&TopicPartition> = first.iter().flatten().collect();
        if union.len() == PARTITIONS as usize && want(&sizes) {
            return first;
        }
        assert!(Instant::now() < deadline, "{what}: not settled: {first:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the members together read `expected` distinct records, then checks
/// none was read twice.
async fn read_once(what: &str, seen: &[&Seen], expected: usize) {
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        let all: Vec<(i32, i64)> = seen
            .iter()
            .flat_map(|s| s.lock().unwrap().clone())
            .collect();
        let distinct: BTreeSet<(i32, i64)> = all.iter().copied().collect();
        if distinct.len() >= expected {
            // A moment for a duplicate to show up, if one is on its way.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let all: Vec<(i32, i64)> = seen
                .iter()
                .flat_map(|s| s.lock().unwrap().clone())
                .collect();
            assert_eq!(all.len(), expected, "{what}: a record was read twice");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: read {} of {expected}",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_members_share_six_partitions_and_a_leaving_member_hands_them_over() {
    common::init_logs();
    let Some(broker) = start() else { return };
    let topic = common::unique("kip848");
    let group = common::unique("g848");
    produce(&broker.addr, &topic, "a", 300).await;

    let a = Member::start(&broker.addr, &group, &topic).await;
    settle("a alone", || vec![a.assignment()], |s| s == [6]).await;
    let (member_id, epoch) = a.consumer.group_generation().expect("a member epoch");
    assert!(!member_id.is_empty() && epoch >= 1, "{member_id} {epoch}");

    // b joins: a revokes three, then b gets them; never one partition with both.
    let b = Member::start(&broker.addr, &group, &topic).await;
    let sets = settle(
        "a and b",
        || vec![a.assignment(), b.assignment()],
        |s| s == [3, 3],
    )
    .await;
    assert!(sets[0].is_disjoint(&sets[1]));
    read_once("before b leaves", &[&a.seen, &b.seen], 300).await;
    let (_, epoch_after) = a.consumer.group_generation().expect("a member epoch");
    assert!(
        epoch_after > epoch,
        "a's epoch moved: {epoch} -> {epoch_after}"
    );

    // b leaves: a gets everything back at once (the session timeout is 45 s), and
    // resumes b's partitions where b committed on its way out.
    let b_seen = b.seen.clone();
    let left_at = Instant::now();
    b.stop().await;
    settle("a after b left", || vec![a.assignment()], |s| s == [6]).await;
    assert!(
        left_at.elapsed() < Duration::from_secs(30),
        "moved by leaving"
    );
    produce(&broker.addr, &topic, "b", 300).await;
    read_once("after b left", &[&a.seen, &b_seen], 600).await;
    a.stop().await;
}

#[tokio::test]
async fn commits_carry_the_member_epoch_and_a_stale_epoch_is_refused() {
    common::init_logs();
    let Some(broker) = start() else { return };
    let topic = common::unique("commit848");
    let group = common::unique("c848");
    produce(&broker.addr, &topic, "a", 60).await;

    let a = Member::start(&broker.addr, &group, &topic).await;
    settle("a alone", || vec![a.assignment()], |s| s == [6]).await;
    read_once("a", &[&a.seen], 60).await;
    // OffsetCommit v9 with the member epoch: taken.
    a.consumer.commit().await.unwrap();
    let (member_id, old_epoch) = a.consumer.group_generation().unwrap();

    let b = Member::start(&broker.addr, &group, &topic).await;
    let sets = settle(
        "a and b",
        || vec![a.assignment(), b.assignment()],
        |s| s == [3, 3],
    )
    .await;
    let (_, new_epoch) = a.consumer.group_generation().unwrap();
    assert!(new_epoch > old_epoch, "{old_epoch} -> {new_epoch}");
    // In its new epoch a commits its own partitions.
    a.consumer.commit().await.unwrap();

    // a's old epoch for a partition b owns now: refused.
    let coordinator = Coordinator::new(a.consumer.cluster().clone(), &group);
    let stale = CommitIdentity {
        generation: old_epoch,
        member_id: member_id.clone(),
        group_instance_id: None,
    };
    let moved = sets[1].iter().next().unwrap().clone();
    let one =
        |tp: &TopicPartition| BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(STALE_OFFSET))]);
    let refused = offsets::commit(&coordinator, &stale, &one(&moved))
        .await
        .unwrap_err();
    assert!(refused.is(ResponseError::StaleMemberEpoch), "{refused}");
    // An epoch older still: refused whatever it names.
    let older = CommitIdentity {
        generation: old_epoch - 1,
        ..stale.clone()
    };
    let kept = sets[0].iter().next().unwrap().clone();
    let refused = offsets::commit(&coordinator, &older, &one(&kept))
        .await
        .unwrap_err();
    assert!(refused.is(ResponseError::StaleMemberEpoch), "{refused}");
    // Nothing of that reached the offsets: b's partition is where b's commit put it.
    let committed = a
        .consumer
        .committed(&[moved.clone(), kept.clone()])
        .await
        .unwrap();
    assert!(
        committed.values().all(|o| o.offset != STALE_OFFSET),
        "{committed:?}"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_rust_member_and_a_librdkafka_member_share_a_consumer_group() {
    common::init_logs();
    let Some(broker) = start() else { return };
    let topic = common::unique("mixed848");
    let group = common::unique("m848");
    produce(&broker.addr, &topic, "seed", 1).await;

    let ours = Member::start(&broker.addr, &group, &topic).await;
    let theirs = RdMember::start(&broker.addr, &group, &topic);
    let sets = settle(
        "rust and librdkafka",
        || vec![ours.assignment(), theirs.assignment()],
        |s| s == [3, 3],
    )
    .await;
    assert!(sets[0].is_disjoint(&sets[1]));
    produce(&broker.addr, &topic, "x", 300).await;
    read_once("both", &[&ours.seen, &theirs.seen], 301).await;

    // The Rust member leaves: librdkafka takes its partitions and goes on from
    // the offsets it committed on its way out.
    let ours_seen = ours.seen.clone();
    ours.stop().await;
    settle(
        "librdkafka alone",
        || vec![theirs.assignment()],
        |s| s == [6],
    )
    .await;
    produce(&broker.addr, &topic, "y", 300).await;
    read_once(
        "after the rust member left",
        &[&ours_seen, &theirs.seen],
        601,
    )
    .await;
    drop(theirs);
}

#[tokio::test]
async fn a_static_member_leaving_with_epoch_minus_two_gets_its_partitions_back() {
    common::init_logs();
    let Some(broker) = start() else { return };
    let topic = common::unique("static848");
    let group = common::unique("s848");
    produce(&broker.addr, &topic, "a", 1).await;
    let static_member = |addr: &str| {
        ConsumerBuilder::new(addr)
            .group_id(&group)
            .group_instance_id("instance-a")
            .set("group.protocol", "consumer")
            .unwrap()
            .build()
            .unwrap()
    };
    let a = static_member(&broker.addr);
    a.subscribe(&[&topic]).await.unwrap();
    let a_task = {
        let a = a.clone();
        tokio::spawn(async move { while a.poll(Duration::from_millis(50)).await.is_ok() {} })
    };
    let b = Member::start(&broker.addr, &group, &topic).await;
    let sets = settle(
        "a and b",
        || vec![a.assignment().into_iter().collect(), b.assignment()],
        |s| s == [3, 3],
    )
    .await;
    // Epoch -2: the broker keeps a's partitions for its return (the session is 45 s).
    a.close().await.unwrap();
    let _ = a_task.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        b.assignment(),
        sets[1],
        "b took a static member's partitions"
    );
    let again = static_member(&broker.addr);
    again.subscribe(&[&topic]).await.unwrap();
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        again.poll(Duration::from_millis(50)).await.unwrap();
        let now: BTreeSet<TopicPartition> = again.assignment().into_iter().collect();
        if now == sets[0] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not given back: {now:?} {sets:?}"
        );
    }
    assert_eq!(b.assignment(), sets[1]);
    again.close().await.unwrap();
    b.stop().await;
}

#[tokio::test]
async fn a_member_that_stops_polling_leaves_and_rejoins_when_it_polls_again() {
    common::init_logs();
    let Some(broker) = start() else { return };
    let topic = common::unique("idle848");
    let group = common::unique("i848");
    produce(&broker.addr, &topic, "a", 1).await;
    let idle = ConsumerBuilder::new(&broker.addr)
        .group_id(&group)
        .set("group.protocol", "consumer")
        .unwrap()
        .set("max.poll.interval.ms", "2000")
        .unwrap()
        .build()
        .unwrap();
    idle.subscribe(&[&topic]).await.unwrap();
    let b = Member::start(&broker.addr, &group, &topic).await;
    let deadline = Instant::now() + SETTLE_WAIT;
    while idle.assignment().len() != 3 || b.assignment().len() != 3 {
        idle.poll(Duration::from_millis(50)).await.unwrap();
        assert!(Instant::now() < deadline, "no 3/3 split");
    }
    let (first_id, _) = idle.group_generation().unwrap();
    // No poll for longer than max.poll.interval.ms: the member leaves the group
    // and the other one takes everything.
    settle("b alone", || vec![b.assignment()], |s| s == [6]).await;
    // Polling again: its partitions are reported lost, it joins again (same id).
    let deadline = Instant::now() + SETTLE_WAIT;
    while idle.assignment().len() != 3 || b.assignment().len() != 3 {
        idle.poll(Duration::from_millis(50)).await.unwrap();
        assert!(Instant::now() < deadline, "did not rejoin");
    }
    let (id, epoch) = idle.group_generation().unwrap();
    assert_eq!(id, first_id);
    assert!(epoch > 0);
    idle.close().await.unwrap();
    b.stop().await;
}

#[tokio::test]
async fn a_regex_subscription_gets_matching_topics_including_ones_created_later() {
    common::init_logs();
    let Some(broker) = start() else { return };
    let prefix = common::unique("rx");
    let group = common::unique("r848");
    produce(&broker.addr, &format!("{prefix}-one"), "a", 1).await;
    produce(&broker.addr, &format!("other-{prefix}"), "a", 1).await;
    let c = consumer(&broker.addr, &group);
    c.subscribe_regex(&format!("^{prefix}-.*")).await.unwrap();
    assert!(c.subscribe(&["t"]).await.is_err(), "names while on a regex");
    let topics = |c: &Consumer| -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for tp in c.assignment() {
            *out.entry(tp.topic).or_default() += 1;
        }
        out
    };
    let want_one = BTreeMap::from([(format!("{prefix}-one"), 6)]);
    let deadline = Instant::now() + SETTLE_WAIT;
    while topics(&c) != want_one {
        c.poll(Duration::from_millis(50)).await.unwrap();
        assert!(Instant::now() < deadline, "{:?}", topics(&c));
    }
    let (id, _) = c.group_generation().unwrap();
    // A new matching topic: assigned without the member rejoining.
    produce(&broker.addr, &format!("{prefix}-two"), "a", 1).await;
    let mut want_two = want_one.clone();
    want_two.insert(format!("{prefix}-two"), 6);
    while topics(&c) != want_two {
        c.poll(Duration::from_millis(50)).await.unwrap();
        assert!(Instant::now() < deadline, "{:?}", topics(&c));
    }
    assert_eq!(c.group_generation().unwrap().0, id);
    c.close().await.unwrap();
}
