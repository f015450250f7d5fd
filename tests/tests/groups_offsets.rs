//! Committed offsets, static membership, auto.offset.reset and group listings against
//! the real broker with librdkafka members.

mod groups_support;

use groups_support::*;
use moldau_e2e::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;

/// Runs `names` as committing members of `group` until they processed `expected`
/// records, closes them, and returns the values they processed.
fn consume_batch(
    addr: &str,
    group: &str,
    topic: &str,
    names: &[&str],
    expected: usize,
) -> Vec<String> {
    let view = new_view();
    let spec = MemberSpec {
        group,
        topic,
        commit_each: true,
        config: &[],
    };
    let members: Vec<Member> = names
        .iter()
        .map(|n| Member::start(addr, n, &spec, &view))
        .collect();
    wait_for(&view, "the batch processed", |v| {
        v.records.len() >= expected
    });
    // Let anything read twice arrive too.
    std::thread::sleep(Duration::from_millis(500));
    for m in members {
        m.close();
    }
    let v = lock(&view);
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    assert!(v.errors.is_empty(), "{:#?}", v.errors);
    v.records.iter().map(|r| r.value.clone()).collect()
}

fn values(produced: &[(i32, i64, String)]) -> BTreeSet<String> {
    produced.iter().map(|(_, _, v)| v.clone()).collect()
}

#[test]
fn new_members_resume_from_committed_offsets_also_after_a_broker_restart() {
    let mut broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("ledger-readers", "ledger");
    create_topic(&broker.addr, topic, PARTITIONS);
    const BATCH: usize = 300;
    let per_partition = (BATCH / PARTITIONS as usize) as i64;

    let first = produce(&broker.addr, topic, PARTITIONS, "a", BATCH);
    let seen = consume_batch(&broker.addr, group, topic, &["a1", "a2", "a3"], BATCH);
    assert_eq!(seen.len(), BATCH);
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        values(&first)
    );
    assert_eq!(
        committed(&broker.addr, group, topic, PARTITIONS),
        vec![per_partition; PARTITIONS as usize]
    );

    // New members (auto.offset.reset=earliest) read only what came after the commits.
    let second = produce(&broker.addr, topic, PARTITIONS, "b", BATCH);
    let seen = consume_batch(&broker.addr, group, topic, &["b1", "b2", "b3"], BATCH);
    assert_eq!(seen.len(), BATCH, "nothing read twice");
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        values(&second)
    );

    let third = produce(&broker.addr, topic, PARTITIONS, "c", BATCH);
    broker.stop();
    broker.restart();
    let g = describe_group(&broker.addr, group).expect("group survives the restart");
    assert_eq!(g.state, "Empty");
    assert_eq!(
        committed(&broker.addr, group, topic, PARTITIONS),
        vec![2 * per_partition; PARTITIONS as usize],
        "offsets survive the restart"
    );
    let seen = consume_batch(&broker.addr, group, topic, &["c1", "c2", "c3"], BATCH);
    assert_eq!(seen.len(), BATCH, "nothing read twice after the restart");
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        values(&third)
    );
}

