use super::harness::*;
use crate::codes;
use crate::consumer_protocol::assignment_partitions;
use crate::GroupConfig;

/// A stable group of static members "i0".."i{n-1}"; returns member ids in instance
/// order and the generation. Partition k goes to instance k.
fn static_group(h: &mut Harness, n: usize) -> (Vec<String>, i32) {
    let joins: Vec<u64> = (0..n)
        .map(|i| h.join_static("g", "", &format!("i{i}")))
        .collect();
    h.advance_until(60_000, |h| joins.iter().all(|id| h.answered(*id)));
    let replies: Vec<_> = joins.iter().map(|id| h.join_reply(*id)).collect();
    let ids: Vec<String> = replies
        .iter()
        .map(|r| r.member_id.as_str().to_string())
        .collect();
    assert!(ids
        .iter()
        .enumerate()
        .all(|(i, m)| m.starts_with(&format!("i{i}-"))));
    let generation = replies[0].generation_id;
    let leader = replies[0].leader.as_str().to_string();
    let parts: Vec<Vec<i32>> = (0..n as i32).map(|i| vec![i]).collect();
    let assignments: Vec<(&str, &[i32])> = ids
        .iter()
        .zip(&parts)
        .map(|(m, p)| (m.as_str(), p.as_slice()))
        .collect();
    let others: Vec<u64> = ids
        .iter()
        .filter(|m| **m != leader)
        .map(|m| h.sync("g", m, generation, &[]))
        .collect();
    let l = h.sync("g", &leader, generation, &assignments);
    for id in others.into_iter().chain([l]) {
        assert_eq!(h.sync_reply(id).error_code, 0);
    }
    (ids, generation)
}

fn assigned(bytes: &[u8]) -> Vec<i32> {
    assignment_partitions(bytes)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .flat_map(|(_, p)| p)
        .collect()
}

#[test]
fn restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let mut h = Harness::new(GroupConfig::default());
    let (ids, generation) = static_group(&mut h, 3);
    let leader = ids[0].clone();
    // Instance i1 restarts: it comes back with no member id.
    h.auto_complete = false;
    let rejoin = h.join_static("g", "", "i1");
    assert!(
        !h.answered(rejoin),
        "answered only once the new member id is durable"
    );
    assert_eq!(h.pending.len(), 1);
    h.complete_next(0);
    let r = h.join_reply(rejoin);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, generation, "no new generation");
    assert_ne!(r.member_id.as_str(), ids[1]);
    assert!(r.members.is_empty());
    assert!(!r.skip_assignment);
    assert_eq!(r.leader.as_str(), leader);
    assert_eq!(h.state("g"), "Stable");
    let new_id = r.member_id.as_str().to_string();
    h.auto_complete = true;
    let s = h.sync_static("g", &new_id, "i1", generation);
    assert_eq!(assigned(&h.sync_reply(s).assignment), vec![1]);
    // The others never noticed.
    assert_eq!(h.heartbeat("g", &ids[0], generation), codes::NONE);
    assert_eq!(
        h.heartbeat_static("g", &new_id, "i1", generation),
        codes::NONE
    );
    // The previous incarnation is fenced.
    assert_eq!(
        h.heartbeat_static("g", &ids[1], "i1", generation),
        codes::FENCED_INSTANCE_ID
    );
}

#[test]
fn restarted_static_leader_learns_it_leads_but_skips_the_assignment() {
    let mut h = Harness::new(GroupConfig::default());
    let (ids, generation) = static_group(&mut h, 2);
    let v9 = h.join_static("g", "", "i0");
    let r = h.join_reply(v9);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.leader, r.member_id, "v9: the new id leads");
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.generation_id, generation);
    // Pre-v9 clients are told the previous leader id, so they act as followers.
    let new_leader = r.member_id.as_str().to_string();
    let req = Harness::join_request("g", "", Some("i0"), &[("range", &["t"])]);
    let v8 = h.send_as("i0", 8, crate::GroupRequest::JoinGroup(req));
    let r = h.join_reply(v8);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.leader.as_str(), new_leader);
    assert_ne!(r.member_id.as_str(), new_leader);
    assert!(r.members.is_empty());
    assert_eq!(h.state("g"), "Stable");
    assert_ne!(ids[0], new_leader);
}

