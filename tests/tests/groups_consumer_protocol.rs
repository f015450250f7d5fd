//! KIP-848 consumer groups (`group.protocol=consumer`) against the real broker with
//! librdkafka members: the broker assigns, members reconcile one at a time (revoke,
//! then assign), records are processed exactly once while members come and go,
//! dead members time out, a static member restarted gets its partitions back, topics
//! change under the group, and the group survives a coordinator restart.

mod groups_support;

use groups_support::raw::{s, RawClient};
use groups_support::*;
use moldau_e2e::BrokerProcess;
use moldau_protocol::kafka::messages::consumer_group_describe_response::DescribedGroup as CgDescribed;
use moldau_protocol::kafka::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, GroupId, TopicName,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;
/// Members heartbeat every 500 ms; sessions last the default 45 s unless a test
/// shortens them (so a partition that moves within 30 s of a close moved by the
/// member leaving, not by its session running out).
const FLAGS: &[&str] = &[
    "--set",
    "group.consumer.heartbeat.interval.ms=500",
    "--set",
    "group.consumer.min.heartbeat.interval.ms=100",
];
const CONSUMER_PROTOCOL: &[(&str, &str)] = &[("group.protocol", "consumer")];

fn spec<'a>(group: &'a str, topic: &'a str, commit_each: bool) -> MemberSpec<'a> {
    MemberSpec {
        group,
        topic,
        commit_each,
        config: CONSUMER_PROTOCOL,
    }
}

/// ConsumerGroupDescribe v1 through a bare connection.
fn consumer_describe(addr: &str, group: &str) -> CgDescribed {
    let mut raw = RawClient::connect(addr);
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(group))]);
    raw.call(1, &req).groups.remove(0)
}

/// Every record processed exactly once, no partition held by two members.
fn assert_exactly_once(view: &SharedView, produced: &[(i32, i64, String)]) {
    let v = lock(view);
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    let mut seen = BTreeMap::new();
    for r in &v.records {
        let previous = seen.insert((r.partition, r.offset), r);
        assert!(
            previous.is_none(),
            "processed twice: {r:?} and {previous:?}"
        );
    }
    assert_eq!(seen.len(), produced.len(), "records processed");
    for (p, o, value) in produced {
        assert_eq!(&seen[&(*p, *o)].value, value);
    }
}

#[test]
fn members_come_and_go_partitions_move_only_when_released_and_records_are_processed_once() {
    let broker = BrokerProcess::start(FLAGS);
    let (group, topic) = ("kip848", "orders");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let start = |name: &str| Member::start(&broker.addr, name, &spec(group, topic, true), &view);
    let mut members: BTreeMap<&str, Member> = BTreeMap::new();
    for n in ["m1", "m2", "m3"] {
        members.insert(n, start(n));
    }
    let three = ["m1", "m2", "m3"];
    let described = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &three);
    assert_eq!(described.protocol_type, "consumer");
    for n in three {
        assert_eq!(lock(&view).owned_by(n).len(), 2, "{n}: {described:#?}");
    }
    let mut produced = produce(&broker.addr, topic, PARTITIONS, "a", 300);
    wait_for(&view, "first records", |v| v.records.len() >= 300);

    // A fourth member: the others only give up partitions, never gain or swap.
    let before: BTreeMap<&str, BTreeSet<i32>> = three
        .iter()
        .map(|n| (*n, lock(&view).owned_by(n)))
        .collect();
    members.insert("m4", start("m4"));
    produced.extend(produce(&broker.addr, topic, PARTITIONS, "b", 300));
    let four = ["m1", "m2", "m3", "m4"];
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &four);
    for n in three {
        let now = lock(&view).owned_by(n);
        assert!(
            now.is_subset(&before[n]),
            "{n} had {:?}, has {now:?}",
            before[n]
        );
        assert!(!now.is_empty(), "{n} kept a partition");
    }
    assert!(!lock(&view).owned_by("m4").is_empty());
    let cg = consumer_describe(&broker.addr, group);
    assert_eq!((cg.error_code, cg.group_state.as_str()), (0, "Stable"));
    assert!(cg
        .members
        .iter()
        .all(|m| m.member_epoch == cg.assignment_epoch));
    // `moldau group describe` shows the type, epochs, assignor and each member's epoch.
    let out = std::process::Command::new(moldau_e2e::moldau_bin())
        .args(["-b", &broker.addr, "group", "describe", group, "--json"])
        .output()
        .expect("moldau group describe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["group_type"], "consumer", "{doc}");
    assert_eq!(doc["assignor"], "uniform", "{doc}");
    assert_eq!(doc["group_epoch"], cg.group_epoch, "{doc}");
    let described = doc["members"].as_array().expect("members");
    assert_eq!(described.len(), 4, "{doc}");
    for m in described {
        assert_eq!(m["member_epoch"], cg.assignment_epoch, "{doc}");
        assert_eq!(
            m["assignment"], m["target_assignment"],
            "stable: nothing in flight"
        );
    }
    wait_for(&view, "records so far", |v| v.records.len() >= 600);

    // One leaves: its partitions move at once, long before its session could end.
    let left_at = Instant::now();
    members.remove("m2").expect("m2").close();
    produced.extend(produce(&broker.addr, topic, PARTITIONS, "c", 300));
    let rest = ["m1", "m3", "m4"];
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &rest);
    assert!(
        left_at.elapsed() < Duration::from_secs(30),
        "moved by leaving, not by the 45 s session"
    );
    wait_for(&view, "every record", |v| v.records.len() >= produced.len());
    std::thread::sleep(Duration::from_millis(500));
    assert_exactly_once(&view, &produced);
    let errors = lock(&view).errors.clone();
    assert!(errors.is_empty(), "{errors:#?}");
    drop(members);
}

