use super::harness::*;
use crate::codes;
use crate::consumer_protocol::assignment_partitions;
use crate::GroupConfig;

#[test]
fn three_members_join_and_sync_each_getting_only_its_part() {
    let mut h = Harness::new(GroupConfig::default());
    let a = h.join_new("g");
    let b = h.join_new("g");
    let c = h.join_new("g");
    // The initial delay holds everyone back.
    assert!(!h.answered(a.0) && !h.answered(b.0) && !h.answered(c.0));
    assert_eq!(h.state("g"), "PreparingRebalance");
    // Joins during the delay extend it once by the configured delay.
    h.advance(3_000);
    assert!(!h.answered(a.0));
    h.advance(3_000);
    let ra = h.join_reply(a.0);
    let rb = h.join_reply(b.0);
    let rc = h.join_reply(c.0);
    // First joiner leads and alone sees every member's subscription.
    assert_eq!(ra.leader.as_str(), a.1);
    assert_eq!(ra.members.len(), 3);
    assert!(rb.members.is_empty() && rc.members.is_empty());
    assert_eq!(rb.leader.as_str(), a.1);
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.protocol_name.as_ref().map(|p| p.as_str()), Some("range"));
    assert_eq!(h.state("g"), "CompletingRebalance");

    // Followers wait for the leader's assignment, which is answered once durable.
    let sb = h.sync("g", &b.1, 1, &[]);
    assert!(!h.answered(sb));
    h.auto_complete = false;
    let sa = h.sync(
        "g",
        &a.1,
        1,
        &[(&a.1, &[0, 1]), (&b.1, &[2, 3]), (&c.1, &[4, 5])],
    );
    assert!(
        !h.answered(sa) && !h.answered(sb),
        "replies wait for durability"
    );
    assert_eq!(h.pending.len(), 1);
    h.complete_next(0);
    let sync_a = h.sync_reply(sa);
    let sync_b = h.sync_reply(sb);
    assert_eq!(
        assignment_partitions(&sync_a.assignment),
        Ok(vec![("t".to_string(), vec![0, 1])])
    );
    assert_eq!(
        assignment_partitions(&sync_b.assignment),
        Ok(vec![("t".to_string(), vec![2, 3])])
    );
    assert_eq!(
        sync_b.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );
    assert_eq!(h.state("g"), "Stable");
    // A late follower gets its part straight away.
    h.auto_complete = true;
    let sc = h.sync("g", &c.1, 1, &[]);
    assert_eq!(
        assignment_partitions(&h.sync_reply(sc).assignment),
        Ok(vec![("t".to_string(), vec![4, 5])])
    );
    let described = h.describe("g");
    assert_eq!(described.group_state.as_str(), "Stable");
    assert_eq!(described.protocol_data.as_str(), "range");
    assert_eq!(described.members.len(), 3);
    let mb = described
        .members
        .iter()
        .find(|m| m.member_id.as_str() == b.1)
        .unwrap_or_else(|| panic!("member b missing"));
    assert_eq!(mb.client_id.as_str(), format!("c-{}", b.1));
    assert!(mb.client_host.as_str().starts_with("/10.0.0."));
    assert_eq!(
        assignment_partitions(&mb.member_assignment),
        Ok(vec![("t".to_string(), vec![2, 3])])
    );
    assert!(!mb.member_metadata.is_empty());
    for id in [a.1.as_str(), b.1.as_str(), c.1.as_str()] {
        assert_eq!(h.heartbeat("g", id, 1), codes::NONE);
    }
}

#[test]
fn fourth_member_triggers_a_rebalance_that_everyone_rejoins() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 3);
    let d = h.join_new("g");
    assert!(!h.answered(d.0));
    assert_eq!(h.state("g"), "PreparingRebalance");
    // Existing members learn of it through their heartbeats.
    for m in &members {
        assert_eq!(
            h.heartbeat("g", m, generation),
            codes::REBALANCE_IN_PROGRESS
        );
    }
    let rejoins: Vec<u64> = members.iter().map(|m| h.join("g", m)).collect();
    // The last rejoin completes the join phase without waiting for the timeout.
    let all: Vec<u64> = rejoins.iter().copied().chain([d.0]).collect();
    let replies: Vec<_> = all.iter().map(|id| h.join_reply(*id)).collect();
    assert!(replies
        .iter()
        .all(|r| r.error_code == 0 && r.generation_id == generation + 1));
    let leaders: Vec<_> = replies.iter().filter(|r| !r.members.is_empty()).collect();
    assert_eq!(leaders.len(), 1);
    assert_eq!(leaders[0].members.len(), 4);
    assert_eq!(
        leaders[0].member_id.as_str(),
        members[0],
        "leader stays leader"
    );
    // Old generation is now illegal.
    assert_eq!(
        h.heartbeat("g", &members[1], generation),
        codes::ILLEGAL_GENERATION
    );
    assert_eq!(h.heartbeat("g", &members[1], generation + 1), codes::NONE);
}

