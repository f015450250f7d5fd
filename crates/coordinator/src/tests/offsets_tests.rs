use super::harness::*;
use crate::codes;
use crate::{GroupConfig, GroupRequest, GroupResponse};
use moldau_protocol::kafka::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use moldau_protocol::kafka::messages::{
    GroupId, OffsetDeleteRequest, OffsetFetchRequest, TopicName,
};

#[test]
fn commit_is_answered_and_visible_only_once_durable() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    h.auto_complete = false;
    let c = h.commit("g", &members[0], generation, &[("t", 0, 42), ("t", 1, 7)]);
    assert!(!h.answered(c));
    let (_, before) = h.fetch("g", Some(&[("t", &[0, 1])]));
    assert_eq!(before, vec![("t".into(), 0, -1, 0), ("t".into(), 1, -1, 0)]);
    h.complete_next(0);
    assert_eq!(h.error_of(c), codes::NONE);
    let (error, after) = h.fetch("g", Some(&[("t", &[0, 1, 2])]));
    assert_eq!(error, 0);
    assert_eq!(
        after,
        vec![
            ("t".into(), 0, 42, 0),
            ("t".into(), 1, 7, 0),
            ("t".into(), 2, -1, 0)
        ]
    );
    // Metadata and leader epoch come back as committed.
    let r = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(None);
    let id = h.send(7, GroupRequest::OffsetFetch(r));
    let Some(GroupResponse::OffsetFetch(r)) = h.replies.remove(&id) else {
        panic!("no fetch answer");
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.metadata.as_ref().map(|m| m.as_str()), Some("meta"));
    assert_eq!(p.committed_leader_epoch, 3);
    assert_eq!(
        r.topics[0].partitions.len(),
        2,
        "null topics = every committed offset"
    );
}

#[test]
fn commits_from_outside_the_generation_are_rejected() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    let c = h.commit("g", &members[0], generation - 1, &[("t", 0, 1)]);
    assert_eq!(h.error_of(c), codes::ILLEGAL_GENERATION);
    let c = h.commit("g", "stranger", generation, &[("t", 0, 1)]);
    assert_eq!(h.error_of(c), codes::UNKNOWN_MEMBER_ID);
    // Generation -1 without a member id: only while the group is empty.
    let c = h.commit("g", "", -1, &[("t", 0, 1)]);
    assert_eq!(h.error_of(c), codes::UNKNOWN_MEMBER_ID);
    let c = h.commit("other-group", "x", 3, &[("t", 0, 1)]);
    assert_eq!(h.error_of(c), codes::ILLEGAL_GENERATION);
    // Between JoinGroup and SyncGroup the member is told to finish the rebalance.
    let r0 = h.join("g", &members[0]);
    let r1 = h.join("g", &members[1]);
    let next = h.join_reply(r0).generation_id;
    h.join_reply(r1);
    let c = h.commit("g", &members[1], next, &[("t", 0, 1)]);
    assert_eq!(h.error_of(c), codes::REBALANCE_IN_PROGRESS);
    // While preparing a rebalance, the current generation may still commit.
    let (_, g2) = (0, next);
    let s0 = h.sync(
        "g",
        &members[0],
        g2,
        &[(&members[0], &[0]), (&members[1], &[1])],
    );
    h.sync_reply(s0);
    let _ = h.join_new("g");
    let c = h.commit("g", &members[1], g2, &[("t", 1, 5)]);
    assert_eq!(h.error_of(c), codes::NONE);
}

#[test]
fn simple_consumer_commits_with_generation_minus_one() {
    let mut h = Harness::quick();
    let c = h.commit("simple", "", -1, &[("t", 3, 99)]);
    assert_eq!(h.error_of(c), codes::NONE);
    assert_eq!(
        h.fetch("simple", Some(&[("t", &[3])])).1,
        vec![("t".into(), 3, 99, 0)]
    );
    let d = h.describe("simple");
    assert_eq!(d.group_state.as_str(), "Empty");
    assert_eq!(d.protocol_type.as_str(), "");
}

#[test]
fn oversized_metadata_is_refused_per_partition() {
    let mut h = Harness::new(GroupConfig {
        offset_metadata_max_bytes: 3,
        ..GroupConfig::default()
    });
    let mut r = Harness::commit_request("simple", "", -1, &[("t", 0, 5), ("t", 1, 6)]);
    r.topics[0].partitions[1].committed_metadata = Some(s("ok"));
    let id = h.send(8, GroupRequest::OffsetCommit(r));
    let Some(GroupResponse::OffsetCommit(r)) = h.replies.remove(&id) else {
        panic!("no commit answer");
    };
    let errors: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(errors, vec![codes::OFFSET_METADATA_TOO_LARGE, codes::NONE]);
    assert_eq!(h.fetch("simple", None).1, vec![("t".into(), 1, 6, 0)]);
}

