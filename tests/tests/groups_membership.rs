//! Consumer groups against the real broker with librdkafka members: partitions split
//! between members, rebalances on join, leave and death, cooperative-sticky.

mod groups_support;

use groups_support::*;
use moldau_e2e::BrokerProcess;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;

fn spec<'a>(group: &'a str, topic: &'a str, config: &'a [(&'a str, &'a str)]) -> MemberSpec<'a> {
    MemberSpec {
        group,
        topic,
        commit_each: false,
        config,
    }
}

#[test]
fn three_members_own_every_partition_once_and_process_every_record_once() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("three", "orders");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let names = ["m1", "m2", "m3"];
    let members: Vec<Member> = names
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec(group, topic, &[]), &view))
        .collect();
    let described = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &names);
    assert_eq!(described.protocol_type, "consumer");
    for name in names {
        // The range assignor gives 6 partitions to 3 members two each.
        assert_eq!(lock(&view).owned_by(name).len(), 2, "{name}");
    }
    let assigns_before = lock(&view).assigns.clone();

    const RECORDS: usize = 600;
    let produced = produce(&broker.addr, topic, PARTITIONS, "r", RECORDS);
    wait_for(&view, "every record processed", |v| {
        v.records.len() >= RECORDS
    });
    // Give a duplicate the chance to show up.
    std::thread::sleep(Duration::from_millis(500));

    let v = lock(&view);
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    assert_eq!(v.assigns, assigns_before, "no rebalance while stable");
    assert_eq!(
        v.records.len(),
        RECORDS,
        "each record processed exactly once"
    );
    let by_position: BTreeMap<(i32, i64), &Processed> = v
        .records
        .iter()
        .map(|r| ((r.partition, r.offset), r))
        .collect();
    assert_eq!(by_position.len(), RECORDS, "no record processed twice");
    for (partition, offset, value) in &produced {
        let r = by_position[&(*partition, *offset)];
        assert_eq!(&r.value, value);
        let owner = described.member(&r.member).expect("processor is a member");
        assert!(
            owner.assignment[topic].contains(partition),
            "{} processed partition {partition} it was not assigned",
            r.member
        );
    }
    drop(v);
    for m in members {
        m.close();
    }
}

#[test]
fn joins_rebalance_the_seventh_member_idles_and_a_leaver_hands_over_at_once() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("growing", "events");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    // A long session: partitions that move quickly after a close moved by LeaveGroup.
    let config = [("session.timeout.ms", "45000")];
    let start = |name: &str| Member::start(&broker.addr, name, &spec(group, topic, &config), &view);

    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    for n in ["m1", "m2", "m3"] {
        members.insert(n.into(), start(n));
    }
    wait_for_settled(
        &broker.addr,
        &view,
        group,
        topic,
        PARTITIONS,
        &["m1", "m2", "m3"],
    );

    members.insert("m4".into(), start("m4"));
    let four = ["m1", "m2", "m3", "m4"];
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &four);
    assert!(four.iter().all(|m| !lock(&view).owned_by(m).is_empty()));

    for n in ["m5", "m6", "m7"] {
        members.insert(n.into(), start(n));
    }
    let seven = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"];
    let described = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &seven);
    let idle: Vec<&str> = seven
        .iter()
        .copied()
        .filter(|m| lock(&view).owned_by(m).is_empty())
        .collect();
    assert_eq!(
        idle.len(),
        1,
        "exactly one of 7 members idles: {described:#?}"
    );
    assert!(seven
        .iter()
        .all(|m| idle.contains(m) || lock(&view).owned_by(m).len() == 1));

    // Close a member that owns a partition: its partition moves without waiting for
    // its session (45 s) to run out.
    let leaver = seven
        .iter()
        .copied()
        .find(|m| !idle.contains(m))
        .expect("an owner");
    let moving = lock(&view).owned_by(leaver);
    let left_at = Instant::now();
    members.remove(leaver).expect("running").close();
    let rest: Vec<&str> = seven.iter().copied().filter(|m| *m != leaver).collect();
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &rest);
    let handed_over = left_at.elapsed();
    assert!(
        handed_over < Duration::from_secs(30),
        "partitions {moving:?} of {leaver} took {handed_over:?}: not moved by LeaveGroup"
    );
    assert!(rest.iter().all(|m| lock(&view).owned_by(m).len() == 1));

    let v = lock(&view);
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    assert!(v.errors.is_empty(), "{:#?}", v.errors);
}

