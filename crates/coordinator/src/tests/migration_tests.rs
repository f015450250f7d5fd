//! KIP-848's online migration: a classic group upgraded when a consumer-protocol
//! member joins, its classic members served through JoinGroup/SyncGroup/Heartbeat
//! from the broker's assignment, the downgrade when the last consumer-protocol
//! member leaves, the policy's refusals, replay and rollback of the conversions.

use std::collections::BTreeSet;

use super::consumer_group_tests::*;
use super::harness::*;
use crate::codes;
use crate::consumer_protocol::assignment_partitions;
use crate::records::RecordKey;
use crate::{
    GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, MigrationPolicy, SeededMemberIds,
};

/// A classic member as the client sees itself: id, generation, partitions of `t`.
#[derive(Debug, Clone)]
struct Classic {
    id: String,
    generation: i32,
    owned: BTreeSet<i32>,
}

/// Three classic members on six partitions of `t`, members i owning partition i.
fn classic_group(h: &mut Harness) -> Vec<Classic> {
    let (ids, generation) = stable_group(h, "g", 3);
    ids.iter()
        .enumerate()
        .map(|(i, id)| Classic {
            id: id.clone(),
            generation,
            owned: BTreeSet::from([i as i32]),
        })
        .collect()
}

/// The partitions of `t` a SyncGroup answer hands out.
fn sync_partitions(h: &mut Harness, id: u64) -> (i16, BTreeSet<i32>) {
    let r = h.sync_reply(id);
    let parts = assignment_partitions(&r.assignment).unwrap_or_default();
    let owned = parts
        .into_iter()
        .filter(|(t, _)| t == "t")
        .flat_map(|(_, ps)| ps)
        .collect();
    (r.error_code, owned)
}

/// One step of an eager classic client in a consumer group: heartbeat, and when told
/// to, give up everything, rejoin and sync.
fn classic_step(h: &mut Harness, c: &mut Classic) {
    let error = h.heartbeat("g", &c.id, c.generation);
    if error == codes::NONE {
        return;
    }
    assert_eq!(error, codes::REBALANCE_IN_PROGRESS, "{c:?}");
    c.owned.clear();
    let join = h.join("g", &c.id);
    let r = h.join_reply(join);
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert!(r.members.is_empty() && r.leader.is_empty(), "nobody leads");
    c.generation = r.generation_id;
    let sync = h.sync("g", &c.id, c.generation, &[]);
    let (error, owned) = sync_partitions(h, sync);
    if error == codes::NONE {
        c.owned = owned;
    } else {
        assert_eq!(error, codes::REBALANCE_IN_PROGRESS);
    }
}

/// No partition of `t` owned by two members at once, across both kinds.
fn assert_exclusive_mixed(classics: &[Classic], consumers: &[Client]) {
    let mut seen = BTreeSet::new();
    let t = topic_id("t");
    let consumer_owned = consumers
        .iter()
        .flat_map(|c| c.owned.get(&t).cloned().unwrap_or_default());
    for p in classics
        .iter()
        .flat_map(|c| c.owned.clone())
        .chain(consumer_owned)
    {
        assert!(
            seen.insert(p),
            "partition {p} owned twice: {classics:?} {consumers:?}"
        );
    }
}

/// Steps every member until the group is stable and all six partitions are owned,
/// checking after every step that no partition has two owners.
fn settle_mixed(h: &mut Harness, classics: &mut [Classic], consumers: &mut [Client]) {
    for _ in 0..20 {
        for i in 0..classics.len() {
            let mut c = classics[i].clone();
            classic_step(h, &mut c);
            classics[i] = c;
            assert_exclusive_mixed(classics, consumers);
        }
        for i in 0..consumers.len() {
            let r = hb(h, "g", &mut consumers[i]);
            assert_eq!(r.error_code, 0, "{r:?}");
            assert_exclusive_mixed(classics, consumers);
        }
        let owned: usize = classics.iter().map(|c| c.owned.len()).sum::<usize>()
            + consumers.iter().map(count).sum::<usize>();
        if describe(h, "g").group_state.as_str() == "Stable" && owned == 6 {
            return;
        }
    }
    panic!("group did not settle: {:?}", describe(h, "g"));
}