#[test]
fn leaving_member_rebalances_the_rest_at_once() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 3);
    assert_eq!(h.leave("g", &[(&members[2], None)]), vec![codes::NONE]);
    assert_eq!(h.state("g"), "PreparingRebalance");
    let r0 = h.join("g", &members[0]);
    let r1 = h.join("g", &members[1]);
    let a = h.join_reply(r0);
    assert_eq!(a.generation_id, generation + 1);
    assert_eq!(a.members.len(), 2);
    assert_eq!(h.join_reply(r1).error_code, 0);
    // Unknown members in a batch get their own error; the others still leave.
    let errors = h.leave("g", &[(&members[1], None), ("nobody", None)]);
    assert_eq!(errors, vec![codes::NONE, codes::UNKNOWN_MEMBER_ID]);
    assert_eq!(h.describe("g").members.len(), 1);
}

#[test]
fn last_member_leaving_empties_the_group_and_persists_it() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 1);
    let before = h.log.len();
    assert_eq!(h.leave("g", &[(&members[0], None)]), vec![codes::NONE]);
    assert_eq!(h.state("g"), "Empty");
    let described = h.describe("g");
    assert!(described.members.is_empty());
    // The empty generation is written to __consumer_offsets.
    assert_eq!(h.log.len(), before + 1);
    let (_, key, value) = &h.log[before];
    let text = crate::describe_record(key, value.as_deref());
    assert!(
        text.contains(&format!("\"generation\":{}", generation + 1)),
        "{text}"
    );
    assert!(text.contains("\"members\":[]"), "{text}");
}

#[test]
fn session_expiry_removes_a_silent_member() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    // Member 0 keeps heartbeating, member 1 falls silent.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &members[0], generation), codes::NONE);
    }
    assert_eq!(h.state("g"), "Stable");
    h.advance(1_000);
    assert_eq!(h.state("g"), "PreparingRebalance");
    assert_eq!(
        h.heartbeat("g", &members[1], generation),
        codes::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        h.heartbeat("g", &members[0], generation),
        codes::REBALANCE_IN_PROGRESS
    );
    let r = h.join("g", &members[0]);
    let r = h.join_reply(r);
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.generation_id, generation + 1);
}

#[test]
fn member_that_misses_the_rebalance_timeout_is_removed() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 3);
    // Member 0 (the leader) rejoins; member 1 too; member 2 never does (but keeps
    // heartbeating, like a consumer stuck in a long poll loop would not).
    let r0 = h.join("g", &members[0]);
    let r1 = h.join("g", &members[1]);
    for _ in 0..5 {
        h.advance(5_000);
        assert_eq!(
            h.heartbeat("g", &members[2], generation),
            codes::REBALANCE_IN_PROGRESS
        );
    }
    h.advance(REBALANCE_MS as i64 - 25_001);
    assert!(
        !h.answered(r0),
        "members waiting in JoinGroup are not expired"
    );
    h.advance(1);
    let a = h.join_reply(r0);
    assert_eq!(a.members.len(), 2);
    assert!(a.members.iter().all(|m| m.member_id.as_str() != members[2]));
    assert_eq!(h.join_reply(r1).generation_id, generation + 1);
    assert_eq!(
        h.heartbeat("g", &members[2], generation + 1),
        codes::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, _) = stable_group(&mut h, "g", 2);
    let r0 = h.join("g", &members[0]);
    let r1 = h.join("g", &members[1]);
    let generation = h.join_reply(r0).generation_id;
    h.join_reply(r1);
    let s0 = h.sync(
        "g",
        &members[0],
        generation,
        &[(&members[0], &[0]), (&members[1], &[1])],
    );
    assert_eq!(h.sync_reply(s0).error_code, 0);
    // Member 1 got its JoinGroup answer and heartbeats, but never sends SyncGroup.
    for _ in 0..6 {
        assert_eq!(h.state("g"), "Stable");
        assert_eq!(h.heartbeat("g", &members[0], generation), codes::NONE);
        assert_eq!(h.heartbeat("g", &members[1], generation), codes::NONE);
        h.advance(5_000);
    }
    assert_eq!(h.state("g"), "PreparingRebalance");
    assert_eq!(h.describe("g").members.len(), 1);
}

