//! Partition assignors and the consumer protocol's subscription/assignment bytes.
//!
//! The group leader runs the assignor the coordinator chose. The three strategies
//! share their names and results with the Java client and librdkafka, and the bytes
//! are the `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment` messages
//! behind a two-byte version, so members of different clients can share one group.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{BufMut, Bytes, BytesMut};
use moldau_protocol::kafka::messages::{
    consumer_protocol_assignment, consumer_protocol_subscription, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
};
use moldau_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};

use crate::cluster::topic_name;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// Version of the subscription and assignment this client writes (the newest both
/// the Java client and librdkafka read).
const CONSUMER_PROTOCOL_VERSION: i16 = 3;
/// Newest version the decoder knows; newer versions only append fields.
const CONSUMER_PROTOCOL_VERSION_MAX: i16 = 3;
/// Bound on rebalancing moves per assignment, so a pathological input ends.
const STICKY_MOVES_MAX: usize = 100_000;

/// `partition.assignment.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentStrategy {
    /// `range`: contiguous ranges of each topic's partitions per member.
    Range,
    /// `roundrobin`: all partitions dealt out in turn.
    RoundRobin,
    /// `cooperative-sticky`: balanced, keeps current owners, revokes incrementally.
    CooperativeSticky,
}

impl AssignmentStrategy {
    /// The protocol name in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Parses a protocol name.
    pub fn from_name(name: &str) -> Result<AssignmentStrategy> {
        match name {
            "range" => Ok(AssignmentStrategy::Range),
            "roundrobin" => Ok(AssignmentStrategy::RoundRobin),
            "cooperative-sticky" => Ok(AssignmentStrategy::CooperativeSticky),
            other => Err(Error::Config(format!(
                "unknown assignment strategy {other}"
            ))),
        }
    }

    /// True for the incremental (cooperative) rebalance protocol.
    pub fn is_cooperative(self) -> bool {
        self == AssignmentStrategy::CooperativeSticky
    }

    /// Computes every member's partitions. `partition_counts` holds each subscribed
    /// topic's partition count (unknown topics are absent and get no assignment).
    pub fn assign(
        self,
        partition_counts: &HashMap<String, i32>,
        members: &[MemberSubscription],
    ) -> HashMap<String, Vec<TopicPartition>> {
        let mut out: HashMap<String, Vec<TopicPartition>> = members
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        let sorted = sorted_members(members);
        match self {
            AssignmentStrategy::Range => range(partition_counts, &sorted, &mut out),
            AssignmentStrategy::RoundRobin => round_robin(partition_counts, &sorted, &mut out),
            AssignmentStrategy::CooperativeSticky => sticky(partition_counts, &sorted, &mut out),
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }
}

/// One member's subscription as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Partitions the member owns now (cooperative protocol).
    pub owned: Vec<TopicPartition>,
    /// The generation in which it got `owned` (-1 when unknown).
    pub generation: i32,
    /// `client.rack`.
    pub rack: Option<String>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
}

/// Java orders members by `group.instance.id` (static first), then member id; the
/// assignors depend on that order.
fn sorted_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut v: Vec<&MemberSubscription> = members.iter().collect();
    v.sort_by(|a, b| match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    });
    v
}

fn subscribes(m: &MemberSubscription, topic: &str) -> bool {
    m.topics.iter().any(|t| t == topic)
}

fn range(
    counts: &HashMap<String, i32>,
    members: &[&MemberSubscription],
    out: &mut HashMap<String, Vec<TopicPartition>>,
) {
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    for topic in topics {
        let Some(&n) = counts.get(topic) else {
            continue;
        };
        let consumers: Vec<&&MemberSubscription> =
            members.iter().filter(|m| subscribes(m, topic)).collect();
        if consumers.is_empty() || n <= 0 {
            continue;
        }
        let c = consumers.len() as i32;
        let (per, extra) = (n / c, n % c);
        for (i, m) in consumers.iter().enumerate() {
            let i = i as i32;
            let start = per * i + i.min(extra);
            let len = per + i32::from(i < extra);
            if let Some(list) = out.get_mut(&m.member_id) {
                list.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p)));
            }
        }
    }
}

