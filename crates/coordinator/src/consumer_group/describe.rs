//! ConsumerGroupDescribe: epochs, assignor, and each member's current and target
//! assignment (with the partitions still in flight between them).

use moldau_protocol::kafka::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member, TopicPartitions,
};
use moldau_protocol::kafka::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

use super::assignment::Assignment;
use super::group::ConsumerGroup;
use super::heartbeat::configured_assignors;
use super::topic_catalog::TopicCatalog;
use crate::codes;
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::request::{GroupResponse, PendingRevocation};
use crate::responses::str;

/// Kafka's member type for a member speaking the consumer protocol.
const MEMBER_TYPE_CONSUMER: i8 = 1;
/// Kafka's member type for a member speaking the classic protocol.
const MEMBER_TYPE_CLASSIC: i8 = 0;

impl GroupCoordinator {
    pub(crate) fn consumer_group_describe(
        &mut self,
        reply: ReplyId,
        req: ConsumerGroupDescribeRequest,
        out: &mut Vec<Effect>,
    ) {
        let assignors = configured_assignors(&self.config);
        let groups = req
            .group_ids
            .iter()
            .map(|id| {
                let base = DescribedGroup::default().with_group_id(id.clone());
                let not_found = |m: String| {
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_error_code(codes::GROUP_ID_NOT_FOUND)
                        .with_error_message(Some(str(&m)))
                };
                if let Err(code) = self.group_status(id.as_str(), false) {
                    return base.with_error_code(code);
                }
                match self.groups.get(id.as_str()) {
                    None => not_found(format!("Group {} not found.", id.as_str())),
                    Some(g) => match g.consumer.as_deref() {
                        None => {
                            not_found(format!("Group {} is not a consumer group.", id.as_str()))
                        }
                        Some(cg) => {
                            let assignor = cg.assignor(&assignors).name();
                            describe(cg, &self.topics, base, assignor)
                        }
                    },
                }
            })
            .collect();
        let response = ConsumerGroupDescribeResponse::default().with_groups(groups);
        Self::reply(out, reply, GroupResponse::ConsumerGroupDescribe(response));
    }

    /// Each member's partitions pending revocation, by topic name.
    pub(crate) fn pending_revocations(
        &mut self,
        reply: ReplyId,
        group_id: &str,
        out: &mut Vec<Effect>,
    ) {
        let mut found = Vec::new();
        if let Some(cg) = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_deref())
        {
            for (member_id, m) in &cg.members {
                for (topic_id, partitions) in &m.current.pending_revocation {
                    // A deleted topic's partitions are no longer anyone's to revoke.
                    let Some(topic) = self.topics.name_of(topic_id) else {
                        continue;
                    };
                    found.push(PendingRevocation {
                        member_id: member_id.clone(),
                        topic: topic.to_string(),
                        partitions: partitions.iter().copied().collect(),
                    });
                }
            }
        }
        Self::reply(out, reply, GroupResponse::PendingRevocations(found));
    }
}

fn described(a: &Assignment, catalog: &TopicCatalog) -> DescribedAssignment {
    let topics = a
        .iter()
        .map(|(id, ps)| {
            TopicPartitions::default()
                .with_topic_id(*id)
                .with_topic_name(TopicName(str(catalog.name_of(id).unwrap_or(""))))
                .with_partitions(ps.iter().copied().collect())
        })
        .collect();
    DescribedAssignment::default().with_topic_partitions(topics)
}

