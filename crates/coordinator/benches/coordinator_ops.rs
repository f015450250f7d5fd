//! CPU cost of the coordinator's hot paths (no I/O: appends complete at once).
//! Run: `cargo bench -p moldau-coordinator --bench coordinator_ops`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

use std::time::Instant;

use bytes::Bytes;
use moldau_coordinator::{
    AppendId, Effect, GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, ReplyId,
    RequestContext, SeededMemberIds,
};
use moldau_protocol::kafka::messages::join_group_request::JoinGroupRequestProtocol;
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::sync_group_request::SyncGroupRequestAssignment;
use moldau_protocol::kafka::messages::*;
use moldau_protocol::kafka::protocol::StrBytes;

const GROUPS: usize = 1_000;
const MEMBERS_PER_GROUP: usize = 10;
const COMMITS: usize = 200_000;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

struct Driver {
    c: GroupCoordinator,
    now: i64,
    next: u64,
    replies: Vec<(ReplyId, GroupResponse)>,
}

impl Driver {
    fn run(&mut self, effects: Vec<Effect>) {
        let mut queue = effects;
        while !queue.is_empty() {
            let mut more = Vec::new();
            for e in queue {
                match e {
                    Effect::Reply { id, response } => self.replies.push((id, response)),
                    Effect::Append { id, .. } => more.extend(self.complete(id)),
                }
            }
            queue = more;
        }
    }
    fn complete(&mut self, id: AppendId) -> Vec<Effect> {
        self.c.append_completed(self.now, id, 0)
    }
    fn send(&mut self, version: i16, request: GroupRequest) -> ReplyId {
        self.next += 1;
        let id = ReplyId(self.next);
        let ctx = RequestContext {
            client_id: "bench".into(),
            client_host: "/127.0.0.1".into(),
            api_version: version,
            topic_describe: None,
        };
        let effects = self.c.handle(self.now, ctx, id, request);
        self.run(effects);
        id
    }
    fn take(&mut self, id: ReplyId) -> Option<GroupResponse> {
        let at = self.replies.iter().position(|(r, _)| *r == id)?;
        Some(self.replies.swap_remove(at).1)
    }
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let config = GroupConfig::default();
    let mut d = Driver {
        c: GroupCoordinator::with_member_ids(config.clone(), Box::new(SeededMemberIds::new(7))),
        now: 0,
        next: 0,
        replies: Vec::new(),
    };
    for p in 0..config.offsets_topic_num_partitions {
        d.c.begin_loading(p);
        let e = d.c.finish_loading(p, 0);
        d.run(e);
    }
    // GROUPS stable groups of MEMBERS_PER_GROUP members (JoinGroup v3: ids at once).
    let setup = Instant::now();
    let mut joins: Vec<Vec<ReplyId>> = Vec::new();
    for g in 0..GROUPS {
        let group = format!("group-{g}");
        let subscription = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 255, 255, 255, 255]);
        joins.push(
            (0..MEMBERS_PER_GROUP)
                .map(|_| {
                    let r = JoinGroupRequest::default()
                        .with_group_id(GroupId(s(&group)))
                        .with_session_timeout_ms(45_000)
                        .with_rebalance_timeout_ms(300_000)
                        .with_protocol_type(s("consumer"))
                        .with_protocols(vec![JoinGroupRequestProtocol::default()
                            .with_name(s("range"))
                            .with_metadata(subscription.clone())]);
                    d.send(3, GroupRequest::JoinGroup(r))
                })
                .collect(),
        );
    }
    // The initial delay, then its one extension (members joined during it).
    for _ in 0..2 {
        d.now += 3_000;
        let e = d.c.tick(d.now);
        d.run(e);
    }
    let mut members: Vec<(String, Vec<String>, i32)> = Vec::new();
    for (g, ids) in joins.into_iter().enumerate() {
        let group = format!("group-{g}");
        let mut leader = None;
        for id in ids {
            match d.take(id) {
                Some(GroupResponse::JoinGroup(j)) if j.error_code == 0 => {
                    if j.leader == j.member_id {
                        leader = Some(j);
                    }
                }
                other => panic!("join of {group} not answered: {other:?}"),
            }
        }
        let leader = leader.unwrap_or_else(|| panic!("{group} has no leader"));
        let all: Vec<String> = leader
            .members
            .iter()
            .map(|m| m.member_id.to_string())
            .collect();
        let r = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(leader.generation_id)
            .with_member_id(leader.member_id.clone())
            .with_assignments(
                all.iter()
                    .map(|m| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::new())
                    })
                    .collect(),
            );
        let id = d.send(3, GroupRequest::SyncGroup(r));
        match d.take(id) {
            Some(GroupResponse::SyncGroup(r)) if r.error_code == 0 => {}
            other => panic!("sync of {group} failed: {other:?}"),
        }
        members.push((group, all, leader.generation_id));
    }
    d.replies.clear();
    println!(
        "setup: {GROUPS} groups x {MEMBERS_PER_GROUP} members stable in {:.1} ms",
        setup.elapsed().as_secs_f64() * 1e3
    );

    // OffsetCommit round trips: handle + append_completed.
    let mut samples = Vec::with_capacity(COMMITS);
    let started = Instant::now();
    for i in 0..COMMITS {
        let (group, ms, generation) = &members[i % GROUPS];
        let member = &ms[i % MEMBERS_PER_GROUP];
        let r = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(*generation)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index((i % MEMBERS_PER_GROUP) as i32)
                    .with_committed_offset(i as i64)])]);
        let t = Instant::now();
        let id = d.send(8, GroupRequest::OffsetCommit(r));
        samples.push(t.elapsed().as_nanos());
        match d.take(id) {
            Some(GroupResponse::OffsetCommit(r)) => {
                assert_eq!(r.topics[0].partitions[0].error_code, 0)
            }
            other => panic!("commit not answered: {other:?}"),
        }
    }
    let total = started.elapsed();
    samples.sort_unstable();
    println!(
        "offset commit (handle + durable completion): {:.0} commits/s, p50 {} ns, p99 {} ns, max {} ns",
        COMMITS as f64 / total.as_secs_f64(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    // Heartbeats.
    let mut samples = Vec::with_capacity(COMMITS);
    for i in 0..COMMITS {
        let (group, ms, generation) = &members[i % GROUPS];
        let r = HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(*generation)
            .with_member_id(s(&ms[i % MEMBERS_PER_GROUP]));
        let t = Instant::now();
        let id = d.send(4, GroupRequest::Heartbeat(r));
        samples.push(t.elapsed().as_nanos());
        d.take(id);
    }
    samples.sort_unstable();
    println!(
        "heartbeat: p50 {} ns, p99 {} ns",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
    let t = Instant::now();
    let mut sink = 0i64;
    for _ in 0..100_000 {
        sink = sink.wrapping_add(d.c.next_deadline_ms().unwrap_or(0));
    }
    println!(
        "next_deadline_ms with {} members: {:.0} ns/call ({sink})",
        GROUPS * MEMBERS_PER_GROUP,
        t.elapsed().as_nanos() as f64 / 100_000.0
    );
}
