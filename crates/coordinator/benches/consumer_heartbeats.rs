//! CPU cost of KIP-848 heartbeats on a big stable group: 50 members on 500
//! partitions, then 1 000 steady heartbeats (nothing changes, nothing is written).
//! Every heartbeat pays for whatever the coordinator keeps to roll the group back
//! should its records fail to append, so this shows that cost.
//! Run: `cargo bench -p moldau-coordinator --bench consumer_heartbeats`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failure should panic

use std::collections::BTreeMap;
use std::time::Instant;

use moldau_coordinator::{
    Effect, GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, ReplyId, RequestContext,
    TopicCatalog,
};
use moldau_protocol::kafka::messages::consumer_group_heartbeat_request::TopicPartitions;
use moldau_protocol::kafka::messages::*;
use moldau_protocol::kafka::protocol::StrBytes;
use uuid::Uuid;

const MEMBERS: usize = 50;
const TOPICS: usize = 5;
const PARTITIONS_PER_TOPIC: i32 = 100;
const HEARTBEATS: usize = 1_000;
const ROUNDS: usize = 5;
const SETTLE_ROUNDS_MAX: usize = 20;
/// ConsumerGroupHeartbeat v1: member ids are the client's.
const HB_VERSION: i16 = 1;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

struct Member {
    id: String,
    epoch: i32,
    owned: BTreeMap<Uuid, Vec<i32>>,
}

struct Driver {
    c: GroupCoordinator,
    now: i64,
    next: u64,
}

impl Driver {
    /// Sends one heartbeat, completes its appends at once, returns the answer.
    fn heartbeat(&mut self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        self.next += 1;
        let id = ReplyId(self.next);
        let ctx = RequestContext {
            client_id: "bench".into(),
            client_host: "/127.0.0.1".into(),
            api_version: HB_VERSION,
            topic_describe: None,
        };
        let mut queue = self
            .c
            .handle(self.now, ctx, id, GroupRequest::ConsumerGroupHeartbeat(req));
        let mut answer = None;
        while !queue.is_empty() {
            let mut more = Vec::new();
            for e in queue {
                match e {
                    Effect::Reply { id: r, response } if r == id => answer = Some(response),
                    Effect::Reply { .. } => {}
                    Effect::Append { id, .. } => {
                        more.extend(self.c.append_completed(self.now, id, 0))
                    }
                }
            }
            queue = more;
        }
        match answer {
            Some(GroupResponse::ConsumerGroupHeartbeat(r)) => r,
            other => panic!("heartbeat not answered: {other:?}"),
        }
    }
}

fn request(m: &Member, topics: &[String], full: bool) -> ConsumerGroupHeartbeatRequest {
    let joining = m.epoch == 0;
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("big")))
        .with_member_id(s(&m.id))
        .with_member_epoch(m.epoch)
        .with_rebalance_timeout_ms(if joining { 30_000 } else { -1 })
        .with_subscribed_topic_names(
            joining.then(|| topics.iter().map(|t| TopicName(s(t))).collect()),
        )
        .with_topic_partitions(full.then(|| {
            m.owned
                .iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*t)
                        .with_partitions(ps.clone())
                })
                .collect()
        }))
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let config = GroupConfig::default();
    let mut d = Driver {
        c: GroupCoordinator::new(config.clone()),
        now: 1_000,
        next: 0,
    };
    for p in 0..config.offsets_topic_num_partitions {
        d.c.begin_loading(p);
        d.c.finish_loading(p, 0);
    }
    let topics: Vec<String> = (0..TOPICS).map(|t| format!("topic-{t}")).collect();
    let mut catalog = TopicCatalog::default();
    for t in &topics {
        catalog.insert(t, Uuid::new_v4(), PARTITIONS_PER_TOPIC);
    }
    d.c.update_topics(d.now, catalog);
    let mut members: Vec<Member> = (0..MEMBERS)
        .map(|i| Member {
            id: format!("member-{i:02}-{}", Uuid::new_v4()),
            epoch: 0,
            owned: BTreeMap::new(),
        })
        .collect();
    // Join, then reconcile (each member acknowledges what it is given at once)
    // until every member is at the group's epoch and a round changes nothing.
    let setup = Instant::now();
    let mut settled = false;
    for _ in 0..SETTLE_ROUNDS_MAX {
        let mut changed = false;
        for m in members.iter_mut() {
            let r = d.heartbeat(request(m, &topics, true));
            assert_eq!(r.error_code, 0, "{r:?}");
            changed |= r.member_epoch != m.epoch;
            m.epoch = r.member_epoch;
            if let Some(a) = r.assignment {
                let owned = a
                    .topic_partitions
                    .iter()
                    .map(|t| (t.topic_id, t.partitions.clone()))
                    .collect();
                changed |= owned != m.owned;
                m.owned = owned;
            }
        }
        if !changed {
            settled = true;
            break;
        }
    }
    assert!(settled, "the group did not settle");
    let owned: usize = members
        .iter()
        .flat_map(|m| m.owned.values())
        .map(Vec::len)
        .sum();
    assert_eq!(owned, TOPICS * PARTITIONS_PER_TOPIC as usize);
    println!(
        "setup: {MEMBERS} members on {} partitions stable in {:.1} ms",
        TOPICS * PARTITIONS_PER_TOPIC as usize,
        setup.elapsed().as_secs_f64() * 1e3
    );
    for (label, full) in [
        ("steady heartbeat (no owned list)", false),
        ("steady heartbeat (owned list)", true),
    ] {
        for round in 0..ROUNDS {
            let mut samples = Vec::with_capacity(HEARTBEATS);
            let started = Instant::now();
            for i in 0..HEARTBEATS {
                let m = &members[i % MEMBERS];
                let req = request(m, &topics, full);
                let t = Instant::now();
                let r = d.heartbeat(req);
                samples.push(t.elapsed().as_nanos());
                assert_eq!((r.error_code, r.member_epoch), (0, m.epoch), "{r:?}");
            }
            let total = started.elapsed();
            samples.sort_unstable();
            println!(
                "{label} round {round}: {HEARTBEATS} in {:.2} ms, p50 {} ns, p99 {} ns",
                total.as_secs_f64() * 1e3,
                percentile(&samples, 0.5),
                percentile(&samples, 0.99)
            );
        }
    }
}
