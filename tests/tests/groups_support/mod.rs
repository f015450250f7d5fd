//! Shared helpers of the consumer-group tests: topics, producing, group members run
//! on their own threads, one ownership view per group that catches a partition owned
//! twice at the moment it happens, and DescribeGroups read through librdkafka.

#![allow(dead_code)] // each test binary uses its own part of these helpers

pub mod raw;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Broker flags every group test uses: no initial rebalance delay.
pub const BROKER_FLAGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0"];
/// Upper bound on any single wait for the group to settle.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often waiting loops look at the state again.
const WAIT_STEP: Duration = Duration::from_millis(50);
/// How long one member poll blocks.
const POLL_STEP: Duration = Duration::from_millis(100);

/// Runs a future to completion on a small runtime (admin and producer calls).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

pub fn create_topic(addr: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let results = block_on(admin.create_topics(
        &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Produces `count` records spread round-robin over `partitions`, values
/// `"{tag}-{i}"`; returns (partition, offset, value) of each, in send order.
pub fn produce(
    addr: &str,
    topic: &str,
    partitions: i32,
    tag: &str,
    count: usize,
) -> Vec<(i32, i64, String)> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    block_on(async {
        let mut pending = Vec::with_capacity(count);
        for i in 0..count {
            let value = format!("{tag}-{i}");
            let partition = (i as i32) % partitions;
            let record = FutureRecord::<(), _>::to(topic)
                .payload(&value)
                .partition(partition);
            let delivery = match producer.send_result(record) {
                Ok(d) => d,
                Err((e, _)) => panic!("enqueueing a record: {e}"),
            };
            pending.push((value, delivery));
        }
        let mut out = Vec::with_capacity(count);
        for (value, delivery) in pending {
            let d = delivery
                .await
                .expect("delivery not cancelled")
                .expect("record delivered");
            out.push((d.partition, d.offset, value));
        }
        out
    })
}

/// One record as a member processed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub member: String,
    pub partition: i32,
    pub offset: i64,
    pub value: String,
}

/// What every member of one group did, kept under one lock so a snapshot is
/// consistent across members.
#[derive(Debug, Default)]
pub struct GroupView {
    /// Current owner of each partition, taken conservatively: from just before the
    /// member starts fetching it until just after it has stopped.
    pub owner: BTreeMap<i32, String>,
    /// Every moment a partition was handed to a member while another still held it.
    pub violations: Vec<String>,
    /// Assign callbacks per member (one per rebalance that reached it).
    pub assigns: BTreeMap<String, usize>,
    /// Revoke callbacks per member.
    pub revokes: BTreeMap<String, usize>,
    /// Rebalance errors reported to members.
    pub errors: Vec<String>,
    pub records: Vec<Processed>,
}

impl GroupView {
    /// Partitions `member` owns now.
    pub fn owned_by(&self, member: &str) -> BTreeSet<i32> {
        self.owner
            .iter()
            .filter(|(_, m)| m.as_str() == member)
            .map(|(p, _)| *p)
            .collect()
    }

    /// True when every partition `0..partitions` has an owner and each of `members`
    /// has been through at least one assignment.
    pub fn settled(&self, partitions: i32, members: &[&str]) -> bool {
        (0..partitions).all(|p| self.owner.contains_key(&p))
            && members.iter().all(|m| self.assigns.contains_key(*m))
    }

    fn take(&mut self, member: &str, partition: i32) {
        if let Some(other) = self.owner.get(&partition) {
            if other != member {
                self.violations.push(format!(
                    "partition {partition} assigned to {member} while {other} owns it"
                ));
            }
        }
        self.owner.insert(partition, member.to_string());
    }

    fn release(&mut self, member: &str, partition: i32) {
        if self.owner.get(&partition).map(String::as_str) == Some(member) {
            self.owner.remove(&partition);
        }
    }

    fn release_all(&mut self, member: &str) {
        self.owner.retain(|_, m| m != member);
    }
}

pub type SharedView = Arc<Mutex<GroupView>>;

pub fn new_view() -> SharedView {
    Arc::new(Mutex::new(GroupView::default()))
}

pub fn lock(view: &SharedView) -> MutexGuard<'_, GroupView> {
    view.lock().unwrap_or_else(|e| e.into_inner())
}

/// Consumer context that records rebalances into the group view.
struct Tracker {
    name: String,
    view: SharedView,
}

impl ClientContext for Tracker {}