fn all_partitions(
    counts: &HashMap<String, i32>,
    members: &[&MemberSubscription],
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    topics
        .into_iter()
        .filter_map(|t| counts.get(t).map(|&n| (t, n)))
        .flat_map(|(t, n)| (0..n.max(0)).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

fn round_robin(
    counts: &HashMap<String, i32>,
    members: &[&MemberSubscription],
    out: &mut HashMap<String, Vec<TopicPartition>>,
) {
    if members.is_empty() {
        return;
    }
    let mut next = 0usize;
    for tp in all_partitions(counts, members) {
        // Deal to the next member in the circle that subscribes to the topic.
        for step in 0..members.len() {
            let m = members[(next + step) % members.len()];
            if subscribes(m, &tp.topic) {
                next = (next + step + 1) % members.len();
                if let Some(list) = out.get_mut(&m.member_id) {
                    list.push(tp);
                }
                break;
            }
        }
    }
}

/// Balanced and sticky: members keep what they own while balance allows; the rest
/// goes to the least loaded eligible member. A partition moving away from a current
/// owner is left out this round: the owner revokes it and rejoins, and the next
/// rebalance hands it over (the cooperative protocol).
fn sticky(
    counts: &HashMap<String, i32>,
    members: &[&MemberSubscription],
    out: &mut HashMap<String, Vec<TopicPartition>>,
) {
    let all = all_partitions(counts, members);
    let valid: BTreeSet<&TopicPartition> = all.iter().collect();
    // Current owners; a partition claimed twice goes to the newer generation.
    let mut owner: BTreeMap<TopicPartition, (usize, i32)> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.owned {
            if !valid.contains(tp) || !subscribes(m, &tp.topic) {
                continue;
            }
            match owner.get(tp) {
                Some(&(_, g)) if g >= m.generation => {}
                _ => {
                    owner.insert(tp.clone(), (i, m.generation));
                }
            }
        }
    }
    let previous: BTreeMap<TopicPartition, usize> =
        owner.iter().map(|(tp, &(i, _))| (tp.clone(), i)).collect();
    let mut load: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); members.len()];
    for (tp, &i) in &previous {
        load[i].insert(tp.clone());
    }
    for tp in &all {
        if previous.contains_key(tp) {
            continue;
        }
        let best = (0..members.len())
            .filter(|&i| subscribes(members[i], &tp.topic))
            .min_by_key(|&i| (load[i].len(), i));
        if let Some(i) = best {
            load[i].insert(tp.clone());
        }
    }
    // Move partitions from the most to the least loaded eligible member until no
    // move narrows the gap.
    let mut moves = 0;
    'balance: while moves < STICKY_MOVES_MAX {
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(load[i].len()));
        for &from in &order {
            let candidates: Vec<TopicPartition> = load[from].iter().rev().cloned().collect();
            for tp in candidates {
                let to = (0..members.len())
                    .filter(|&j| j != from && subscribes(members[j], &tp.topic))
                    .min_by_key(|&j| (load[j].len(), j));
                if let Some(to) = to {
                    if load[from].len() > load[to].len() + 1 {
                        load[from].remove(&tp);
                        load[to].insert(tp);
                        moves += 1;
                        continue 'balance;
                    }
                }
            }
        }
        break;
    }
    for (i, set) in load.into_iter().enumerate() {
        let m = members[i];
        let Some(list) = out.get_mut(&m.member_id) else {
            continue;
        };
        for tp in set {
            match previous.get(&tp) {
                // Still owned by someone else: wait for the revocation.
                Some(&prev) if prev != i => {}
                _ => list.push(tp),
            }
        }
    }
}

/// Encodes a subscription (version prefix plus message).
pub fn encode_subscription(
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
    rack: Option<&str>,
) -> Result<Bytes> {
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_owned_partitions(
            group_by_topic(owned)
                .into_iter()
                .map(|(t, ps)| {
                    consumer_protocol_subscription::TopicPartition::default()
                        .with_topic(topic_name(&t))
                        .with_partitions(ps)
                })
                .collect(),
        )
        .with_generation_id(generation)
        .with_rack_id(rack.map(|r| StrBytes::from_string(r.to_string())));
    encode_versioned(&msg)
}

