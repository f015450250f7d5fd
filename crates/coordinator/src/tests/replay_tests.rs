use super::harness::*;
use crate::codes;
use crate::{GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, SeededMemberIds};
use moldau_protocol::kafka::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use moldau_protocol::kafka::messages::{
    DeleteGroupsRequest, GroupId, ListGroupsRequest, OffsetDeleteRequest, TopicName,
};

/// A fresh coordinator (as after a restart) that replays `h`'s log.
fn replay(h: &Harness) -> Harness {
    let config = h.c.config().clone();
    let mut fresh = Harness::new(config.clone());
    fresh.c = GroupCoordinator::with_member_ids(config.clone(), Box::new(SeededMemberIds::new(99)));
    fresh.now = h.now;
    for p in 0..config.offsets_topic_num_partitions {
        fresh.c.begin_loading(p);
        for (offset, (partition, key, value)) in h.log.iter().enumerate() {
            if *partition == p {
                fresh
                    .c
                    .load_record(p, offset as i64, Some(key), value.as_deref());
            }
        }
        let effects = fresh.c.finish_loading(p, fresh.now);
        fresh.apply(effects);
    }
    fresh
}

fn list(h: &mut Harness) -> Vec<(String, String, String)> {
    let id = h.send(5, GroupRequest::ListGroups(ListGroupsRequest::default()));
    let Some(GroupResponse::ListGroups(r)) = h.replies.remove(&id) else {
        panic!("no list answer");
    };
    r.groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str().to_string(),
                g.group_state.as_str().to_string(),
                g.protocol_type.as_str().to_string(),
            )
        })
        .collect()
}

#[test]
fn replaying_the_log_rebuilds_groups_and_offsets_exactly() {
    let mut h = Harness::new(GroupConfig::default());
    // A stable dynamic group with commits.
    let (members, generation) = stable_group(&mut h, "g", 3);
    for (i, m) in members.iter().enumerate() {
        let c = h.commit("g", m, generation, &[("t", i as i32, 100 + i as i64)]);
        assert_eq!(h.error_of(c), 0);
    }
    // Overwritten offsets keep only the latest.
    let c = h.commit("g", &members[0], generation, &[("t", 0, 150)]);
    h.error_of(c);
    // A static group whose member restarted (its new id is in the log).
    let statics: Vec<u64> = ["i0", "i1"]
        .iter()
        .map(|i| h.join_static("s", "", i))
        .collect();
    h.advance_until(60_000, |h| statics.iter().all(|id| h.answered(*id)));
    let replies: Vec<_> = statics.iter().map(|id| h.join_reply(*id)).collect();
    let sgen = replies[0].generation_id;
    let sids: Vec<String> = replies
        .iter()
        .map(|r| r.member_id.as_str().to_string())
        .collect();
    let s1 = h.sync_static("s", &sids[1], "i1", sgen);
    let s0 = h.sync("s", &sids[0], sgen, &[(&sids[0], &[0]), (&sids[1], &[1])]);
    h.sync_reply(s0);
    h.sync_reply(s1);
    let restart = h.join_static("s", "", "i1");
    let new_i1 = h.join_reply(restart).member_id.as_str().to_string();
    // A simple consumer's offsets, one of them deleted.
    let c = h.commit("simple", "", -1, &[("a", 0, 1), ("a", 1, 2), ("b", 0, 3)]);
    h.error_of(c);
    let del = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("simple")))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s("a")))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(1)
            ])]);
    let d = h.send(0, GroupRequest::OffsetDelete(del));
    assert!(h.answered(d));
    // A deleted group.
    let c = h.commit("gone", "", -1, &[("a", 0, 1)]);
    h.error_of(c);
    let d = h.send(
        2,
        GroupRequest::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("gone"))]),
        ),
    );
    assert!(h.answered(d));
    // A group that emptied out but keeps its offsets.
    let (em, egen) = stable_group(&mut h, "emptied", 1);
    let c = h.commit("emptied", &em[0], egen, &[("t", 0, 8)]);
    h.error_of(c);
    assert_eq!(h.leave("emptied", &[(&em[0], None)]), vec![0]);

    let mut r = replay(&h);
    let groups = list(&mut h);
    assert_eq!(list(&mut r), groups);
    assert!(groups.iter().all(|(id, _, _)| id != "gone"));
    for (id, _, _) in &groups {
        assert_eq!(r.describe(id), h.describe(id), "group {id}");
        assert_eq!(r.fetch(id, None), h.fetch(id, None), "offsets of {id}");
    }
    assert_eq!(r.fetch("g", None).1[0], ("t".into(), 0, 150, 0));
    assert_eq!(r.fetch("simple", None).1.len(), 2);
    assert_eq!(r.describe("gone").group_state.as_str(), "Dead");
    // Members carry on with the same generation after the restart, no rebalance.
    for m in &members {
        assert_eq!(r.heartbeat("g", m, generation), codes::NONE);
    }
    assert_eq!(r.heartbeat_static("s", &new_i1, "i1", sgen), codes::NONE);
    assert_eq!(
        r.heartbeat_static("s", &sids[1], "i1", sgen),
        codes::FENCED_INSTANCE_ID
    );
    // And SyncGroup in the stable group still hands out the stored assignment.
    let sync = r.sync("g", &members[1], generation, &[]);
    let a = r.sync_reply(sync);
    assert_eq!(
        crate::consumer_protocol::assignment_partitions(&a.assignment),
        Ok(vec![("t".to_string(), vec![1])])
    );
}

