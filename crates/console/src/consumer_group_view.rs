//! A KIP-848 consumer group as ConsumerGroupDescribe reports it: group and assignment
//! epochs, and each member's epoch, subscription, current and target assignment, and
//! the partitions it still has to give up (current but not target) or is still
//! waiting for (target but not current), and who still owns those: a partition the
//! target gives to X is handed over only once its owner Y has revoked it. Once Y has
//! been told, the partition is pending revocation, which ConsumerGroupDescribe (as
//! Kafka's) leaves out of Y's assignment: the coordinator's PendingRevocations adds it.

use crate::group_admin::AssignedTopic;
use moldau_coordinator::PendingRevocation;
use moldau_protocol::kafka::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One member of a consumer-protocol group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConsumerMemberView {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub member_epoch: i32,
    /// `consumer` (speaks ConsumerGroupHeartbeat) or `classic` (a JoinGroup member
    /// of a migrating group), as ConsumerGroupDescribe v1 reports it.
    pub member_type: &'static str,
    pub subscribed_topics: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub current: Vec<AssignedTopic>,
    pub target: Vec<AssignedTopic>,
    /// Owned now, not in the target: the member must revoke these first (those it
    /// was already told to give up included).
    pub revoking: Vec<AssignedTopic>,
    /// In the target, not owned yet: waiting for another member to revoke them.
    pub awaiting: Vec<AssignedTopic>,
    /// The awaited partitions another member still owns, with that owner.
    pub waiting_on: Vec<WaitingPartition>,
}

/// A partition in a member's target that another member has yet to revoke.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WaitingPartition {
    pub topic: String,
    pub partition: i32,
    /// The member that owns it now.
    pub owner: String,
}

/// Kafka's member type of a classic-protocol member (ConsumerGroupDescribe v1).
const MEMBER_TYPE_CLASSIC: i8 = 0;
/// Kafka's member type of a consumer-protocol member.
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn member_type_name(t: i8) -> &'static str {
    match t {
        MEMBER_TYPE_CLASSIC => "classic",
        MEMBER_TYPE_CONSUMER => "consumer",
        _ => "unknown",
    }
}

/// A consumer-protocol group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConsumerGroupView {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberView>,
}

type Owned = BTreeMap<String, BTreeSet<i32>>;

fn owned(a: &Assignment) -> Owned {
    let mut out = Owned::new();
    for t in &a.topic_partitions {
        out.entry(t.topic_name.to_string())
            .or_default()
            .extend(t.partitions.iter().copied());
    }
    out
}

fn listed(o: &Owned) -> Vec<AssignedTopic> {
    o.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(topic, ps)| AssignedTopic {
            topic: topic.clone(),
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

/// Partitions in `a` and not in `b`.
fn minus(a: &Owned, b: &Owned) -> Owned {
    a.iter()
        .map(|(t, ps)| {
            let other = b.get(t);
            let left = ps
                .iter()
                .filter(|p| other.is_none_or(|o| !o.contains(p)))
                .copied()
                .collect();
            (t.clone(), left)
        })
        .collect()
}

fn member(m: &Member, pending: &[PendingRevocation]) -> ConsumerMemberView {
    let current = owned(&m.assignment);
    let target = owned(&m.target_assignment);
    let mut held = current.clone();
    for p in pending
        .iter()
        .filter(|p| p.member_id == m.member_id.as_str())
    {
        held.entry(p.topic.clone())
            .or_default()
            .extend(p.partitions.iter().copied());
    }
    ConsumerMemberView {
        member_id: m.member_id.to_string(),
        instance_id: m.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: m.rack_id.as_ref().map(|s| s.to_string()),
        client_id: m.client_id.to_string(),
        host: m.client_host.to_string(),
        member_epoch: m.member_epoch,
        member_type: member_type_name(m.member_type),
        subscribed_topics: m
            .subscribed_topic_names
            .iter()
            .map(|t| t.to_string())
            .collect(),
        subscribed_regex: m.subscribed_topic_regex.as_ref().map(|s| s.to_string()),
        revoking: listed(&minus(&held, &target)),
        awaiting: listed(&minus(&target, &current)),
        current: listed(&current),
        target: listed(&target),
        waiting_on: Vec::new(),
    }
}

/// Fills each member's `waiting_on`: who holds each partition it awaits.
fn find_owners(members: &mut [ConsumerMemberView]) {
    let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in members.iter() {
        for t in m.current.iter().chain(&m.revoking) {
            for p in &t.partitions {
                owners.insert((t.topic.clone(), *p), m.member_id.clone());
            }
        }
    }
    for m in members.iter_mut() {
        m.waiting_on = m
            .awaiting
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.clone(), *p)))
            .filter_map(|key| {
                let owner = owners.get(&key)?.clone();
                Some(WaitingPartition {
                    topic: key.0,
                    partition: key.1,
                    owner,
                })
            })
            .collect();
    }
}