#[test]
fn a_static_member_restarted_within_its_session_gets_its_partitions_back() {
    let broker = BrokerProcess::start(FLAGS);
    let (group, topic) = ("statics848", "gauges");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let start = |name: &str| {
        let config = [("group.protocol", "consumer"), ("group.instance.id", name)];
        let spec = MemberSpec {
            group,
            topic,
            commit_each: false,
            config: &config,
        };
        Member::start(&broker.addr, name, &spec, &view)
    };
    let names = ["s1", "s2", "s3"];
    let mut members: BTreeMap<&str, Member> = names.iter().map(|n| (*n, start(n))).collect();
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &names);
    let (before, assigns_before) = {
        let v = lock(&view);
        let owned: BTreeMap<&str, BTreeSet<i32>> =
            names.iter().map(|n| (*n, v.owned_by(n))).collect();
        (owned, v.assigns.clone())
    };
    // Closed (a static member leaves with epoch -2: its partitions wait for it, the
    // 45 s session long) and started again under the same instance id.
    let closing = Instant::now();
    members.remove("s2").expect("s2").close();
    let closed = closing.elapsed();
    members.insert("s2", start("s2"));
    wait_for(&view, "s2 holding its partitions again", |v| {
        v.owned_by("s2") == before["s2"]
    });
    eprintln!(
        "static member: closed in {closed:?}, back {:?} after the close began",
        closing.elapsed()
    );
    let v = lock(&view);
    for n in names {
        assert_eq!(v.owned_by(n), before[n], "{n} kept its partitions");
    }
    // The others were never handed s2's partitions meanwhile.
    for n in ["s1", "s3"] {
        assert_eq!(
            v.assigns.get(n),
            assigns_before.get(n),
            "{n} assigned again"
        );
    }
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    assert!(v.errors.is_empty(), "{:#?}", v.errors);
    drop(v);
    drop(members);
}