fn upgraded_group() -> (Harness, Vec<Classic>, Vec<Client>) {
    let mut h = harness(&[("t", 6)]);
    let classics = classic_group(&mut h);
    let mut consumer = Client::new("new", &["t"]);
    let r = hb(&mut h, "g", &mut consumer);
    assert_eq!(r.error_code, 0, "{r:?}");
    (h, classics, vec![consumer])
}

#[test]
fn a_classic_group_upgrades_when_a_consumer_member_joins_and_both_kinds_share_it() {
    let (mut h, mut classics, mut consumers) = upgraded_group();
    // The classic group's record is deleted and the consumer group's written.
    let types: Vec<(i16, bool)> = h
        .log
        .iter()
        .filter_map(|(_, k, v)| match RecordKey::decode(k) {
            Ok(RecordKey::GroupMetadata(_)) => Some((2, v.is_some())),
            Ok(RecordKey::Consumer(c)) => Some((c.record_type(), v.is_some())),
            _ => None,
        })
        .collect();
    let tombstone = types
        .iter()
        .position(|t| *t == (2, false))
        .expect("classic tombstone");
    assert!(types[tombstone + 1..].contains(&(5, true)));
    let d = describe(&mut h, "g");
    assert_eq!(d.error_code, 0);
    let kinds: Vec<i8> = d.members.iter().map(|m| m.member_type).collect();
    assert_eq!(kinds.iter().filter(|k| **k == 0).count(), 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == 1).count(), 1, "{kinds:?}");
    // The newcomer waits for partitions the classic members still hold.
    assert_exclusive_mixed(&classics, &consumers);
    // Classic members keep their partitions at their generation until told to rejoin.
    let c0 = classics[0].clone();
    let commit = h.commit("g", &c0.id, c0.generation, &[("t", 0, 7)]);
    assert_eq!(h.error_of(commit), codes::NONE);
    let stale = h.commit("g", &c0.id, c0.generation - 1, &[("t", 0, 8)]);
    assert_eq!(h.error_of(stale), codes::ILLEGAL_GENERATION);
    settle_mixed(&mut h, &mut classics, &mut consumers);
    let counts: Vec<usize> = classics
        .iter()
        .map(|c| c.owned.len())
        .chain(consumers.iter().map(count))
        .collect();
    assert!(counts.iter().all(|n| (1..=2).contains(n)), "{counts:?}");
    // DescribeGroups and ListGroups show the group and its members of both kinds.
    let described = h.describe("g");
    assert_eq!(described.members.len(), 4);
    assert_eq!(described.protocol_type.as_str(), "consumer");
    // A new classic member joins the consumer group (with the id MEMBER_ID_REQUIRED
    // hands out) and gets its share once the others let go.
    let (join, id) = h.join_new("g");
    let r = h.join_reply(join);
    assert_eq!(r.error_code, codes::NONE, "{r:?}");
    classics.push(Classic {
        id,
        generation: r.generation_id,
        owned: BTreeSet::new(),
    });
    settle_mixed(&mut h, &mut classics, &mut consumers);
    assert!(classics.iter().all(|c| !c.owned.is_empty()), "{classics:?}");
    assert_eq!(describe(&mut h, "g").members.len(), 5);
    // A classic member leaving moves its partitions to the others.
    let left = classics.remove(2);
    assert_eq!(h.leave("g", &[(&left.id, None)]), vec![codes::NONE]);
    settle_mixed(&mut h, &mut classics, &mut consumers);
    assert_eq!(describe(&mut h, "g").members.len(), 4);
}

