use super::harness::*;
use crate::codes;
use crate::{GroupConfig, GroupRequest, GroupResponse};
use moldau_protocol::kafka::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};

fn list(h: &mut Harness, states: &[&str]) -> (i16, Vec<(String, String)>) {
    let r = ListGroupsRequest::default().with_states_filter(states.iter().map(|x| s(x)).collect());
    let id = h.send(4, GroupRequest::ListGroups(r));
    let Some(GroupResponse::ListGroups(r)) = h.replies.remove(&id) else {
        panic!("no list answer");
    };
    (
        r.error_code,
        r.groups
            .iter()
            .map(|g| {
                (
                    g.group_id.as_str().to_string(),
                    g.group_state.as_str().to_string(),
                )
            })
            .collect(),
    )
}

fn delete(h: &mut Harness, groups: &[&str]) -> Vec<i16> {
    let r = DeleteGroupsRequest::default()
        .with_groups_names(groups.iter().map(|g| GroupId(s(g))).collect());
    let id = h.send(2, GroupRequest::DeleteGroups(r));
    let Some(GroupResponse::DeleteGroups(r)) = h.replies.remove(&id) else {
        panic!("no delete answer");
    };
    r.results.iter().map(|r| r.error_code).collect()
}

#[test]
fn list_groups_filters_by_state_case_insensitively() {
    let mut h = Harness::new(GroupConfig::default());
    let _ = stable_group(&mut h, "busy", 1);
    let c = h.commit("idle", "", -1, &[("t", 0, 1)]);
    h.error_of(c);
    let (error, all) = list(&mut h, &[]);
    assert_eq!(error, 0);
    assert_eq!(
        all,
        vec![
            ("busy".into(), "Stable".into()),
            ("idle".into(), "Empty".into())
        ]
    );
    assert_eq!(
        list(&mut h, &["stable"]).1,
        vec![("busy".into(), "Stable".into())]
    );
    assert_eq!(
        list(&mut h, &["Empty", "Dead"]).1,
        vec![("idle".into(), "Empty".into())]
    );
}

#[test]
fn describe_unknown_group_says_dead_or_not_found() {
    let mut h = Harness::quick();
    let d = h.describe("ghost");
    assert_eq!((d.error_code, d.group_state.as_str()), (0, "Dead"));
    let r = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("ghost"))]);
    let id = h.send(6, GroupRequest::DescribeGroups(r));
    let Some(GroupResponse::DescribeGroups(r)) = h.replies.remove(&id) else {
        panic!("no describe answer");
    };
    assert_eq!(r.groups[0].error_code, codes::GROUP_ID_NOT_FOUND);
    assert!(r.groups[0].error_message.is_some());
}

#[test]
fn describe_hides_metadata_while_rebalancing() {
    let mut h = Harness::new(GroupConfig::default());
    let _ = h.join_new("g");
    let d = h.describe("g");
    assert_eq!(d.group_state.as_str(), "PreparingRebalance");
    assert_eq!(d.members.len(), 1);
    assert!(d.members[0].member_metadata.is_empty());
    assert_eq!(d.protocol_data.as_str(), "");
    assert_eq!(d.protocol_type.as_str(), "consumer");
}

#[test]
fn delete_groups_only_when_empty_and_writes_tombstones() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 1);
    let c = h.commit("g", &members[0], generation, &[("t", 0, 5)]);
    h.error_of(c);
    assert_eq!(
        delete(&mut h, &["g", "ghost"]),
        vec![codes::NON_EMPTY_GROUP, codes::GROUP_ID_NOT_FOUND]
    );
    assert_eq!(h.leave("g", &[(&members[0], None)]), vec![codes::NONE]);
    let before = h.log.len();
    h.auto_complete = false;
    let r = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    let id = h.send(2, GroupRequest::DeleteGroups(r));
    assert!(!h.answered(id), "answered once the tombstones are durable");
    h.complete_next(0);
    assert!(h.answered(id));
    let tombstones: Vec<_> = h.log[before..]
        .iter()
        .filter(|(_, _, v)| v.is_none())
        .collect();
    assert_eq!(tombstones.len(), 2, "one offset and the group metadata");
    assert_eq!(h.state("g"), "Dead");
    assert_eq!(
        h.fetch("g", Some(&[("t", &[0])])).1,
        vec![("t".into(), 0, -1, 0)]
    );
}

#[test]
fn requests_for_partitions_elsewhere_or_loading() {
    let mut h = Harness::quick();
    let partition = h.c.coordinator_partition("g");
    let _ = h.c.resign(partition);
    let id = h.join("g", "");
    assert_eq!(h.error_of(id), codes::NOT_COORDINATOR);
    let (error, _) = h.fetch("g", None);
    assert_eq!(error, codes::NOT_COORDINATOR);
    h.c.begin_loading(partition);
    let id = h.join("g", "");
    assert_eq!(h.error_of(id), codes::COORDINATOR_LOAD_IN_PROGRESS);
    // Loading: SyncGroup says rebalance, Heartbeat says fine, as Kafka answers.
    let id = h.sync("g", "m", 1, &[]);
    assert_eq!(h.error_of(id), codes::REBALANCE_IN_PROGRESS);
    assert_eq!(h.heartbeat("g", "m", 1), codes::NONE);
    let c = h.commit("g", "", -1, &[("t", 0, 1)]);
    assert_eq!(h.error_of(c), codes::COORDINATOR_LOAD_IN_PROGRESS);
    assert_eq!(list(&mut h, &[]).0, codes::COORDINATOR_LOAD_IN_PROGRESS);
    let d = h.describe("g");
    assert_eq!(d.error_code, codes::COORDINATOR_LOAD_IN_PROGRESS);
    let effects = h.c.finish_loading(partition, h.now);
    h.apply(effects);
    let (rejoin, _) = h.join_new("g");
    assert_eq!(h.join_reply(rejoin).error_code, 0);
}

#[test]
fn resigning_answers_every_waiting_request() {
    let mut h = Harness::new(GroupConfig::default());
    let (rejoin, _) = h.join_new("g");
    h.auto_complete = false;
    let c = h.commit("g2", "", -1, &[("t", 0, 1)]);
    let partition_g = h.c.coordinator_partition("g");
    let partition_g2 = h.c.coordinator_partition("g2");
    let effects = h.c.resign(partition_g);
    h.apply(effects);
    assert_eq!(h.error_of(rejoin), codes::NOT_COORDINATOR);
    let effects = h.c.resign(partition_g2);
    h.apply(effects);
    assert_eq!(h.error_of(c), codes::NOT_COORDINATOR);
    // The append's late completion finds nobody waiting.
    let stale = h.pending.remove(0);
    assert!(h.c.append_completed(h.now, stale, 0).is_empty());
}

#[test]
fn reloading_an_active_partition_answers_waiters_on_the_next_tick() {
    let mut h = Harness::new(GroupConfig::default());
    let (rejoin, _) = h.join_new("g");
    let partition = h.c.coordinator_partition("g");
    h.c.begin_loading(partition);
    assert_eq!(h.c.next_deadline_ms(), Some(0), "asks for a tick at once");
    h.advance(0);
    assert_eq!(h.error_of(rejoin), codes::NOT_COORDINATOR);
    let effects = h.c.finish_loading(partition, h.now);
    h.apply(effects);
    assert!(h.c.next_deadline_ms().is_some_and(|d| d > 0));
}