fn describe(
    cg: &ConsumerGroup,
    catalog: &TopicCatalog,
    base: DescribedGroup,
    assignor: &str,
) -> DescribedGroup {
    let members = cg
        .members
        .values()
        .map(|m| {
            let s = &m.subscription;
            let target = cg.target.get(&m.id).cloned().unwrap_or_default();
            Member::default()
                .with_member_id(str(&m.id))
                .with_instance_id(s.instance_id.as_deref().map(str))
                .with_rack_id(s.rack_id.as_deref().map(str))
                .with_member_epoch(m.current.member_epoch)
                .with_client_id(str(&s.client_id))
                .with_client_host(str(&s.client_host))
                .with_subscribed_topic_names(
                    s.topic_names.iter().map(|t| TopicName(str(t))).collect(),
                )
                .with_subscribed_topic_regex(s.topic_regex.as_deref().map(str))
                .with_assignment(described(&m.current.assigned, catalog))
                .with_target_assignment(described(&target, catalog))
                .with_member_type(if m.is_classic() {
                    MEMBER_TYPE_CLASSIC
                } else {
                    MEMBER_TYPE_CONSUMER
                })
        })
        .collect();
    base.with_group_state(str(cg.state_name()))
        .with_group_epoch(cg.group_epoch)
        .with_assignment_epoch(cg.assignment_epoch)
        .with_assignor_name(str(assignor))
        .with_members(members)
}

/// DescribeGroups for a consumer group, as Kafka answers it: protocol type
/// `consumer`, the assignor as protocol, and each member's subscription and current
/// assignment in the classic consumer protocol's encoding (version 0).
pub(crate) fn as_described_group(
    g: &crate::group::Group,
    catalog: &TopicCatalog,
    config: &crate::config::GroupConfig,
    base: moldau_protocol::kafka::messages::describe_groups_response::DescribedGroup,
) -> moldau_protocol::kafka::messages::describe_groups_response::DescribedGroup {
    use moldau_protocol::kafka::messages::describe_groups_response::DescribedGroupMember;
    let Some(cg) = g.consumer.as_deref() else {
        return base;
    };
    let assignor = cg.assignor(&configured_assignors(config)).name();
    let members = cg
        .members
        .values()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str(&m.id))
                .with_group_instance_id(m.subscription.instance_id.as_deref().map(str))
                .with_client_id(str(&m.subscription.client_id))
                .with_client_host(str(&m.subscription.client_host))
                .with_member_metadata(match &m.subscription.classic {
                    // A classic member shows what it sent in JoinGroup.
                    Some(c) => c.protocols.first().map(|p| p.1.clone()).unwrap_or_default(),
                    None => classic_subscription(&m.subscription.topic_names),
                })
                .with_member_assignment(classic_assignment(&m.current.assigned, catalog, 0))
        })
        .collect();
    base.with_group_state(str(cg.state_name()))
        .with_protocol_type(str(crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE))
        .with_protocol_data(str(assignor))
        .with_members(members)
}

/// ConsumerProtocolSubscription v0: topics, no user data.
fn classic_subscription(topics: &[String]) -> bytes::Bytes {
    let mut w = crate::wire::Writer::with_capacity(8 + topics.len() * 16);
    w.i16(0);
    w.i32(i32::try_from(topics.len()).unwrap_or(i32::MAX));
    for t in topics {
        // Names were checked against the string limit when they came in.
        let _ = w.string(t);
    }
    w.i32(-1);
    w.finish()
}

/// ConsumerProtocolAssignment at `version` (0 to 3 share one layout): partitions by
/// topic name, no user data.
pub(crate) fn classic_assignment(
    a: &Assignment,
    catalog: &TopicCatalog,
    version: i16,
) -> bytes::Bytes {
    let named: Vec<(&str, &std::collections::BTreeSet<i32>)> = a
        .iter()
        .filter_map(|(id, ps)| catalog.name_of(id).map(|n| (n, ps)))
        .collect();
    let mut w = crate::wire::Writer::with_capacity(8 + named.len() * 32);
    w.i16(version);
    w.i32(i32::try_from(named.len()).unwrap_or(i32::MAX));
    for (name, ps) in named {
        let _ = w.string(name);
        w.i32(i32::try_from(ps.len()).unwrap_or(i32::MAX));
        for p in ps {
            w.i32(*p);
        }
    }
    w.i32(-1);
    w.finish()
}