#[test]
fn new_member_waiting_in_join_is_bounded_by_the_join_timeout() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, _) = stable_group(&mut h, "g", 1);
    // A new member joins; the old one neither rejoins nor heartbeats, and is dropped
    // at the rebalance timeout, after which the newcomer gets its answer.
    let d = h.join_new("g");
    h.advance(REBALANCE_MS as i64);
    let r = h.join_reply(d.0);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.members.len(), 1);
    assert_eq!(
        r.leader.as_str(),
        d.1,
        "leadership passed to a member that rejoined"
    );
    assert!(h
        .describe("g")
        .members
        .iter()
        .all(|m| m.member_id.as_str() != members[0]));
}

#[test]
fn pending_member_that_never_rejoins_lapses_after_its_session_timeout() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, _) = stable_group(&mut h, "g", 1);
    let first = h.join("g", "");
    let id = h.join_reply(first).member_id.as_str().to_string();
    // The known member rejoins; the pending one holds the join phase back.
    let r0 = h.join("g", &members[0]);
    assert!(!h.answered(r0));
    h.advance(SESSION_MS as i64);
    // Pending member lapsed: the join completes with the one member.
    let r = h.join_reply(r0);
    assert_eq!(r.members.len(), 1);
    let late = h.join("g", &id);
    assert_eq!(h.join_reply(late).error_code, codes::UNKNOWN_MEMBER_ID);
}

#[test]
fn old_clients_get_a_member_id_at_once() {
    let mut h = Harness::quick();
    let r = Harness::join_request("g", "", None, &[("range", &["t"])]);
    let id = h.send(3, crate::GroupRequest::JoinGroup(r));
    let r = h.join_reply(id);
    assert_eq!(r.error_code, 0);
    assert!(r.member_id.as_str().starts_with("client-"));
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, r.member_id);
}

#[test]
fn zero_initial_delay_completes_the_first_join_immediately() {
    let mut h = Harness::quick();
    let (rejoin, member) = h.join_new("g");
    let r = h.join_reply(rejoin);
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    assert_eq!(r.member_id.as_str(), member);
    assert_eq!(h.c.next_deadline_ms().map(|d| d > h.now), Some(true));
}

#[test]
fn initial_delay_is_bounded_by_the_rebalance_timeout() {
    let mut h = Harness::new(GroupConfig {
        group_initial_rebalance_delay_ms: 10_000,
        ..GroupConfig::default()
    });
    let first = h.join_new("g");
    let mut joined = vec![first];
    // A new member every 9 s keeps extending the delay, but not past the timeout.
    let mut elapsed = 0;
    while !h.answered(joined[0].0) {
        h.advance(1_000);
        elapsed += 1_000;
        assert!(elapsed <= 2 * REBALANCE_MS as i64, "delay never ended");
        if elapsed % 9_000 == 0 {
            joined.push(h.join_new("g"));
        }
    }
    // Extended twice (at 10 s and 20 s), then the rebalance timeout is used up.
    assert_eq!(elapsed, REBALANCE_MS as i64);
    assert!(joined.iter().all(|(id, _)| h.answered(*id)));
}

