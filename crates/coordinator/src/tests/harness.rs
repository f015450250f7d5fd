//! A driver for the coordinator in tests: explicit time, replies collected by id, and
//! every `__consumer_offsets` append recorded (and completed, unless told otherwise).

use std::collections::{BTreeMap, HashMap};

use bytes::{Bytes, BytesMut};
use moldau_protocol::kafka::messages::join_group_request::JoinGroupRequestProtocol;
use moldau_protocol::kafka::messages::leave_group_request::MemberIdentity;
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_request::OffsetFetchRequestTopic;
use moldau_protocol::kafka::messages::sync_group_request::SyncGroupRequestAssignment;
use moldau_protocol::kafka::messages::*;
use moldau_protocol::kafka::protocol::{Encodable, StrBytes};

use crate::consumer_protocol::tests::{assignment, subscription};
use crate::{
    AppendId, Effect, GroupConfig, GroupCoordinator, GroupRequest, GroupResponse, ReplyId,
    RequestContext, SeededMemberIds,
};

pub const SESSION_MS: i32 = 10_000;
pub const REBALANCE_MS: i32 = 30_000;
pub const JOIN_VERSION: i16 = 9;
pub const SYNC_VERSION: i16 = 5;

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Every response must encode in the version it answers.
fn assert_encodes(response: &GroupResponse, version: i16) {
    let mut buf = BytesMut::new();
    let result = match response {
        GroupResponse::JoinGroup(r) => r.encode(&mut buf, version),
        GroupResponse::SyncGroup(r) => r.encode(&mut buf, version),
        GroupResponse::Heartbeat(r) => r.encode(&mut buf, version),
        GroupResponse::LeaveGroup(r) => r.encode(&mut buf, version),
        GroupResponse::OffsetCommit(r) => r.encode(&mut buf, version),
        GroupResponse::OffsetFetch(r) => r.encode(&mut buf, version),
        GroupResponse::ListGroups(r) => r.encode(&mut buf, version),
        GroupResponse::DescribeGroups(r) => r.encode(&mut buf, version),
        GroupResponse::DeleteGroups(r) => r.encode(&mut buf, version),
        GroupResponse::OffsetDelete(r) => r.encode(&mut buf, version),
        GroupResponse::ConsumerGroupHeartbeat(r) => r.encode(&mut buf, version),
        GroupResponse::ConsumerGroupDescribe(r) => r.encode(&mut buf, version),
        GroupResponse::TxnOffsetCommit(r) => r.encode(&mut buf, version),
        // Not a Kafka API: never encoded.
        GroupResponse::PendingRevocations(_) => return,
    };
    if let Err(e) = result {
        panic!("response does not encode in v{version}: {e}: {response:?}");
    }
}

pub struct Harness {
    pub c: GroupCoordinator,
    pub now: i64,
    next_reply: u64,
    versions: HashMap<u64, i16>,
    pub replies: BTreeMap<u64, GroupResponse>,
    /// Every record appended, in append order: (partition, key, value).
    pub log: Vec<(i32, Bytes, Option<Bytes>)>,
    /// For each record of `log`, the producer whose transaction it belongs to.
    pub log_producers: Vec<Option<i64>>,
    /// Transaction markers written: (records of `log` before it, partition,
    /// producer id, commit).
    pub markers: Vec<(usize, i32, i64, bool)>,
    /// Appends not completed yet (when `auto_complete` is off).
    pub pending: Vec<AppendId>,
    pub auto_complete: bool,
}

impl Harness {
    /// A coordinator leading every partition, with fixed member ids.
    pub fn new(config: GroupConfig) -> Self {
        let partitions = config.offsets_topic_num_partitions;
        let mut h = Harness {
            c: GroupCoordinator::with_member_ids(config, Box::new(SeededMemberIds::new(1))),
            now: 1_000_000,
            next_reply: 0,
            versions: HashMap::new(),
            replies: BTreeMap::new(),
            log: Vec::new(),
            log_producers: Vec::new(),
            markers: Vec::new(),
            pending: Vec::new(),
            auto_complete: true,
        };
        for p in 0..partitions {
            h.c.begin_loading(p);
            let effects = h.c.finish_loading(p, h.now);
            h.apply(effects);
        }
        h
    }