#[test]
fn the_last_consumer_member_leaving_downgrades_the_group_and_it_rebalances() {
    let (mut h, mut classics, mut consumers) = upgraded_group();
    settle_mixed(&mut h, &mut classics, &mut consumers);
    let log_before = h.log.len();
    let mut leave = consumers[0].request("g").with_member_epoch(-1);
    leave.topic_partitions = None;
    assert_eq!(send_hb(&mut h, leave).error_code, 0);
    // Tombstones for every consumer record, then the classic group's record.
    let written: Vec<(RecordKey, bool)> = h.log[log_before..]
        .iter()
        .filter_map(|(_, k, v)| RecordKey::decode(k).ok().map(|k| (k, v.is_some())))
        .collect();
    let last = written.last().expect("records");
    assert!(
        matches!(last, (RecordKey::GroupMetadata(_), true)),
        "{last:?}"
    );
    assert!(written
        .iter()
        .any(|(k, live)| matches!(k, RecordKey::Consumer(c) if c.record_type() == 3) && !live));
    let described = h.describe("g");
    assert_eq!(described.group_state.as_str(), "PreparingRebalance");
    assert_eq!(described.members.len(), 3);
    // The classic members learn it at their next heartbeat and rejoin as a classic
    // group, whose leader assigns.
    for c in &classics {
        let error = h.heartbeat("g", &c.id, c.generation);
        assert!(
            [codes::REBALANCE_IN_PROGRESS, codes::ILLEGAL_GENERATION].contains(&error),
            "{error}"
        );
    }
    let joins: Vec<u64> = classics.iter().map(|c| h.join("g", &c.id)).collect();
    let replies: Vec<_> = joins.iter().map(|j| h.join_reply(*j)).collect();
    assert!(replies.iter().all(|r| r.error_code == 0), "{replies:?}");
    let leader = replies[0].leader.as_str().to_string();
    let generation = replies[0].generation_id;
    let lead = replies
        .iter()
        .find(|r| !r.members.is_empty())
        .expect("a leader");
    assert_eq!(lead.members.len(), 3);
    let parts: Vec<Vec<i32>> = (0..3).map(|i| vec![2 * i, 2 * i + 1]).collect();
    let assignments: Vec<(&str, &[i32])> = classics
        .iter()
        .zip(&parts)
        .map(|(c, p)| (c.id.as_str(), p.as_slice()))
        .collect();
    let syncs: Vec<u64> = classics
        .iter()
        .filter(|c| c.id != leader)
        .map(|c| h.sync("g", &c.id, generation, &[]))
        .collect();
    let lead_sync = h.sync("g", &leader, generation, &assignments);
    for id in syncs.into_iter().chain([lead_sync]) {
        assert_eq!(sync_partitions(&mut h, id).0, codes::NONE);
    }
    assert_eq!(h.state("g"), "Stable");
}

#[test]
fn the_policy_refuses_as_kafka_does() {
    // Upgrade disabled: a consumer member cannot join a classic group with members.
    for policy in [MigrationPolicy::Disabled, MigrationPolicy::Downgrade] {
        let config = GroupConfig {
            consumer_migration_policy: policy,
            ..GroupConfig::default()
        };
        let mut h = harness_with(config, &[("t", 6)]);
        classic_group(&mut h);
        let r = hb(&mut h, "g", &mut Client::new("new", &["t"]));
        assert_eq!(r.error_code, codes::GROUP_ID_NOT_FOUND, "{policy:?}");
        assert_eq!(h.state("g"), "Stable");
    }
    // Upgrade only: the group stays a consumer group when the consumer member leaves.
    let config = GroupConfig {
        consumer_migration_policy: MigrationPolicy::Upgrade,
        ..GroupConfig::default()
    };
    let mut h = harness_with(config, &[("t", 6)]);
    let mut classics = classic_group(&mut h);
    let mut consumers = vec![Client::new("new", &["t"])];
    assert_eq!(hb(&mut h, "g", &mut consumers[0]).error_code, 0);
    settle_mixed(&mut h, &mut classics, &mut consumers);
    let mut leave = consumers[0].request("g").with_member_epoch(-1);
    leave.topic_partitions = None;
    assert_eq!(send_hb(&mut h, leave).error_code, 0);
    let d = describe(&mut h, "g");
    assert_eq!((d.error_code, d.members.len()), (0, 3));
    // A group whose members do not use the consumer protocol is never upgraded.
    let mut h = harness(&[("t", 6)]);
    let mut join = Harness::join_request("other", "", None, &[("range", &["t"])]);
    join.protocol_type = s("connect");
    let id = h.send(JOIN_VERSION, GroupRequest::JoinGroup(join));
    let member = h.join_reply(id).member_id.as_str().to_string();
    let mut join = Harness::join_request("other", &member, None, &[("range", &["t"])]);
    join.protocol_type = s("connect");
    h.send(JOIN_VERSION, GroupRequest::JoinGroup(join));
    let r = hb(&mut h, "other", &mut Client::new("new", &["t"]));
    assert_eq!(r.error_code, codes::GROUP_ID_NOT_FOUND);
    // A classic member speaking another protocol type cannot join a consumer group.
    let (mut h, _, _) = upgraded_group();
    let mut join = Harness::join_request("g", "", None, &[("range", &["t"])]);
    join.protocol_type = s("connect");
    let id = h.send(JOIN_VERSION, GroupRequest::JoinGroup(join));
    assert_eq!(h.error_of(id), codes::INCONSISTENT_GROUP_PROTOCOL);
}