impl ConsumerContext for Tracker {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Partitions count as owned before the client starts fetching them.
                {
                    let mut view = lock(&self.view);
                    for e in tpl.elements() {
                        view.take(&self.name, e.partition());
                    }
                    *view.assigns.entry(self.name.clone()).or_default() += 1;
                }
                let assigned = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = assigned {
                    lock(&self.view).errors.push(format!("{}: {e}", self.name));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // ... and until the client has stopped fetching them. Released under
                // the view's lock, taken before the unassign whose acknowledgement lets
                // the coordinator hand them on: another member's assignment cannot
                // be recorded in between (it was, in 1 run of 3 of the rack e2e on a
                // loaded machine, when released after the unassign returned).
                let mut view = lock(&self.view);
                let revoked = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                for e in tpl.elements() {
                    view.release(&self.name, e.partition());
                }
                *view.revokes.entry(self.name.clone()).or_default() += 1;
                if let Err(e) = revoked {
                    view.errors.push(format!("{}: {e}", self.name));
                }
            }
            other => {
                lock(&self.view)
                    .errors
                    .push(format!("{}: rebalance error {other:?}", self.name));
                // As the client's default: give up what it holds.
                let _ = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
            }
        }
    }
}

/// A group consumer polling on its own thread.
pub struct Member {
    pub name: String,
    stop: Arc<AtomicBool>,
    /// While set, the thread does not poll (a stuck application).
    stalled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    view: SharedView,
}

/// Settings of a member beyond bootstrap, group and client id.
pub struct MemberSpec<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    /// Commit synchronously after each record processed.
    pub commit_each: bool,
    pub config: &'a [(&'a str, &'a str)],
}

impl Member {
    /// Subscribes a consumer named `name` (also its client.id) and polls until stopped.
    pub fn start(addr: &str, name: &str, spec: &MemberSpec<'_>, view: &SharedView) -> Member {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", addr)
            .set("group.id", spec.group)
            .set("client.id", name)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("topic.metadata.refresh.interval.ms", "2000");
        // With the KIP-848 protocol the broker owns these (librdkafka refuses them).
        if !spec.config.contains(&("group.protocol", "consumer")) {
            config
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "500");
        }
        for (k, v) in spec.config {
            config.set(*k, *v);
        }
        let context = Tracker {
            name: name.to_string(),
            view: view.clone(),
        };
        let consumer: BaseConsumer<Tracker> =
            config.create_with_context(context).expect("consumer");
        consumer.subscribe(&[spec.topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, stalled, view) = (stop.clone(), stalled.clone(), view.clone());
            let (name, commit_each) = (name.to_string(), spec.commit_each);
            std::thread::spawn(move || {
                poll_loop(&consumer, &name, commit_each, &stop, &stalled, &view);
                drop(consumer); // close: revoke, commit nothing more, LeaveGroup
                lock(&view).release_all(&name);
            })
        };
        Member {
            name: name.to_string(),
            stop,
            stalled,
            thread: Some(thread),
            view: view.clone(),
        }
    }

    /// Stops polling, as an application stuck in processing; what it owned no longer
    /// counts as being processed.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        lock(&self.view).release_all(&self.name);
    }

    /// Closes the consumer the way an application does (LeaveGroup unless static).
    pub fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("member thread");
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn poll_loop(
    consumer: &BaseConsumer<Tracker>,
    name: &str,
    commit_each: bool,
    stop: &AtomicBool,
    stalled: &AtomicBool,
    view: &SharedView,
) {
    while !stop.load(Ordering::SeqCst) {
        if stalled.load(Ordering::SeqCst) {
            std::thread::sleep(POLL_STEP);
            continue;
        }
        // Consumer-level errors (e.g. a partition EOF notice) are not failures here.
        let Some(Ok(m)) = consumer.poll(POLL_STEP) else {
            continue;
        };
        let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
        let mut v = lock(view);
        if v.owner.get(&m.partition()).map(String::as_str) != Some(name) {
            let owner = v.owner.get(&m.partition()).cloned();
            v.violations.push(format!(
                "{name} processed {}@{} owned by {owner:?}",
                m.partition(),
                m.offset()
            ));
        }
        v.records.push(Processed {
            member: name.to_string(),
            partition: m.partition(),
            offset: m.offset(),
            value,
        });
        drop(v);
        if commit_each {
            if let Err(e) = consumer.commit_message(&m, CommitMode::Sync) {
                lock(view).errors.push(format!("{name} commit: {e}"));
            }
        }
    }
}

/// Waits until `done` holds for the view, or panics with `what` and the view.
pub fn wait_for(view: &SharedView, what: &str, done: impl Fn(&GroupView) -> bool) {
    wait_for_within(view, what, SETTLE_TIMEOUT, done)
}