#[test]
fn a_static_member_restarted_within_its_session_gets_its_partitions_back_without_rebalance() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("statics", "sensor");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let start = |name: &str| {
        let config = [("group.instance.id", name), ("session.timeout.ms", "30000")];
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
    let before = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &names);
    let (assigns, revokes) = {
        let v = lock(&view);
        (v.assigns.clone(), v.revokes.clone())
    };
    let s2_partitions = lock(&view).owned_by("s2");

    // A static member does not leave on close: the group keeps it, still Stable.
    members.remove("s2").expect("running").close();
    let g = describe_group(&broker.addr, group).expect("group");
    assert_eq!(g.state, "Stable");
    assert_eq!(g.members.len(), 3, "the closed static member stays: {g:#?}");

    members.insert("s2", start("s2"));
    wait_for(&view, "s2 back with its partitions", |v| {
        v.assigns.get("s2") == Some(&(assigns["s2"] + 1)) && v.owned_by("s2") == s2_partitions
    });
    // Several heartbeats later, still no rebalance reached the other members.
    std::thread::sleep(Duration::from_secs(3));
    let after = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &names);
    let v = lock(&view);
    for other in ["s1", "s3"] {
        assert_eq!(
            v.assigns[other], assigns[other],
            "{other} was not reassigned"
        );
        assert_eq!(
            v.revokes.get(other),
            revokes.get(other),
            "{other} lost nothing"
        );
        assert_eq!(
            after.member(other).map(|m| &m.member_id),
            before.member(other).map(|m| &m.member_id)
        );
        assert_eq!(
            after.member(other).map(|m| &m.assignment),
            before.member(other).map(|m| &m.assignment)
        );
    }
    assert_eq!(
        after.member("s2").map(|m| &m.assignment),
        before.member("s2").map(|m| &m.assignment),
        "same assignment"
    );
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
}

#[test]
fn auto_offset_reset_earliest_and_latest_apply_only_without_a_committed_offset() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let topic = "resets";
    create_topic(&broker.addr, topic, 2);
    let old = produce(&broker.addr, topic, 2, "old", 20);

    // earliest: a new group reads from the log start.
    let view = new_view();
    let spec = MemberSpec {
        group: "from-earliest",
        topic,
        commit_each: false,
        config: &[("auto.offset.reset", "earliest")],
    };
    let early = Member::start(&broker.addr, "early", &spec, &view);
    wait_for(&view, "old records", |v| v.records.len() >= old.len());
    early.close();
    let got: BTreeSet<String> = lock(&view)
        .records
        .iter()
        .map(|r| r.value.clone())
        .collect();
    assert_eq!(got, values(&old));

    // latest: a new group reads only what is produced after it started fetching.
    let view = new_view();
    let spec = MemberSpec {
        group: "from-latest",
        topic,
        commit_each: true,
        config: &[("auto.offset.reset", "latest")],
    };
    let late = Member::start(&broker.addr, "late", &spec, &view);
    wait_for(&view, "assignment", |v| v.owned_by("late").len() == 2);
    // Its fetch position is resolved asynchronously: produce until records arrive.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut fresh = Vec::new();
    while lock(&view).records.is_empty() {
        assert!(
            Instant::now() < deadline,
            "latest consumer received nothing"
        );
        fresh.extend(produce(
            &broker.addr,
            topic,
            2,
            &format!("new{}", fresh.len()),
            2,
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    late.close();
    let got: Vec<String> = lock(&view)
        .records
        .iter()
        .map(|r| r.value.clone())
        .collect();
    assert!(
        got.iter().all(|v| v.starts_with("new")),
        "latest read old records: {got:?}"
    );

    // With a committed offset, neither policy applies: latest resumes from the commit.
    let between = produce(&broker.addr, topic, 2, "between", 10);
    let view = new_view();
    let again = Member::start(&broker.addr, "late-again", &spec, &view);
    wait_for(&view, "records after the commit", |v| {
        v.records.len() >= between.len()
    });
    std::thread::sleep(Duration::from_millis(500));
    again.close();
    // Everything after the last commit, and nothing before it.
    let got: BTreeSet<String> = lock(&view)
        .records
        .iter()
        .map(|r| r.value.clone())
        .collect();
    assert_eq!(got, values(&between));
}

#[test]
fn list_and_describe_groups_show_state_members_clients_hosts_and_assignments() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let topic = "listed";
    create_topic(&broker.addr, topic, PARTITIONS);

    // An Empty group that only committed offsets (assign, not subscribe).
    let simple: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", "committer")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(7))
        .expect("offset");
    simple
        .commit(&tpl, CommitMode::Sync)
        .expect("simple commit");
    assert_eq!(committed(&broker.addr, "committer", topic, 1), vec![7]);

    // A Stable group of two subscribed members.
    let view = new_view();
    let spec = MemberSpec {
        group: "watchers",
        topic,
        commit_each: false,
        config: &[],
    };
    let members: Vec<Member> = ["w1", "w2"]
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec, &view))
        .collect();
    let g = wait_for_settled(
        &broker.addr,
        &view,
        "watchers",
        topic,
        PARTITIONS,
        &["w1", "w2"],
    );
    assert_eq!(g.protocol_type, "consumer");
    assert_eq!(g.protocol, "range");
    let mut ids = BTreeSet::new();
    for name in ["w1", "w2"] {
        let m = g.member(name).expect("member listed by client id");
        assert_eq!(m.client_host, "/127.0.0.1");
        assert!(
            m.member_id.starts_with(name),
            "member id {} from client id",
            m.member_id
        );
        assert_eq!(m.assignment[topic].len(), 3);
        ids.insert(m.member_id.clone());
    }
    assert_eq!(ids.len(), 2);

    // ListGroups (every group) with the states DescribeGroups reports.
    let lister: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("consumer");
    let list = lister
        .fetch_group_list(None, Duration::from_secs(10))
        .expect("group list");
    let states: BTreeMap<String, String> = list
        .groups()
        .iter()
        .map(|g| (g.name().to_string(), g.state().to_string()))
        .collect();
    assert_eq!(
        states.get("watchers").map(String::as_str),
        Some("Stable"),
        "{states:?}"
    );
    assert_eq!(
        states.get("committer").map(String::as_str),
        Some("Empty"),
        "{states:?}"
    );
    assert!(describe_group(&broker.addr, "nobody").is_none_or(|g| g.state == "Dead"));
    drop(members);
    let g = wait_for_stable_state(&broker.addr, "watchers", "Empty");
    assert!(g.members.is_empty());
}

