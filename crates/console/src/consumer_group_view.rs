//! A KIP-848 consumer group as ConsumerGroupDescribe reports it: group and assignment
//! epochs, and each member's epoch, subscription, current and target assignment, and
//! the partitions it still has to give up (current but not target) or is still
//! waiting for (target but not current).

use crate::group_admin::AssignedTopic;
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
    pub subscribed_topics: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub current: Vec<AssignedTopic>,
    pub target: Vec<AssignedTopic>,
    /// Owned now, not in the target: the member must revoke these first.
    pub revoking: Vec<AssignedTopic>,
    /// In the target, not owned yet: waiting for another member to revoke them.
    pub awaiting: Vec<AssignedTopic>,
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

fn member(m: &Member) -> ConsumerMemberView {
    let current = owned(&m.assignment);
    let target = owned(&m.target_assignment);
    ConsumerMemberView {
        member_id: m.member_id.to_string(),
        instance_id: m.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: m.rack_id.as_ref().map(|s| s.to_string()),
        client_id: m.client_id.to_string(),
        host: m.client_host.to_string(),
        member_epoch: m.member_epoch,
        subscribed_topics: m
            .subscribed_topic_names
            .iter()
            .map(|t| t.to_string())
            .collect(),
        subscribed_regex: m.subscribed_topic_regex.as_ref().map(|s| s.to_string()),
        revoking: listed(&minus(&current, &target)),
        awaiting: listed(&minus(&target, &current)),
        current: listed(&current),
        target: listed(&target),
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
        }
        self
    }

    /// The view of a described group (error code already checked by the caller).
    pub fn of(g: &DescribedGroup) -> Self {
        let mut members: Vec<ConsumerMemberView> = g.members.iter().map(member).collect();
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
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
        let v = ConsumerGroupView::of(&g);
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
    }
}