/// A raw member that joins, takes its share, then goes silent (as if killed).
fn silent_member(addr: &str, group: &str, topic: &str) -> (String, usize) {
    let mut raw = RawClient::connect_as(addr, "victim");
    raw.wait_for_coordinator(group);
    let id = "victim-member-0001".to_string();
    let mut epoch = 0;
    let mut owned = Vec::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(&id))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names((epoch == 0).then(|| vec![TopicName(s(topic))]))
            .with_topic_partitions(Some(owned.clone()));
        let r = raw.call(1, &req);
        assert_eq!(r.error_code, 0, "{r:?}");
        epoch = r.member_epoch;
        if let Some(a) = r.assignment {
            owned = a
                .topic_partitions
                .iter()
                .map(|t| {
                    moldau_protocol::kafka::messages::consumer_group_heartbeat_request::TopicPartitions::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(t.partitions.clone())
                })
                .collect();
        }
        let count: usize = owned.iter().map(|t| t.partitions.len()).sum();
        let cg = consumer_describe(addr, group);
        if count > 0 && cg.group_state.as_str() == "Stable" {
            return (id, count);
        }
        assert!(Instant::now() < deadline, "victim never settled: {cg:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_member_that_stops_heartbeating_loses_its_partitions_after_the_session_timeout() {
    let mut flags = FLAGS.to_vec();
    flags.extend([
        "--set",
        "group.consumer.session.timeout.ms=6000",
        "--set",
        "group.consumer.min.session.timeout.ms=1000",
    ]);
    let broker = BrokerProcess::start(&flags);
    let (group, topic) = ("mortal848", "jobs");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let survivors: Vec<Member> = ["s1", "s2"]
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec(group, topic, false), &view))
        .collect();
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &["s1", "s2"]);
    let (victim, held) = silent_member(&broker.addr, group, topic);
    assert!(held >= 1);
    wait_for(&view, "survivors released the victim's share", |v| {
        v.owner.len() == PARTITIONS as usize - held
    });
    // Silent now: still a member until its session ends, then its partitions move.
    let cg = consumer_describe(&broker.addr, group);
    assert!(cg.members.iter().any(|m| m.member_id.as_str() == victim));
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &["s1", "s2"]);
    let cg = consumer_describe(&broker.addr, group);
    assert!(cg.members.iter().all(|m| m.member_id.as_str() != victim));
    assert!(lock(&view).violations.is_empty());
    drop(survivors);
}

fn assigned(consumer: &BaseConsumer) -> BTreeSet<(String, i32)> {
    consumer
        .assignment()
        .map(|tpl| {
            tpl.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect()
        })
        .unwrap_or_default()
}