/// Waits until DescribeGroups shows `group` in `state`.
fn wait_for_stable_state(addr: &str, group: &str, state: &str) -> DescribedGroup {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let g = describe_group(addr, group);
        if let Some(g) = g.as_ref().filter(|g| g.state == state) {
            return g.clone();
        }
        assert!(Instant::now() < deadline, "{group} never {state}: {g:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn acknowledged_commits_survive_kill_9() {
    let mut broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("durable", "payments");
    create_topic(&broker.addr, topic, 3);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut last = vec![-1i64; 3];
    for i in 1..=300i64 {
        let p = (i % 3) as i32;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(i))
            .expect("offset");
        consumer
            .commit(&tpl, CommitMode::Sync)
            .expect("acknowledged");
        last[p as usize] = i;
    }
    drop(consumer);
    broker.kill();
    broker.restart();
    assert_eq!(committed(&broker.addr, group, topic, 3), last);
}

#[test]
fn live_members_carry_on_across_a_broker_restart() {
    let mut broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("survivors", "journal");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let spec = MemberSpec {
        group,
        topic,
        commit_each: true,
        config: &[("session.timeout.ms", "30000")],
    };
    let names = ["l1", "l2"];
    let members: Vec<Member> = names
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec, &view))
        .collect();
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &names);
    let before = produce(&broker.addr, topic, PARTITIONS, "before", 120);
    wait_for(&view, "records before the restart", |v| {
        v.records.len() >= 120
    });

    broker.stop();
    broker.restart();
    let after = produce(&broker.addr, topic, PARTITIONS, "after", 120);
    wait_for(&view, "records after the restart", |v| {
        v.records.len() >= 240
    });
    std::thread::sleep(Duration::from_millis(500));
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &names);
    for m in members {
        m.close();
    }
    let v = lock(&view);
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    let got: Vec<String> = v.records.iter().map(|r| r.value.clone()).collect();
    let mut expected = values(&before);
    expected.extend(values(&after));
    assert_eq!(got.len(), 240, "nothing processed twice");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        committed(&broker.addr, group, topic, PARTITIONS),
        vec![40; PARTITIONS as usize]
    );
}