/// A fresh coordinator (as after a restart) replaying `h`'s log.
fn replay(h: &Harness) -> Harness {
    let config = h.c.config().clone();
    let mut fresh = harness_with(config.clone(), &[("t", 6)]);
    fresh.c = GroupCoordinator::with_member_ids(config.clone(), Box::new(SeededMemberIds::new(99)));
    let effects = fresh.c.update_topics(fresh.now, catalog(&[("t", 6)]));
    fresh.apply(effects);
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

#[test]
fn converted_groups_come_back_from_their_records() {
    let (mut h, mut classics, mut consumers) = upgraded_group();
    settle_mixed(&mut h, &mut classics, &mut consumers);
    let before = describe(&mut h, "g");
    let mut fresh = replay(&h);
    assert_eq!(describe(&mut fresh, "g"), before);
    // The classic members carry on at their generations.
    for c in &classics {
        assert_eq!(fresh.heartbeat("g", &c.id, c.generation), codes::NONE);
    }
    // Downgraded, the group comes back as a classic group.
    let mut leave = consumers[0].request("g").with_member_epoch(-1);
    leave.topic_partitions = None;
    assert_eq!(send_hb(&mut h, leave).error_code, 0);
    let mut fresh = replay(&h);
    let replayed = fresh.describe("g");
    assert_eq!(replayed.members.len(), 3);
    // As the classic group's record says: stable, with the members' protocol.
    assert_eq!(replayed.group_state.as_str(), "Stable");
    assert_eq!(replayed.protocol_data.as_str(), "range");
    let r = hb(&mut fresh, "g", &mut Client::new("x", &["t"]));
    // Still a classic group with members: the upgrade happens again.
    assert_eq!(r.error_code, 0);
}

#[test]
fn an_upgrade_whose_records_fail_leaves_the_classic_group_as_it_was() {
    let mut h = harness(&[("t", 6)]);
    let classics = classic_group(&mut h);
    let before = h.describe("g");
    h.auto_complete = false;
    let consumer = Client::new("new", &["t"]);
    let id = h.send(
        1,
        GroupRequest::ConsumerGroupHeartbeat(consumer.request("g")),
    );
    assert!(!h.answered(id));
    h.complete_next(codes::KAFKA_STORAGE_ERROR);
    match h.replies.remove(&id) {
        Some(GroupResponse::ConsumerGroupHeartbeat(r)) => assert_ne!(r.error_code, 0),
        other => panic!("{other:?}"),
    }
    h.auto_complete = true;
    assert_eq!(h.describe("g"), before);
    for c in &classics {
        assert_eq!(h.heartbeat("g", &c.id, c.generation), codes::NONE);
    }
}
