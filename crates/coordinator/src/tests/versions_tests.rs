//! Every API version the message crate knows gets a response that encodes in that
//! version (the harness checks each reply); old versions get old-style answers.

use super::harness::*;
use crate::codes;
use crate::{GroupConfig, GroupRequest, GroupResponse};
use moldau_protocol::kafka::messages::*;

#[test]
fn join_sync_heartbeat_leave_in_every_version() {
    for version in 0..=9i16 {
        let mut h = Harness::quick();
        let group = format!("g{version}");
        let req = Harness::join_request(&group, "", None, &[("range", &["t"])]);
        let first = h.send(version, GroupRequest::JoinGroup(req.clone()));
        let mut r = h.join_reply(first);
        if version >= 4 {
            assert_eq!(r.error_code, codes::MEMBER_ID_REQUIRED, "v{version}");
            let again = h.send(
                version,
                GroupRequest::JoinGroup(req.with_member_id(r.member_id.clone())),
            );
            r = h.join_reply(again);
        }
        assert_eq!(r.error_code, 0, "join v{version}");
        let member = r.member_id.as_str().to_string();
        let generation = r.generation_id;
        let sync_version = version.min(5);
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(generation)
            .with_member_id(s(&member));
        let id = h.send(sync_version, GroupRequest::SyncGroup(sync));
        assert_eq!(h.error_of(id), 0, "sync v{sync_version}");
        let hb = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(generation)
            .with_member_id(s(&member));
        let id = h.send(version.min(4), GroupRequest::Heartbeat(hb));
        assert_eq!(h.error_of(id), 0);
        let leave_version = version.min(5);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s(&member))
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_member_id(s(&member))
        };
        let id = h.send(leave_version, GroupRequest::LeaveGroup(leave));
        let Some(GroupResponse::LeaveGroup(r)) = h.replies.remove(&id) else {
            panic!("no leave answer");
        };
        assert_eq!(r.error_code, 0);
        assert_eq!(r.members.len(), usize::from(leave_version >= 3));
        // Errors encode too (old versions have no nullable protocol name).
        let bad = Harness::join_request(&group, "nobody", None, &[("range", &["t"])]);
        let id = h.send(version, GroupRequest::JoinGroup(bad));
        assert_eq!(h.error_of(id), codes::UNKNOWN_MEMBER_ID);
    }
}

#[test]
fn offset_apis_in_every_version() {
    let mut h = Harness::quick();
    let elsewhere = (0..1000)
        .map(|i| format!("x{i}"))
        .find(|g| h.c.coordinator_partition(g) != h.c.coordinator_partition("g"))
        .unwrap_or_else(|| panic!("no group on another partition"));
    let _ = h.c.resign(h.c.coordinator_partition(&elsewhere));
    for version in 2..=9i16 {
        let r = Harness::commit_request("g", "", -1, &[("t", 0, i64::from(version))]);
        let id = h.send(version, GroupRequest::OffsetCommit(r));
        assert_eq!(h.error_of(id), 0, "commit v{version}");
    }
    // v2-v4 with an explicit retention write value v1 with an expiry.
    let mut r = Harness::commit_request("g", "", -1, &[("t", 1, 5)]);
    r.retention_time_ms = 60_000;
    let id = h.send(3, GroupRequest::OffsetCommit(r));
    assert_eq!(h.error_of(id), 0);
    let (_, key, value) = h
        .log
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("nothing logged"));
    assert!(crate::describe_record(&key, value.as_deref()).contains("expireTimestamp"));
    for version in 1..=7i16 {
        for group in ["g", elsewhere.as_str()] {
            let r = OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_indexes(vec![0]),
                ]));
            let id = h.send(version, GroupRequest::OffsetFetch(r));
            let Some(GroupResponse::OffsetFetch(r)) = h.replies.remove(&id) else {
                panic!("no fetch answer");
            };
            if group == "g" {
                assert_eq!(r.topics[0].partitions[0].committed_offset, 9);
            } else if version < 2 {
                assert_eq!(r.topics[0].partitions[0].error_code, codes::NOT_COORDINATOR);
            } else {
                assert_eq!(r.error_code, codes::NOT_COORDINATOR);
                assert!(r.topics.is_empty());
            }
        }
    }
    for version in 8..=9i16 {
        let r = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(GroupId(s("g"))),
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(&elsewhere))),
        ]);
        let id = h.send(version, GroupRequest::OffsetFetch(r));
        let Some(GroupResponse::OffsetFetch(r)) = h.replies.remove(&id) else {
            panic!("no fetch answer");
        };
        assert_eq!(r.groups[1].error_code, codes::NOT_COORDINATOR);
    }
}

#[test]
fn admin_apis_in_every_version() {
    let mut h = Harness::new(GroupConfig::default());
    let _ = stable_group(&mut h, "g", 2);
    let _ = h.join_static("s", "", "inst");
    for version in 0..=5i16 {
        let id = h.send(
            version,
            GroupRequest::ListGroups(ListGroupsRequest::default()),
        );
        assert_eq!(h.error_of(id), 0);
    }
    for version in 0..=6i16 {
        let r = DescribeGroupsRequest::default().with_groups(vec![
            GroupId(s("g")),
            GroupId(s("s")),
            GroupId(s("none")),
        ]);
        let id = h.send(version, GroupRequest::DescribeGroups(r));
        assert!(h.answered(id));
    }
    for version in 0..=2i16 {
        let r = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("none"))]);
        let id = h.send(version, GroupRequest::DeleteGroups(r));
        assert!(h.answered(id));
    }
}