#[test]
fn second_live_member_with_the_same_instance_id_fences_the_first() {
    let mut h = Harness::new(GroupConfig::default());
    let (ids, generation) = static_group(&mut h, 2);
    // A second process starts with instance id i1 while the first still runs.
    let dup = h.join_static("g", "", "i1");
    let dup_id = h.join_reply(dup).member_id.as_str().to_string();
    // Everything the first one does is now refused.
    assert_eq!(
        h.heartbeat_static("g", &ids[1], "i1", generation),
        codes::FENCED_INSTANCE_ID
    );
    let sync = h.sync_static("g", &ids[1], "i1", generation);
    assert_eq!(h.error_of(sync), codes::FENCED_INSTANCE_ID);
    let mut commit = Harness::commit_request("g", &ids[1], generation, &[("t", 1, 10)]);
    commit.group_instance_id = Some(s("i1"));
    let c = h.send(8, crate::GroupRequest::OffsetCommit(commit));
    assert_eq!(h.error_of(c), codes::FENCED_INSTANCE_ID);
    let rejoin = Harness::join_request("g", &ids[1], Some("i1"), &[("range", &["t"])]);
    let j = h.send(9, crate::GroupRequest::JoinGroup(rejoin));
    assert_eq!(h.error_of(j), codes::FENCED_INSTANCE_ID);
    assert_eq!(
        h.leave("g", &[(&ids[1], Some("i1"))]),
        vec![codes::FENCED_INSTANCE_ID]
    );
    // The newcomer is the member now.
    assert_eq!(
        h.heartbeat_static("g", &dup_id, "i1", generation),
        codes::NONE
    );
}

#[test]
fn static_member_missing_a_rebalance_stays_until_its_session_expires() {
    let mut h = Harness::new(GroupConfig::default());
    let (ids, _) = static_group(&mut h, 2);
    // A dynamic newcomer triggers a rebalance; i1 is down and does not rejoin.
    let d = h.join_new("g");
    let r0 = h.join_static("g", &ids[0], "i0");
    // i1's session lapses before the rebalance timeout: it is removed and the join
    // completes with the members that rejoined.
    h.advance_until(REBALANCE_MS as i64, |h| h.answered(r0));
    let r = h.join_reply(r0);
    assert_eq!(r.members.len(), 2);
    assert!(r.members.iter().all(|m| m.member_id.as_str() != ids[1]));
    assert_eq!(h.join_reply(d.0).error_code, 0);
}

#[test]
fn static_member_kept_across_a_rebalance_it_sat_out_within_its_session() {
    let mut h = Harness::new(GroupConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..GroupConfig::default()
    });
    let (ids, generation) = static_group(&mut h, 2);
    // i0 (the leader) rejoins to force a rebalance; i1 only heartbeats.
    let r0 = h.join_static("g", &ids[0], "i0");
    assert_eq!(
        h.heartbeat_static("g", &ids[1], "i1", generation),
        codes::REBALANCE_IN_PROGRESS
    );
    // Join phase ends at the rebalance timeout with i1 absent but static: it stays.
    for _ in 0..5 {
        h.advance(5_000);
        let _ = h.heartbeat_static("g", &ids[1], "i1", generation);
    }
    h.advance(5_000);
    let r = h.join_reply(r0);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(
        r.members.len(),
        2,
        "static members are not dropped at the join deadline"
    );
}

#[test]
fn admin_can_remove_a_static_member_by_instance_id() {
    let mut h = Harness::new(GroupConfig::default());
    let (_ids, _) = static_group(&mut h, 2);
    assert_eq!(
        h.leave("g", &[("", Some("i1")), ("", Some("i9"))]),
        vec![codes::NONE, codes::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(h.state("g"), "PreparingRebalance");
    assert_eq!(h.describe("g").members.len(), 1);
}

#[test]
fn failed_write_of_a_static_rejoin_is_undone() {
    let mut h = Harness::new(GroupConfig::default());
    let (ids, generation) = static_group(&mut h, 2);
    h.auto_complete = false;
    let rejoin = h.join_static("g", "", "i1");
    h.complete_next(codes::NOT_LEADER_OR_FOLLOWER);
    let r = h.join_reply(rejoin);
    assert_eq!(r.error_code, codes::NOT_COORDINATOR);
    assert_eq!(r.member_id.as_str(), "");
    // The old incarnation is still the member.
    assert_eq!(
        h.heartbeat_static("g", &ids[1], "i1", generation),
        codes::NONE
    );
}

#[test]
fn full_group_still_takes_back_its_restarted_static_member() {
    let mut h = Harness::new(GroupConfig {
        group_max_size: 2,
        ..GroupConfig::default()
    });
    let (_, generation) = static_group(&mut h, 2);
    let rejoin = h.join_static("g", "", "i1");
    let r = h.join_reply(rejoin);
    assert_eq!((r.error_code, r.generation_id), (0, generation));
    let stranger = h.join_static("g", "", "i2");
    assert_eq!(h.error_of(stranger), codes::GROUP_MAX_SIZE_REACHED);
}