#[test]
fn failed_commit_write_reports_the_mapped_error_and_changes_nothing() {
    let mut h = Harness::quick();
    h.auto_complete = false;
    let c = h.commit("simple", "", -1, &[("t", 0, 5)]);
    h.complete_next(codes::NOT_LEADER_OR_FOLLOWER);
    assert_eq!(h.error_of(c), codes::NOT_COORDINATOR);
    assert_eq!(
        h.fetch("simple", Some(&[("t", &[0])])).1,
        vec![("t".into(), 0, -1, 0)]
    );
}

#[test]
fn commits_completing_out_of_order_never_roll_an_offset_back() {
    let mut h = Harness::quick();
    h.auto_complete = false;
    let first = h.commit("simple", "", -1, &[("t", 0, 10)]);
    let second = h.commit("simple", "", -1, &[("t", 0, 20)]);
    // The later append becomes durable first.
    let newer = h.pending.remove(1);
    let effects = h.c.append_completed(h.now, newer, 0);
    h.apply(effects);
    h.complete_next(0);
    assert_eq!(h.error_of(first), codes::NONE);
    assert_eq!(h.error_of(second), codes::NONE);
    assert_eq!(h.fetch("simple", None).1, vec![("t".into(), 0, 20, 0)]);
}

#[test]
fn fetch_of_several_groups_at_once() {
    let mut h = Harness::quick();
    let c = h.commit("a", "", -1, &[("t", 0, 1)]);
    h.error_of(c);
    let c = h.commit("b", "", -1, &[("u", 2, 3)]);
    h.error_of(c);
    let group = |id: &str, topics: Option<Vec<OffsetFetchRequestTopics>>| {
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(id)))
            .with_topics(topics)
    };
    let r = OffsetFetchRequest::default().with_groups(vec![
        group("a", None),
        group(
            "b",
            Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s("u")))
                .with_partition_indexes(vec![2, 9])]),
        ),
        group("", None),
    ]);
    let id = h.send(9, GroupRequest::OffsetFetch(r));
    let Some(GroupResponse::OffsetFetch(r)) = h.replies.remove(&id) else {
        panic!("no fetch answer");
    };
    assert_eq!(r.groups.len(), 3);
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 1);
    let b: Vec<i64> = r.groups[1].topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(b, vec![3, -1]);
    assert!(r.groups[2].topics.is_empty());
    assert_eq!(
        r.groups[2].error_code, 0,
        "the empty group id is valid for fetches"
    );
}

fn offset_delete(
    h: &mut Harness,
    group: &str,
    topics: &[(&str, i32)],
) -> (i16, Vec<(String, i16)>) {
    let r = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(
            topics
                .iter()
                .map(|(t, p)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(*p)
                        ])
                })
                .collect(),
        );
    let id = h.send(0, GroupRequest::OffsetDelete(r));
    let Some(GroupResponse::OffsetDelete(r)) = h.replies.remove(&id) else {
        panic!("no offset delete answer");
    };
    let parts = r
        .topics
        .iter()
        .map(|t| (t.name.as_str().to_string(), t.partitions[0].error_code))
        .collect();
    (r.error_code, parts)
}

#[test]
fn offset_delete_refuses_topics_an_active_group_subscribes_to() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 1);
    let c = h.commit("g", &members[0], generation, &[("t", 0, 5), ("old", 0, 9)]);
    h.error_of(c);
    let (error, parts) = offset_delete(&mut h, "g", &[("t", 0), ("old", 0)]);
    assert_eq!(error, 0);
    assert_eq!(
        parts,
        vec![
            ("t".into(), codes::GROUP_SUBSCRIBED_TO_TOPIC),
            ("old".into(), codes::NONE)
        ]
    );
    assert_eq!(h.fetch("g", None).1, vec![("t".into(), 0, 5, 0)]);
    assert_eq!(
        offset_delete(&mut h, "nope", &[("t", 0)]).0,
        codes::GROUP_ID_NOT_FOUND
    );
    // Once empty, anything may go; the group dies with its last offset.
    assert_eq!(h.leave("g", &[(&members[0], None)]), vec![codes::NONE]);
    assert_eq!(
        offset_delete(&mut h, "g", &[("t", 0)]),
        (0, vec![("t".into(), codes::NONE)])
    );
    assert_eq!(h.state("g"), "Dead");
}