    /// Default settings but no initial rebalance delay.
    pub fn quick() -> Self {
        Harness::new(GroupConfig {
            group_initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        })
    }

    pub fn apply(&mut self, effects: Vec<Effect>) {
        // Checks (in debug builds) that the deadline index matches a full scan.
        let _ = self.c.next_deadline_ms();
        for effect in effects {
            match effect {
                Effect::Reply { id, response } => {
                    let version = self.versions.get(&id.0).copied().unwrap_or(0);
                    assert_encodes(&response, version);
                    let previous = self.replies.insert(id.0, response);
                    assert!(previous.is_none(), "request {} answered twice", id.0);
                }
                Effect::Append {
                    id,
                    partition,
                    records,
                    transaction,
                } => {
                    self.log_producers
                        .extend(records.iter().map(|_| transaction.map(|t| t.producer_id)));
                    for (k, v) in records {
                        self.log.push((partition, k, v));
                    }
                    if self.auto_complete {
                        let more = self.c.append_completed(self.now, id, 0);
                        self.apply(more);
                    } else {
                        self.pending.push(id);
                    }
                }
            }
        }
    }

    /// Completes the oldest pending append with `error`.
    pub fn complete_next(&mut self, error: i16) {
        let id = self.pending.remove(0);
        let effects = self.c.append_completed(self.now, id, error);
        self.apply(effects);
    }

    pub fn send_as(&mut self, client_id: &str, version: i16, request: GroupRequest) -> u64 {
        self.send_checked(client_id, version, request, None)
    }

    /// A request whose sender's principal may DESCRIBE only what `check` allows.
    pub fn send_checked(
        &mut self,
        client_id: &str,
        version: i16,
        request: GroupRequest,
        check: Option<crate::TopicDescribeCheck>,
    ) -> u64 {
        self.next_reply += 1;
        let id = self.next_reply;
        self.versions.insert(id, version);
        let ctx = RequestContext {
            client_id: client_id.to_string(),
            client_host: format!("/10.0.0.{}", client_id.len()),
            api_version: version,
            topic_describe: check,
        };
        let effects = self.c.handle(self.now, ctx, ReplyId(id), request);
        self.apply(effects);
        id
    }