#[test]
fn protocol_is_chosen_by_vote_among_those_all_support() {
    let mut h = Harness::new(GroupConfig::default());
    let join = |h: &mut Harness, protocols: &[(&str, &[&str])]| {
        let r = Harness::join_request("g", "", None, protocols);
        let first = h.send(9, crate::GroupRequest::JoinGroup(r.clone()));
        let id = h.join_reply(first).member_id;
        h.send(9, crate::GroupRequest::JoinGroup(r.with_member_id(id)))
    };
    let a = join(
        &mut h,
        &[
            ("range", &["t"]),
            ("roundrobin", &["t"]),
            ("sticky", &["t"]),
        ],
    );
    let b = join(&mut h, &[("sticky", &["t"]), ("roundrobin", &["t"])]);
    let c = join(&mut h, &[("roundrobin", &["t"]), ("sticky", &["t"])]);
    let d = join(
        &mut h,
        &[
            ("sticky", &["t"]),
            ("range", &["t"]),
            ("roundrobin", &["t"]),
        ],
    );
    // A member with no common protocol is refused.
    let bad = Harness::join_request("g", "", None, &[("cooperative-sticky", &["t"])]);
    let bad = h.send(9, crate::GroupRequest::JoinGroup(bad));
    assert_eq!(h.error_of(bad), codes::INCONSISTENT_GROUP_PROTOCOL);
    h.advance_until(60_000, |h| h.answered(a));
    // Candidates: roundrobin, sticky. Votes: a→roundrobin, b→sticky, c→roundrobin,
    // d→sticky: a tie, broken by the first member's vote.
    for id in [a, b, c, d] {
        let r = h.join_reply(id);
        assert_eq!(
            r.protocol_name.as_ref().map(|p| p.as_str()),
            Some("roundrobin")
        );
    }
}

#[test]
fn group_max_size_refuses_extra_members() {
    let mut h = Harness::new(GroupConfig {
        group_max_size: 2,
        ..GroupConfig::default()
    });
    let _ = stable_group(&mut h, "g", 2);
    let extra = h.join("g", "");
    let r = h.join_reply(extra);
    assert_eq!(r.error_code, codes::GROUP_MAX_SIZE_REACHED);
    assert_eq!(r.member_id.as_str(), "");
    assert_eq!(h.state("g"), "Stable");
}

#[test]
fn join_errors() {
    let mut h = Harness::quick();
    let mut r = Harness::join_request("g", "", None, &[("range", &["t"])]);
    r.session_timeout_ms = 1_000;
    let id = h.send(9, crate::GroupRequest::JoinGroup(r));
    assert_eq!(h.error_of(id), codes::INVALID_SESSION_TIMEOUT);
    let r = Harness::join_request("", "", None, &[("range", &["t"])]);
    let id = h.send(9, crate::GroupRequest::JoinGroup(r));
    assert_eq!(h.error_of(id), codes::INVALID_GROUP_ID);
    let r = Harness::join_request("g", "", None, &[]);
    let id = h.send(9, crate::GroupRequest::JoinGroup(r));
    assert_eq!(h.error_of(id), codes::INCONSISTENT_GROUP_PROTOCOL);
    let id = h.join("g", "made-up-id");
    assert_eq!(h.error_of(id), codes::UNKNOWN_MEMBER_ID);
    let id = h.join("unknown-group", "made-up-id");
    assert_eq!(h.error_of(id), codes::UNKNOWN_MEMBER_ID);
    // Sync and heartbeat for members nobody knows.
    let id = h.sync("g", "nobody", 1, &[]);
    assert_eq!(h.error_of(id), codes::UNKNOWN_MEMBER_ID);
    assert_eq!(
        h.heartbeat("nothing", "nobody", 1),
        codes::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn leader_rejoining_a_stable_group_forces_a_rebalance_but_a_follower_does_not() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    let follower = h.join("g", &members[1]);
    let r = h.join_reply(follower);
    assert_eq!((r.error_code, r.generation_id), (0, generation));
    assert!(r.members.is_empty());
    assert_eq!(h.state("g"), "Stable");
    let _leader = h.join("g", &members[0]);
    assert_eq!(h.state("g"), "PreparingRebalance");
}

#[test]
fn sync_during_a_rebalance_and_with_a_wrong_generation() {
    let mut h = Harness::new(GroupConfig::default());
    let (members, generation) = stable_group(&mut h, "g", 2);
    let id = h.sync("g", &members[1], generation + 5, &[]);
    assert_eq!(h.error_of(id), codes::ILLEGAL_GENERATION);
    let _ = h.join_new("g");
    let id = h.sync("g", &members[1], generation, &[]);
    assert_eq!(h.error_of(id), codes::REBALANCE_IN_PROGRESS);
}