#[test]
fn members_that_do_not_return_after_a_restart_expire() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    let mut r = replay(&h);
    for _ in 0..2 {
        r.advance(4_000);
        assert_eq!(r.heartbeat("g", &members[0], generation), codes::NONE);
    }
    assert_eq!(r.state("g"), "Stable");
    r.advance(4_000);
    assert_eq!(r.state("g"), "PreparingRebalance");
    assert_eq!(
        r.heartbeat("g", &members[1], generation),
        codes::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn undecodable_records_are_skipped_during_replay() {
    let mut h = Harness::quick();
    let c = h.commit("simple", "", -1, &[("a", 0, 1)]);
    h.error_of(c);
    let p = h.c.coordinator_partition("simple");
    h.log.push((p, bytes::Bytes::from_static(&[0, 1, 0]), None));
    h.log.push((
        p,
        bytes::Bytes::from_static(&[0, 9, 0, 0]),
        Some(bytes::Bytes::from_static(&[1])),
    ));
    let mut r = replay(&h);
    assert_eq!(r.fetch("simple", None).1, vec![("a".into(), 0, 1, 0)]);
}

#[test]
fn a_group_deleted_with_a_commit_in_flight_stays_deleted_after_replay() {
    let mut h = Harness::quick();
    let c = h.commit("simple", "", -1, &[("a", 0, 1)]);
    assert_eq!(h.error_of(c), 0);
    h.auto_complete = false;
    // The commit's record is appended but not durable yet when the delete comes.
    let in_flight = h.commit("simple", "", -1, &[("a", 1, 7)]);
    let r = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("simple"))]);
    let delete = h.send(2, GroupRequest::DeleteGroups(r));
    h.complete_next(0);
    h.complete_next(0);
    assert_eq!(h.error_of(in_flight), 0);
    let Some(GroupResponse::DeleteGroups(d)) = h.replies.remove(&delete) else {
        panic!("no delete answer");
    };
    assert_eq!(d.results[0].error_code, codes::NONE);
    // Both offsets and the group's metadata get tombstones, after the commit record.
    let p = h.c.coordinator_partition("simple");
    let last_commit = h
        .log
        .iter()
        .rposition(|(_, _, v)| v.is_some())
        .expect("commit records");
    let tombstones = h.log[last_commit..]
        .iter()
        .filter(|(partition, _, v)| *partition == p && v.is_none())
        .count();
    assert_eq!(tombstones, 3, "two offsets and the group metadata");
    let mut r = replay(&h);
    assert_eq!(r.fetch("simple", None).1, vec![]);
    assert!(list(&mut r).iter().all(|(id, _, _)| id != "simple"));
}

#[test]
fn offsets_of_empty_and_simple_groups_expire_but_subscribed_ones_do_not() {
    let config = GroupConfig {
        offsets_retention_minutes: 1,
        offsets_retention_check_interval_ms: 10_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::new(config);
    let (members, generation) = stable_group(&mut h, "active", 1);
    let (em, egen) = stable_group(&mut h, "emptied", 1);
    let c = h.commit(
        "active",
        &members[0],
        generation,
        &[("t", 0, 1), ("unsubscribed", 0, 2)],
    );
    h.error_of(c);
    let c = h.commit("emptied", &em[0], egen, &[("t", 0, 3)]);
    h.error_of(c);
    let c = h.commit("simple", "", -1, &[("t", 0, 4)]);
    h.error_of(c);
    let start = h.now;
    let beat =
        |h: &mut Harness| assert_eq!(h.heartbeat("active", &members[0], generation), codes::NONE);
    // "emptied" keeps its member for 30 s more, then empties.
    while h.now < start + 30_000 {
        h.advance(5_000);
        beat(&mut h);
        assert_eq!(h.heartbeat("emptied", &em[0], egen), codes::NONE);
    }
    assert_eq!(h.leave("emptied", &[(&em[0], None)]), vec![0]);
    // After one retention period: commit-time based offsets are gone.
    while h.now < start + 70_000 {
        h.advance(5_000);
        beat(&mut h);
    }
    assert_eq!(
        h.fetch("active", None).1,
        vec![("t".into(), 0, 1, 0)],
        "subscribed topic kept"
    );
    assert_eq!(
        h.state("simple"),
        "Dead",
        "simple group died with its last offset"
    );
    assert_eq!(
        h.fetch("emptied", None).1.len(),
        1,
        "retention counts from emptying"
    );
    while h.now < start + 100_000 {
        h.advance(5_000);
        beat(&mut h);
    }
    assert_eq!(h.state("emptied"), "Dead");
    assert_eq!(h.fetch("active", None).1.len(), 1);
    // Replay agrees: the tombstones made it to the log.
    let mut r = replay(&h);
    assert_eq!(r.state("simple"), "Dead");
    assert_eq!(r.state("emptied"), "Dead");
    assert_eq!(r.fetch("active", None).1, vec![("t".into(), 0, 1, 0)]);
}