    pub fn send(&mut self, version: i16, request: GroupRequest) -> u64 {
        self.send_as("client", version, request)
    }

    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
        let effects = self.c.tick(self.now);
        self.apply(effects);
    }

    /// Advances in 100 ms steps (as a broker ticking on time would) until `done`.
    pub fn advance_until(&mut self, limit_ms: i64, done: impl Fn(&Harness) -> bool) -> i64 {
        let mut waited = 0;
        while !done(self) {
            assert!(waited < limit_ms, "condition not met within {limit_ms} ms");
            self.advance(100);
            waited += 100;
        }
        waited
    }

    pub fn answered(&self, id: u64) -> bool {
        self.replies.contains_key(&id)
    }

    pub fn join_reply(&mut self, id: u64) -> JoinGroupResponse {
        match self.replies.remove(&id) {
            Some(GroupResponse::JoinGroup(r)) => r,
            other => panic!("expected a JoinGroup answer to {id}, got {other:?}"),
        }
    }

    pub fn sync_reply(&mut self, id: u64) -> SyncGroupResponse {
        match self.replies.remove(&id) {
            Some(GroupResponse::SyncGroup(r)) => r,
            other => panic!("expected a SyncGroup answer to {id}, got {other:?}"),
        }
    }

    pub fn error_of(&mut self, id: u64) -> i16 {
        match self.replies.remove(&id) {
            Some(GroupResponse::JoinGroup(r)) => r.error_code,
            Some(GroupResponse::SyncGroup(r)) => r.error_code,
            Some(GroupResponse::Heartbeat(r)) => r.error_code,
            Some(GroupResponse::LeaveGroup(r)) => r.error_code,
            Some(GroupResponse::ListGroups(r)) => r.error_code,
            Some(GroupResponse::OffsetDelete(r)) => r.error_code,
            Some(GroupResponse::OffsetFetch(r)) => r.error_code,
            Some(GroupResponse::OffsetCommit(r)) => r.topics[0].partitions[0].error_code,
            other => panic!("no answer with an error code for {id}: {other:?}"),
        }
    }

    // ---- request builders -------------------------------------------------------

    pub fn join_request(
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        protocols: &[(&str, &[&str])],
    ) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(SESSION_MS)
            .with_rebalance_timeout_ms(REBALANCE_MS)
            .with_member_id(s(member_id))
            .with_group_instance_id(instance.map(s))
            .with_protocol_type(s("consumer"))
            .with_protocols(
                protocols
                    .iter()
                    .map(|(name, topics)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(s(name))
                            .with_metadata(Bytes::from(subscription(topics)))
                    })
                    .collect(),
            )
    }

    /// JoinGroup (v9) for topic `t` with the "range" assignor.
    pub fn join(&mut self, group: &str, member_id: &str) -> u64 {
        let r = Self::join_request(group, member_id, None, &[("range", &["t"])]);
        self.send_as(
            &format!("c-{member_id}"),
            JOIN_VERSION,
            GroupRequest::JoinGroup(r),
        )
    }

    pub fn join_static(&mut self, group: &str, member_id: &str, instance: &str) -> u64 {
        let r = Self::join_request(group, member_id, Some(instance), &[("range", &["t"])]);
        self.send_as(instance, JOIN_VERSION, GroupRequest::JoinGroup(r))
    }

    /// Joins with no id, gets MEMBER_ID_REQUIRED, returns the rejoin's reply id and the
    /// member id.
    pub fn join_new(&mut self, group: &str) -> (u64, String) {
        let first = self.join(group, "");
        let r = self.join_reply(first);
        assert_eq!(r.error_code, crate::codes::MEMBER_ID_REQUIRED);
        let id = r.member_id.as_str().to_string();
        (self.join(group, &id), id)
    }

    pub fn sync(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        assignments: &[(&str, &[i32])],
    ) -> u64 {
        let r = SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, parts)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::from(assignment(&[("t", parts)])))
                    })
                    .collect(),
            );
        self.send(SYNC_VERSION, GroupRequest::SyncGroup(r))
    }

    pub fn sync_static(
        &mut self,
        group: &str,
        member_id: &str,
        instance: &str,
        generation: i32,
    ) -> u64 {
        let r = SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id))
            .with_group_instance_id(Some(s(instance)));
        self.send(SYNC_VERSION, GroupRequest::SyncGroup(r))
    }

    pub fn heartbeat(&mut self, group: &str, member_id: &str, generation: i32) -> i16 {
        let r = HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id));
        let id = self.send(4, GroupRequest::Heartbeat(r));
        self.error_of(id)
    }

    pub fn heartbeat_static(
        &mut self,
        group: &str,
        member_id: &str,
        instance: &str,
        generation: i32,
    ) -> i16 {
        let r = HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member_id))
            .with_group_instance_id(Some(s(instance)));
        let id = self.send(4, GroupRequest::Heartbeat(r));
        self.error_of(id)
    }

    /// LeaveGroup v5 for these members; the per-member errors.
    pub fn leave(&mut self, group: &str, members: &[(&str, Option<&str>)]) -> Vec<i16> {
        let r = LeaveGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_members(
                members
                    .iter()
                    .map(|(m, i)| {
                        MemberIdentity::default()
                            .with_member_id(s(m))
                            .with_group_instance_id(i.map(s))
                    })
                    .collect(),
            );
        let id = self.send(5, GroupRequest::LeaveGroup(r));
        match self.replies.remove(&id) {
            Some(GroupResponse::LeaveGroup(r)) => {
                assert_eq!(r.error_code, 0);
                r.members.iter().map(|m| m.error_code).collect()
            }
            other => panic!("expected LeaveGroup answer, got {other:?}"),
        }
    }

    pub fn commit_request(
        group: &str,
        member_id: &str,
        generation: i32,
        offsets: &[(&str, i32, i64)],
    ) -> OffsetCommitRequest {
        let mut by_topic: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (topic, p, offset) in offsets {
            let part = OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(3)
                .with_committed_metadata(Some(s("meta")));
            match by_topic.iter_mut().find(|t| t.name.as_str() == *topic) {
                Some(t) => t.partitions.push(part),
                None => by_topic.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(topic)))
                        .with_partitions(vec![part]),
                ),
            }
        }
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member_id))
            .with_retention_time_ms(-1)
            .with_topics(by_topic)
    }

    /// OffsetCommit v8; returns the reply id (the answer may wait for the append).
    pub fn commit(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        offsets: &[(&str, i32, i64)],
    ) -> u64 {
        let r = Self::commit_request(group, member_id, generation, offsets);
        self.send(8, GroupRequest::OffsetCommit(r))
    }

    /// OffsetFetch v7 of one group; (topic, partition, offset, error) per partition and
    /// the top-level error.
    pub fn fetch(
        &mut self,
        group: &str,
        wanted: Option<&[(&str, &[i32])]>,
    ) -> (i16, Vec<(String, i32, i64, i16)>) {
        let r = OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(wanted.map(|w| {
                w.iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partition_indexes(ps.to_vec())
                    })
                    .collect()
            }));
        let id = self.send(7, GroupRequest::OffsetFetch(r));
        match self.replies.remove(&id) {
            Some(GroupResponse::OffsetFetch(r)) => (
                r.error_code,
                r.topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(move |p| {
                            (
                                t.name.as_str().to_string(),
                                p.partition_index,
                                p.committed_offset,
                                p.error_code,
                            )
                        })
                    })
                    .collect(),
            ),
            other => panic!("expected OffsetFetch answer, got {other:?}"),
        }
    }

    pub fn describe(&mut self, group: &str) -> describe_groups_response::DescribedGroup {
        let r = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
        let id = self.send(5, GroupRequest::DescribeGroups(r));
        match self.replies.remove(&id) {
            Some(GroupResponse::DescribeGroups(mut r)) => r.groups.remove(0),
            other => panic!("expected DescribeGroups answer, got {other:?}"),
        }
    }

    pub fn state(&mut self, group: &str) -> String {
        self.describe(group).group_state.as_str().to_string()
    }
}