/// Decodes a member's subscription (any version 0..=3; newer ones read as 3).
pub fn decode_subscription(
    member_id: &str,
    instance: Option<&str>,
    data: &[u8],
) -> Result<MemberSubscription> {
    let (version, mut body) = split_version(data)?;
    let msg = ConsumerProtocolSubscription::decode(&mut body, version)
        .map_err(|e| Error::Protocol(format!("subscription of {member_id}: {e}")))?;
    Ok(MemberSubscription {
        member_id: member_id.to_string(),
        group_instance_id: instance.map(str::to_string),
        topics: msg.topics.iter().map(|t| t.to_string()).collect(),
        owned: msg
            .owned_partitions
            .iter()
            .flat_map(|tp| {
                tp.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(tp.topic.0.to_string(), p))
            })
            .collect(),
        generation: if version >= 2 { msg.generation_id } else { -1 },
        rack: msg.rack_id.map(|r| r.to_string()),
        user_data: msg.user_data,
    })
}

/// Encodes an assignment (version prefix plus message).
pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes> {
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(
        group_by_topic(partitions)
            .into_iter()
            .map(|(t, ps)| {
                consumer_protocol_assignment::TopicPartition::default()
                    .with_topic(topic_name(&t))
                    .with_partitions(ps)
            })
            .collect(),
    );
    encode_versioned(&msg)
}