#[test]
fn a_killed_member_loses_its_partitions_after_its_session_timeout() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("mortal", "jobs");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let victim = KcatMember::start(&broker.addr, group, topic, "victim");
    let survivors: Vec<Member> = ["s1", "s2"]
        .iter()
        .map(|n| Member::start(&broker.addr, n, &spec(group, topic, &[]), &view))
        .collect();

    // Three members: the survivors own what the victim does not.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let victims_partitions = loop {
        let g = describe_group(&broker.addr, group);
        if let Some(g) = g
            .as_ref()
            .filter(|g| g.state == "Stable" && g.members.len() == 3)
        {
            let held: BTreeSet<i32> = g
                .member("victim")
                .and_then(|m| m.assignment.get(topic))
                .map(|ps| ps.iter().copied().collect())
                .unwrap_or_default();
            let v = lock(&view);
            let rest: BTreeSet<i32> = (0..PARTITIONS).filter(|p| !held.contains(p)).collect();
            let survivors_hold: BTreeSet<i32> = v.owner.keys().copied().collect();
            if !held.is_empty() && survivors_hold == rest {
                break held;
            }
        }
        assert!(Instant::now() < deadline, "no stable group of 3: {g:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };

    victim.kill();
    let killed_at = Instant::now();
    // The session is 6 s and the last heartbeat at most 0.5 s old: for the first
    // 4 s the victim still counts as a member and nobody else may take its partitions.
    while killed_at.elapsed() < Duration::from_secs(4) {
        let v = lock(&view);
        for p in &victims_partitions {
            assert!(
                !v.owner.contains_key(p),
                "partition {p} moved {:?} after the kill, before the session timeout",
                killed_at.elapsed()
            );
        }
        drop(v);
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, &["s1", "s2"]);
    assert!(lock(&view).violations.is_empty());
    drop(survivors);
}

#[test]
fn cooperative_sticky_through_joins_and_leaves_never_owns_a_partition_twice() {
    let broker = BrokerProcess::start(BROKER_FLAGS);
    let (group, topic) = ("cooperative", "stream");
    create_topic(&broker.addr, topic, PARTITIONS);
    let view = new_view();
    let config = [("partition.assignment.strategy", "cooperative-sticky")];
    let start = |name: &str| Member::start(&broker.addr, name, &spec(group, topic, &config), &view);
    let settle = |live: &[&str]| {
        let g = wait_for_settled(&broker.addr, &view, group, topic, PARTITIONS, live);
        assert_eq!(g.protocol, "cooperative-sticky");
    };
    let mut members: BTreeMap<&str, Member> = BTreeMap::new();

    for n in ["c1", "c2", "c3"] {
        members.insert(n, start(n));
    }
    settle(&["c1", "c2", "c3"]);
    let before = lock(&view).owner.clone();

    for n in ["c4", "c5"] {
        members.insert(n, start(n));
    }
    settle(&["c1", "c2", "c3", "c4", "c5"]);
    // Sticky: each of the first three kept at least one of its partitions.
    for n in ["c1", "c2", "c3"] {
        let kept = before
            .iter()
            .filter(|(p, m)| m.as_str() == n && lock(&view).owner.get(p) == Some(m))
            .count();
        assert!(kept >= 1, "{n} kept none of its partitions");
    }

    members.remove("c2").expect("running").close();
    settle(&["c1", "c3", "c4", "c5"]);
    members.insert("c6", start("c6"));
    settle(&["c1", "c3", "c4", "c5", "c6"]);
    members.remove("c1").expect("running").close();
    members.remove("c3").expect("running").close();
    settle(&["c4", "c5", "c6"]);

    let v = lock(&view);
    assert!(v.violations.is_empty(), "{:#?}", v.violations);
    assert!(v.errors.is_empty(), "{:#?}", v.errors);
}