/// Drives `n` new members of `group` (v9, MEMBER_ID_REQUIRED flow) through JoinGroup
/// and SyncGroup; they all join within the initial rebalance delay (the harness must
/// have one). The leader assigns partition i to the i-th member. Returns the member
/// ids (leader first) and the generation.
pub fn stable_group(h: &mut Harness, group: &str, n: usize) -> (Vec<String>, i32) {
    let joins: Vec<(u64, String)> = (0..n).map(|_| h.join_new(group)).collect();
    let mut waited = 0;
    while !joins.iter().all(|(id, _)| h.answered(*id)) {
        assert!(waited < 100, "join never completed");
        h.advance(1_000);
        waited += 1;
    }
    let mut leader = String::new();
    let mut generation = -1;
    for (id, _) in &joins {
        let r = h.join_reply(*id);
        assert_eq!(r.error_code, 0);
        generation = r.generation_id;
        leader = r.leader.as_str().to_string();
    }
    let mut ordered = vec![leader.clone()];
    ordered.extend(
        joins
            .iter()
            .map(|(_, m)| m.clone())
            .filter(|m| *m != leader),
    );
    let parts: Vec<Vec<i32>> = (0..n as i32).map(|i| vec![i]).collect();
    let assignments: Vec<(&str, &[i32])> = ordered
        .iter()
        .zip(parts.iter())
        .map(|(m, p)| (m.as_str(), p.as_slice()))
        .collect();
    let follower_syncs: Vec<u64> = ordered
        .iter()
        .skip(1)
        .map(|m| h.sync(group, m, generation, &[]))
        .collect();
    let leader_sync = h.sync(group, &leader, generation, &assignments);
    for id in follower_syncs.into_iter().chain([leader_sync]) {
        assert_eq!(h.sync_reply(id).error_code, 0);
    }
    (ordered, generation)
}