fn poll_until(consumers: &[&BaseConsumer], what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !done() {
        for c in consumers {
            let _ = c.poll(Duration::from_millis(50));
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
    }
}

fn topic_set(name: &str, n: i32) -> BTreeSet<(String, i32)> {
    (0..n).map(|p| (name.to_string(), p)).collect()
}

#[test]
fn new_partitions_and_topics_matching_a_regex_are_assigned_without_rejoining() {
    let broker = BrokerProcess::start(FLAGS);
    create_topic(&broker.addr, "plain", 2);
    create_topic(&broker.addr, "x-1", 1);
    let consumer = |topics: &[&str]| {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .set("group.id", "growing848")
            .set("group.protocol", "consumer")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create()
            .expect("consumer");
        c.subscribe(topics).expect("subscribe");
        c
    };
    let by_name = consumer(&["plain"]);
    let by_regex = consumer(&["^x-.*"]);
    let both = [&by_name, &by_regex];
    poll_until(&both, "initial assignment", || {
        assigned(&by_name) == topic_set("plain", 2) && assigned(&by_regex) == topic_set("x-1", 1)
    });
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("admin");
    let grown = block_on(admin.create_partitions(
        &[NewPartitions::new("plain", 4)],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create partitions");
    assert!(grown.iter().all(Result::is_ok), "{grown:?}");
    create_topic(&broker.addr, "x-2", 2);
    create_topic(&broker.addr, "y", 1);
    let mut regex_target = topic_set("x-1", 1);
    regex_target.extend(topic_set("x-2", 2));
    poll_until(&both, "new partitions and topics", || {
        assigned(&by_name) == topic_set("plain", 4) && assigned(&by_regex) == regex_target
    });
    let cg = consumer_describe(&broker.addr, "growing848");
    assert_eq!(cg.members.len(), 2, "nobody rejoined: {cg:#?}");
}

#[test]
fn after_a_coordinator_restart_the_group_its_epochs_and_offsets_are_back() {
    let mut broker = BrokerProcess::start(FLAGS);
    let (group, topic) = ("durable848", "ledger");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let mut produced = produce(&broker.addr, topic, PARTITIONS, "a", 120);
    let members: Vec<Member> = ["d1", "d2"]
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec(group, topic, true), &view))
        .collect();
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &["d1", "d2"]);
    wait_for(&view, "records before the restart", |v| {
        v.records.len() >= 120
    });
    let before = consumer_describe(&broker.addr, group);
    drop(members);
    broker.stop();
    broker.restart();
    let after = consumer_describe(&broker.addr, group);
    // The members left on close: the group is there, empty, with its epoch.
    assert_eq!(after.error_code, 0, "{after:#?}");
    assert!(
        after.group_epoch > before.group_epoch,
        "{before:#?} {after:#?}"
    );
    // Offsets are back: new members continue where the old ones committed.
    produced.extend(produce(&broker.addr, topic, PARTITIONS, "b", 120));
    let members: Vec<Member> = ["d3", "d4"]
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec(group, topic, true), &view))
        .collect();
    wait_for(&view, "records after the restart", |v| {
        v.records.len() >= produced.len()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_exactly_once(&view, &produced);
    drop(members);
}

/// `moldau group describe` on a consumer group: epochs, assignor and state, and per
/// member its instance id, client, type, epoch, subscription and partitions (none in
/// flight once the group is stable), in JSON and in text.
#[test]
fn group_describe_shows_members_epochs_subscriptions_and_assignments() {
    let broker = BrokerProcess::start(FLAGS);
    create_topic(&broker.addr, "described", 3);
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", "described848")
        .set("group.protocol", "consumer")
        .set("group.instance.id", "instance-7")
        .set("client.id", "describer")
        .create()
        .expect("consumer");
    member.subscribe(&["described"]).expect("subscribe");
    poll_until(&[&member], "assignment", || {
        assigned(&member) == topic_set("described", 3)
    });
    let cg = consumer_describe(&broker.addr, "described848");
    let describe = |json: bool| {
        let mut args = vec!["-b", &broker.addr, "group", "describe", "described848"];
        if json {
            args.push("--json");
        }
        let out = std::process::Command::new(moldau_e2e::moldau_bin())
            .args(&args)
            .output()
            .expect("moldau group describe");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let doc: serde_json::Value = serde_json::from_str(&describe(true)).expect("json");
    assert_eq!(doc["group_type"], "consumer", "{doc}");
    assert_eq!(doc["state"], "Stable", "{doc}");
    assert_eq!(doc["assignor"], "uniform", "{doc}");
    assert_eq!(doc["group_epoch"], cg.group_epoch, "{doc}");
    assert_eq!(doc["assignment_epoch"], cg.assignment_epoch, "{doc}");
    let m = &doc["members"][0];
    assert_eq!(m["member_id"], cg.members[0].member_id.as_str(), "{doc}");
    assert_eq!(m["group_instance_id"], "instance-7", "{doc}");
    assert_eq!(m["client_id"], "describer", "{doc}");
    assert_eq!(m["member_type"], "consumer", "{doc}");
    assert_eq!(m["member_epoch"], cg.assignment_epoch, "{doc}");
    assert_eq!(
        m["subscribed_topic_names"],
        serde_json::json!(["described"])
    );
    let partitions: BTreeSet<i64> = m["assignment"]
        .as_array()
        .expect("assignment")
        .iter()
        .filter_map(|tp| tp["partition"].as_i64())
        .collect();
    assert_eq!(partitions, BTreeSet::from([0, 1, 2]), "{doc}");
    assert_eq!(m["assignment"], m["target_assignment"], "{doc}");
    for moving in ["assigning", "waiting_on_revocation", "revoking"] {
        assert_eq!(m[moving], serde_json::json!([]), "{moving}: {doc}");
    }
    let text = describe(false);
    let line = text
        .lines()
        .find(|l| l.starts_with(cg.members[0].member_id.as_str()))
        .unwrap_or_else(|| panic!("no member line: {text}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1..3], ["instance-7", "describer"], "{text}");
    let epoch = cg.assignment_epoch.to_string();
    assert_eq!(
        cells[4..7],
        ["consumer", epoch.as_str(), "described"],
        "{text}"
    );
    assert!(text.contains("Group epoch:"), "{text}");
    drop(member);
}