/// [`wait_for`] with its own time limit.
pub fn wait_for_within(
    view: &SharedView,
    what: &str,
    limit: Duration,
    done: impl Fn(&GroupView) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        {
            let v = lock(view);
            if done(&v) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v:#?}"
            );
        }
        std::thread::sleep(WAIT_STEP);
    }
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct DescribedMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Partitions per topic, decoded from the consumer-protocol assignment.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// A group as ListGroups + DescribeGroups show it (librdkafka's group list).
#[derive(Debug, Clone)]
pub struct DescribedGroup {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

impl DescribedGroup {
    /// The member whose client id is `client_id`.
    pub fn member(&self, client_id: &str) -> Option<&DescribedMember> {
        self.members.iter().find(|m| m.client_id == client_id)
    }
}

/// Describes `group` through librdkafka (`rd_kafka_list_groups`).
pub fn describe_group(addr: &str, group: &str) -> Option<DescribedGroup> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin consumer");
    let list = consumer
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .expect("group list");
    list.groups()
        .iter()
        .find(|g| g.name() == group)
        .map(|g| DescribedGroup {
            state: g.state().to_string(),
            protocol_type: g.protocol_type().to_string(),
            protocol: g.protocol().to_string(),
            members: g
                .members()
                .iter()
                .map(|m| DescribedMember {
                    member_id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    client_host: m.client_host().to_string(),
                    assignment: m
                        .assignment()
                        .and_then(decode_assignment)
                        .unwrap_or_default(),
                })
                .collect(),
        })
}

/// Waits until DescribeGroups shows `group` Stable with `members` members.
pub fn wait_for_stable(addr: &str, group: &str, members: usize) -> DescribedGroup {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let g = describe_group(addr, group);
        if let Some(g) = &g {
            if g.state == "Stable" && g.members.len() == members {
                return g.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "group {group} not Stable with {members} members: {g:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Decodes a consumer-protocol assignment (version, [topic, [partition]], user data).
pub fn decode_assignment(bytes: &[u8]) -> Option<BTreeMap<String, Vec<i32>>> {
    let mut r = Reader(bytes);
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = BTreeMap::new();
    for _ in 0..topics.max(0) {
        let len = r.i16()?;
        let name = String::from_utf8(r.bytes(len.max(0) as usize)?.to_vec()).ok()?;
        let count = r.i32()?;
        let mut partitions = Vec::new();
        for _ in 0..count.max(0) {
            partitions.push(r.i32()?);
        }
        out.insert(name, partitions);
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.bytes(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.bytes(4)?.try_into().ok()?))
    }
}

/// Committed offsets of `group` for partitions `0..partitions` of `topic` (-1 = none).
pub fn committed(addr: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}

/// A group consumer in another process (kcat -G) that can be killed without leaving.
pub struct KcatMember {
    child: Child,
}

impl KcatMember {
    pub fn start(addr: &str, group: &str, topic: &str, client_id: &str) -> KcatMember {
        let child = Command::new("kcat")
            .args(["-b", addr, "-G", group, "-q", "-o", "beginning"])
            .args(["-X", &format!("client.id={client_id}")])
            .args([
                "-X",
                "session.timeout.ms=6000",
                "-X",
                "heartbeat.interval.ms=500",
            ])
            .arg(topic)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kcat is installed (apt-get install kcat)");
        KcatMember { child }
    }

    /// SIGKILL: no LeaveGroup, no more heartbeats.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KcatMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until DescribeGroups shows `group` Stable with exactly `members` (client
/// ids), their assignments of `topic` cover `0..partitions` once each, and every
/// member's own view of what it owns matches; returns the description.
pub fn wait_for_settled(
    addr: &str,
    view: &SharedView,
    group: &str,
    topic: &str,
    partitions: i32,
    members: &[&str],
) -> DescribedGroup {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let described = describe_group(addr, group);
        if let Some(g) = &described {
            if settled_as_described(g, &lock(view), topic, partitions, members) {
                return g.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "group {group} did not settle on {members:?}: {described:#?}\n{:#?}",
            lock(view)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn settled_as_described(
    g: &DescribedGroup,
    view: &GroupView,
    topic: &str,
    partitions: i32,
    members: &[&str],
) -> bool {
    if g.state != "Stable" || g.members.len() != members.len() {
        return false;
    }
    let mut seen = BTreeSet::new();
    for name in members {
        let Some(m) = g.member(name) else {
            return false;
        };
        let assigned: BTreeSet<i32> = m
            .assignment
            .get(topic)
            .map(|ps| ps.iter().copied().collect())
            .unwrap_or_default();
        if !view.assigns.contains_key(*name) || view.owned_by(name) != assigned {
            return false;
        }
        for p in assigned {
            if !seen.insert(p) {
                return false;
            }
        }
    }
    seen == (0..partitions).collect()
}