/// Decodes an assignment; an empty byte string is an empty assignment.
pub fn decode_assignment(data: &[u8]) -> Result<Vec<TopicPartition>> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let (version, mut body) = split_version(data)?;
    let msg = ConsumerProtocolAssignment::decode(&mut body, version)
        .map_err(|e| Error::Protocol(format!("assignment: {e}")))?;
    let mut out: Vec<TopicPartition> = msg
        .assigned_partitions
        .iter()
        .flat_map(|tp| {
            tp.partitions
                .iter()
                .map(|&p| TopicPartition::new(tp.topic.0.to_string(), p))
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

fn group_by_topic(tps: &[TopicPartition]) -> BTreeMap<String, Vec<i32>> {
    let mut m: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        m.entry(tp.topic.clone()).or_default().push(tp.partition);
    }
    for v in m.values_mut() {
        v.sort_unstable();
    }
    m
}

fn encode_versioned<M: Encodable>(msg: &M) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(CONSUMER_PROTOCOL_VERSION);
    msg.encode(&mut buf, CONSUMER_PROTOCOL_VERSION)
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

fn split_version(data: &[u8]) -> Result<(i16, Bytes)> {
    if data.len() < 2 {
        return Err(Error::Protocol("consumer protocol bytes too short".into()));
    }
    let version = i16::from_be_bytes([data[0], data[1]]);
    if version < 0 {
        return Err(Error::Protocol(format!(
            "consumer protocol version {version}"
        )));
    }
    Ok((
        version.min(CONSUMER_PROTOCOL_VERSION_MAX),
        Bytes::copy_from_slice(&data[2..]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            generation: -1,
            ..Default::default()
        }
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|&(t, p)| TopicPartition::new(t, p))
            .collect()
    }

    fn counts(list: &[(&str, i32)]) -> HashMap<String, i32> {
        list.iter().map(|&(t, n)| (t.to_string(), n)).collect()
    }

    #[test]
    fn range_matches_java_layout() {
        // Java: 2 consumers, t0 and t1 with 3 partitions each:
        // C0: [t0p0, t0p1, t1p0, t1p1], C1: [t0p2, t1p2].
        let members = [member("c1", &["t0", "t1"]), member("c0", &["t0", "t1"])];
        let a = AssignmentStrategy::Range.assign(&counts(&[("t0", 3), ("t1", 3)]), &members);
        assert_eq!(a["c0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
        assert_eq!(a["c1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn roundrobin_matches_java_layout() {
        // Java: C0: [t0p0, t0p2, t1p1], C1: [t0p1, t1p0, t1p2].
        let members = [member("c0", &["t0", "t1"]), member("c1", &["t0", "t1"])];
        let a = AssignmentStrategy::RoundRobin.assign(&counts(&[("t0", 3), ("t1", 3)]), &members);
        assert_eq!(a["c0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(a["c1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
    }

    #[test]
    fn roundrobin_skips_members_not_subscribed() {
        let members = [member("a", &["t0"]), member("b", &["t0", "t1"])];
        let a = AssignmentStrategy::RoundRobin.assign(&counts(&[("t0", 2), ("t1", 2)]), &members);
        assert_eq!(a["a"], tps(&[("t0", 0)]));
        assert_eq!(a["b"], tps(&[("t0", 1), ("t1", 0), ("t1", 1)]));
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut x = member("zzz", &["t"]);
        x.group_instance_id = Some("i1".into());
        let y = member("aaa", &["t"]);
        let a = AssignmentStrategy::Range.assign(&counts(&[("t", 2)]), &[y, x]);
        assert_eq!(a["zzz"], tps(&[("t", 0)]));
        assert_eq!(a["aaa"], tps(&[("t", 1)]));
    }

    #[test]
    fn sticky_is_balanced_and_keeps_owners() {
        let c = counts(&[("t", 6)]);
        let first = AssignmentStrategy::CooperativeSticky.assign(&c, &[member("a", &["t"])]);
        assert_eq!(first["a"].len(), 6);
        // b joins: a keeps 3 of its own, gives up 3 (revocation round: b gets none yet).
        let mut a = member("a", &["t"]);
        a.owned = first["a"].clone();
        a.generation = 1;
        let b = member("b", &["t"]);
        let second = AssignmentStrategy::CooperativeSticky.assign(&c, &[a.clone(), b.clone()]);
        assert_eq!(second["a"].len(), 3);
        assert!(second["b"].is_empty());
        // After a revoked, the freed partitions go to b; a keeps its three.
        a.owned = second["a"].clone();
        let third = AssignmentStrategy::CooperativeSticky.assign(&c, &[a, b]);
        assert_eq!(third["a"], second["a"]);
        assert_eq!(third["b"].len(), 3);
        let all: BTreeSet<_> = third.values().flatten().collect();
        assert_eq!(all.len(), 6);
    }

    #[test]
    fn sticky_resolves_double_claims_by_generation() {
        let c = counts(&[("t", 2)]);
        let mut a = member("a", &["t"]);
        a.owned = tps(&[("t", 0), ("t", 1)]);
        a.generation = 1;
        let mut b = member("b", &["t"]);
        b.owned = tps(&[("t", 0)]);
        b.generation = 2;
        let out = AssignmentStrategy::CooperativeSticky.assign(&c, &[a, b]);
        assert_eq!(out["b"], tps(&[("t", 0)]));
        assert_eq!(out["a"], tps(&[("t", 1)]));
    }

    #[test]
    fn subscription_round_trips_and_has_java_prefix() {
        let owned = tps(&[("t", 1), ("t", 0)]);
        let bytes = encode_subscription(&["t".into(), "u".into()], &owned, 7, Some("r1")).unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        // v3 layout: topics array (i32 count, then i16-length strings)...
        assert_eq!(&bytes[2..6], &[0, 0, 0, 2]);
        assert_eq!(&bytes[6..9], &[0, 1, b't']);
        let m = decode_subscription("m", Some("i"), &bytes).unwrap();
        assert_eq!(m.topics, vec!["t", "u"]);
        assert_eq!(m.owned, tps(&[("t", 0), ("t", 1)]));
        assert_eq!(m.generation, 7);
        assert_eq!(m.rack.as_deref(), Some("r1"));
        assert_eq!(m.group_instance_id.as_deref(), Some("i"));
    }

    #[test]
    fn v0_subscription_and_newer_versions_decode() {
        // Version 0 as librdkafka or an old Java client writes it: topics + user data.
        let v0: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 1, b'x', 0xff, 0xff, 0xff, 0xff];
        let m = decode_subscription("m", None, v0).unwrap();
        assert_eq!(m.topics, vec!["x"]);
        assert_eq!(m.generation, -1);
        let mut v9 = encode_subscription(&["y".into()], &[], 3, None)
            .unwrap()
            .to_vec();
        v9[1] = 9;
        v9.extend_from_slice(&[1, 2, 3]); // fields a newer version would add
        assert_eq!(
            decode_subscription("m", None, &v9).unwrap().topics,
            vec!["y"]
        );
        assert!(decode_subscription("m", None, &[0]).is_err());
        assert!(decode_subscription("m", None, &[0, 1, 0xff]).is_err());
    }

    #[test]
    fn assignment_round_trips() {
        let a = tps(&[("b", 2), ("a", 0), ("b", 0)]);
        let bytes = encode_assignment(&a).unwrap();
        let back = decode_assignment(&bytes).unwrap();
        assert_eq!(back, tps(&[("a", 0), ("b", 0), ("b", 2)]));
        assert!(decode_assignment(&[]).unwrap().is_empty());
        assert!(decode_assignment(&[0, 0, 0, 0, 0, 9]).is_err());
    }
}