impl ConsumerGroupView {
    /// The view with only the assignments of topics `keep` accepts (subscriptions
    /// stay: they are what the members asked for, not what exists).
    pub fn retain_topics(mut self, keep: impl Fn(&str) -> bool) -> Self {
        for m in &mut self.members {
            for list in [
                &mut m.current,
                &mut m.target,
                &mut m.revoking,
                &mut m.awaiting,
            ] {
                list.retain(|a| keep(&a.topic));
            }
            m.waiting_on.retain(|w| keep(&w.topic));
        }
        self
    }

    /// The view of a described group (error code already checked by the caller)
    /// and of the partitions its members have yet to revoke.
    pub fn of(g: &DescribedGroup, pending: &[PendingRevocation]) -> Self {
        let mut members: Vec<ConsumerMemberView> =
            g.members.iter().map(|m| member(m, pending)).collect();
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        find_owners(&mut members);
        ConsumerGroupView {
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            assignor: g.assignor_name.to_string(),
            members,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_protocol::kafka::messages::consumer_group_describe_response::TopicPartitions;
    use moldau_protocol::kafka::messages::TopicName;
    use moldau_protocol::kafka::protocol::StrBytes;

    fn assignment(parts: &[i32]) -> Assignment {
        Assignment::default().with_topic_partitions(vec![TopicPartitions::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(parts.to_vec())])
    }

    #[test]
    fn revoking_and_awaiting_are_the_differences() {
        let g = DescribedGroup::default()
            .with_group_epoch(7)
            .with_assignment_epoch(7)
            .with_members(vec![Member::default()
                .with_member_id(StrBytes::from_static_str("m1"))
                .with_member_epoch(6)
                .with_assignment(assignment(&[0, 1, 2]))
                .with_target_assignment(assignment(&[1, 2, 3]))]);
        let v = ConsumerGroupView::of(&g, &[]);
        let m = &v.members[0];
        let parts = |a: &[AssignedTopic]| {
            a.iter()
                .flat_map(|t| t.partitions.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(m.member_epoch, 6);
        assert_eq!(parts(&m.current), [0, 1, 2]);
        assert_eq!(parts(&m.target), [1, 2, 3]);
        assert_eq!(parts(&m.revoking), [0]);
        assert_eq!(parts(&m.awaiting), [3]);
        assert_eq!(m.member_type, "unknown");
    }

    #[test]
    fn a_member_waits_on_the_owner_that_has_not_revoked_yet() {
        // m2's target has 2 and 3; m1 still owns 2 (and must revoke it), 3 is free.
        let g = DescribedGroup::default()
            .with_group_epoch(3)
            .with_assignment_epoch(3)
            .with_members(vec![
                Member::default()
                    .with_member_id(StrBytes::from_static_str("m1"))
                    .with_member_type(MEMBER_TYPE_CONSUMER)
                    .with_assignment(assignment(&[0, 1, 2]))
                    .with_target_assignment(assignment(&[0, 1])),
                Member::default()
                    .with_member_id(StrBytes::from_static_str("m2"))
                    .with_member_type(MEMBER_TYPE_CLASSIC)
                    .with_assignment(assignment(&[]))
                    .with_target_assignment(assignment(&[2, 3])),
            ]);
        let v = ConsumerGroupView::of(&g, &[]);
        let (m1, m2) = (&v.members[0], &v.members[1]);
        assert_eq!((m1.member_type, m2.member_type), ("consumer", "classic"));
        assert!(m1.waiting_on.is_empty());
        assert_eq!(
            m2.waiting_on,
            [WaitingPartition {
                topic: "orders".into(),
                partition: 2,
                owner: "m1".into()
            }]
        );
    }

    #[test]
    fn a_partition_pending_revocation_is_still_its_owners() {
        // m1 was told to give up 2: described, its assignment no longer has it.
        let g = DescribedGroup::default().with_members(vec![
            Member::default()
                .with_member_id(StrBytes::from_static_str("m1"))
                .with_assignment(assignment(&[0, 1]))
                .with_target_assignment(assignment(&[0, 1])),
            Member::default()
                .with_member_id(StrBytes::from_static_str("m2"))
                .with_assignment(assignment(&[]))
                .with_target_assignment(assignment(&[2])),
        ]);
        let pending = [PendingRevocation {
            member_id: "m1".into(),
            topic: "orders".into(),
            partitions: vec![2],
        }];
        let v = ConsumerGroupView::of(&g, &pending);
        let (m1, m2) = (&v.members[0], &v.members[1]);
        assert_eq!(m1.revoking.len(), 1);
        assert_eq!(m1.revoking[0].partitions, [2]);
        assert_eq!(m2.waiting_on.len(), 1);
        assert_eq!(
            (m2.waiting_on[0].partition, m2.waiting_on[0].owner.as_str()),
            (2, "m1")
        );
        // Without it, the partition looks free.
        assert!(ConsumerGroupView::of(&g, &[]).members[1]
            .waiting_on
            .is_empty());
    }
}
