//! The ACL checks of the group APIs, before a request reaches the coordinator:
//! READ on the group to join, sync, heartbeat, leave or commit; DESCRIBE to fetch
//! offsets or describe; DELETE to delete a group or its offsets. A request the
//! principal may not make is answered here with GROUP_AUTHORIZATION_FAILED in the
//! API's own shape; multi-group requests are narrowed to the groups allowed and the
//! others get their error entries after the coordinator's answer.

use crate::request_access::{Access, GROUP_OPERATIONS};
use moldau_coordinator::{GroupRequest, GroupResponse};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use moldau_protocol::kafka::messages::*;
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use moldau_security::AclResource;

/// JoinGroup v7 made the protocol name nullable (null on errors).
const JOIN_NULLABLE_PROTOCOL_VERSION: i16 = 7;
/// OffsetFetch v2 added the top-level error code; v8 batches groups.
const OFFSET_FETCH_TOP_LEVEL_ERROR_VERSION: i16 = 2;
const OFFSET_FETCH_GROUPS_VERSION: i16 = 8;

const DENIED: ResponseError = ResponseError::GroupAuthorizationFailed;

fn message() -> Option<StrBytes> {
    Some(StrBytes::from_string(DENIED.to_string()))
}

/// The answer refusing a single-group request the principal may not make, or None
/// when it may go on (possibly narrowed: see [`narrow`]).
pub fn refusal(access: &Access, request: &GroupRequest, version: i16) -> Option<GroupResponse> {
    let may = |op: AclOperation, group: &GroupId| access.group(op, group.as_str());
    let code = DENIED.code();
    Some(match request {
        GroupRequest::JoinGroup(r) if !may(AclOperation::Read, &r.group_id) => {
            let name = (version < JOIN_NULLABLE_PROTOCOL_VERSION).then(StrBytes::default);
            GroupResponse::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(code)
                    .with_member_id(r.member_id.clone())
                    .with_protocol_name(name),
            )
        }
        GroupRequest::SyncGroup(r) if !may(AclOperation::Read, &r.group_id) => {
            GroupResponse::SyncGroup(SyncGroupResponse::default().with_error_code(code))
        }
        GroupRequest::Heartbeat(r) if !may(AclOperation::Read, &r.group_id) => {
            GroupResponse::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        GroupRequest::LeaveGroup(r) if !may(AclOperation::Read, &r.group_id) => {
            GroupResponse::LeaveGroup(LeaveGroupResponse::default().with_error_code(code))
        }
        GroupRequest::ConsumerGroupHeartbeat(r) if !may(AclOperation::Read, &r.group_id) => {
            GroupResponse::ConsumerGroupHeartbeat(
                ConsumerGroupHeartbeatResponse::default()
                    .with_error_code(code)
                    .with_error_message(message()),
            )
        }
        GroupRequest::OffsetDelete(r) if !may(AclOperation::Delete, &r.group_id) => {
            GroupResponse::OffsetDelete(OffsetDeleteResponse::default().with_error_code(code))
        }
        GroupRequest::OffsetCommit(r) if !may(AclOperation::Read, &r.group_id) => {
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            GroupResponse::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
        }
        GroupRequest::OffsetFetch(r)
            if version < OFFSET_FETCH_GROUPS_VERSION
                && !may(AclOperation::Describe, &r.group_id) =>
        {
            // v0-1 have no top-level error: each requested partition carries it.
            let topics = r
                .topics
                .iter()
                .flatten()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(-1)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            let mut response = OffsetFetchResponse::default().with_topics(topics);
            if version >= OFFSET_FETCH_TOP_LEVEL_ERROR_VERSION {
                response = response.with_error_code(code);
            }
            GroupResponse::OffsetFetch(response)
        }
        _ => return None,
    })
}

/// What [`narrow`] took out of a multi-group request, to answer after the
/// coordinator: the refused groups, and the operations of the allowed ones.
#[derive(Default)]
pub struct Narrowed {
    refused: Vec<GroupId>,
    /// DescribeGroups / ConsumerGroupDescribe: (group, authorized-operation bits).
    operations: Vec<(String, i32)>,
    /// ListGroups without DESCRIBE on the cluster: keep only DESCRIBE-able groups.
    list_filter: Option<Access>,
    /// ConsumerGroupDescribe and DescribeGroups: the principal, whose DESCRIBE on
    /// every topic of a group's assignments decides whether the group is shown.
    topic_check: Option<Access>,
}

/// Kafka's message for a described group whose assignments name a topic the
/// principal may not describe (the group gets TOPIC_AUTHORIZATION_FAILED, no members).
const UNDESCRIBABLE_TOPICS_MESSAGE: &str =
    "The group has described topic(s) that the client is not authorized to describe.";

/// Takes the groups the principal may not act on out of a multi-group request
/// (DescribeGroups, ConsumerGroupDescribe, DeleteGroups, OffsetFetch v8+), and notes
/// what [`complete`] must add to the answer.
pub fn narrow(access: &Access, request: &mut GroupRequest) -> Narrowed {
    let mut narrowed = Narrowed::default();
    let split = |groups: &mut Vec<GroupId>, op: AclOperation| {
        let (keep, refuse): (Vec<GroupId>, Vec<GroupId>) = std::mem::take(groups)
            .into_iter()
            .partition(|g| access.group(op, g.as_str()));
        *groups = keep;
        refuse
    };
    match request {
        GroupRequest::DescribeGroups(r) => {
            narrowed.refused = split(&mut r.groups, AclOperation::Describe);
            narrowed.operations = operations_of(access, &r.groups);
            narrowed.topic_check = Some(access.clone());
        }
        GroupRequest::ConsumerGroupDescribe(r) => {
            narrowed.refused = split(&mut r.group_ids, AclOperation::Describe);
            narrowed.operations = operations_of(access, &r.group_ids);
            narrowed.topic_check = Some(access.clone());
        }
        GroupRequest::DeleteGroups(r) => {
            narrowed.refused = split(&mut r.groups_names, AclOperation::Delete);
        }
        GroupRequest::OffsetFetch(r) => {
            let (keep, refuse) = std::mem::take(&mut r.groups)
                .into_iter()
                .partition(|g| access.group(AclOperation::Describe, g.group_id.as_str()));
            r.groups = keep;
            narrowed.refused = refuse.into_iter().map(|g| g.group_id).collect();
        }
        GroupRequest::ListGroups(_) if !access.cluster(AclOperation::Describe) => {
            narrowed.list_filter = Some(access.clone());
        }
        _ => {}
    }
    narrowed
}

/// As Kafka's ConsumerGroupDescribe: a group whose members' current or target
/// assignment names a topic the principal may not DESCRIBE is answered with
/// TOPIC_AUTHORIZATION_FAILED and no members, so its topics are not revealed.
fn hide_if_topics_undescribable(
    access: &Access,
    group: &mut consumer_group_describe_response::DescribedGroup,
) {
    let undescribable = group
        .members
        .iter()
        .flat_map(|m| [&m.assignment, &m.target_assignment])
        .flat_map(|a| a.topic_partitions.iter())
        // A deleted topic has no name left to check.
        .filter(|t| !t.topic_name.is_empty())
        .any(|t| !access.topic(AclOperation::Describe, t.topic_name.as_str()));
    if undescribable {
        group.error_code = ResponseError::TopicAuthorizationFailed.code();
        group.error_message = Some(StrBytes::from_static_str(UNDESCRIBABLE_TOPICS_MESSAGE));
        group.members.clear();
    }
}

/// DescribeGroups hides what ConsumerGroupDescribe hides: a group of the consumer
/// protocol type whose members' assignments (ConsumerProtocolAssignment, for a
/// KIP-848 group as for a classic one) name a topic the principal may not DESCRIBE
/// is answered with TOPIC_AUTHORIZATION_FAILED and no members. Kafka's DescribeGroups
/// checks no topics, which would leave ConsumerGroupDescribe's check a way around;
/// assignments of other protocol types are the clients' own bytes and not read.
fn hide_classic_if_topics_undescribable(
    access: &Access,
    group: &mut describe_groups_response::DescribedGroup,
) {
    if group.protocol_type.as_str() != moldau_coordinator::consumer_protocol::CONSUMER_PROTOCOL_TYPE
    {
        return;
    }
    let undescribable = group
        .members
        .iter()
        .filter_map(|m| {
            moldau_coordinator::consumer_protocol::assignment_partitions(&m.member_assignment).ok()
        })
        .flatten()
        .any(|(topic, _)| !access.topic(AclOperation::Describe, &topic));
    if undescribable {
        *group = describe_groups_response::DescribedGroup::default()
            .with_group_id(group.group_id.clone())
            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
    }
}

fn operations_of(access: &Access, groups: &[GroupId]) -> Vec<(String, i32)> {
    groups
        .iter()
        .map(|g| {
            let name = g.as_str();
            (
                name.to_string(),
                access.operations(&AclResource::group(name), GROUP_OPERATIONS),
            )
        })
        .collect()
}

/// An empty answer of the request's API, for when [`narrow`] left nothing to ask.
pub fn empty_response(request: &GroupRequest) -> Option<GroupResponse> {
    Some(match request {
        GroupRequest::DescribeGroups(_) => {
            GroupResponse::DescribeGroups(DescribeGroupsResponse::default())
        }
        GroupRequest::ConsumerGroupDescribe(_) => {
            GroupResponse::ConsumerGroupDescribe(ConsumerGroupDescribeResponse::default())
        }
        GroupRequest::DeleteGroups(_) => {
            GroupResponse::DeleteGroups(DeleteGroupsResponse::default())
        }
        GroupRequest::OffsetFetch(r) if r.groups.is_empty() => {
            GroupResponse::OffsetFetch(OffsetFetchResponse::default())
        }
        _ => return None,
    })
}

/// True when the narrowed request asks the coordinator nothing.
pub fn nothing_left(request: &GroupRequest, narrowed: &Narrowed) -> bool {
    if narrowed.refused.is_empty() {
        return false;
    }
    match request {
        GroupRequest::DescribeGroups(r) => r.groups.is_empty(),
        GroupRequest::ConsumerGroupDescribe(r) => r.group_ids.is_empty(),
        GroupRequest::DeleteGroups(r) => r.groups_names.is_empty(),
        GroupRequest::OffsetFetch(r) => r.groups.is_empty(),
        _ => false,
    }
}

/// Adds the refused groups' errors (after the allowed ones, as Kafka orders them),
/// the authorized operations and the ListGroups filter to the coordinator's answer.
/// `operations_asked`: the request wanted authorized operations.
pub fn complete(response: &mut GroupResponse, narrowed: &Narrowed, operations_asked: bool) {
    let code = DENIED.code();
    let bits = |name: &str| {
        narrowed
            .operations
            .iter()
            .find(|(g, _)| g == name)
            .map(|(_, b)| *b)
    };
    match response {
        GroupResponse::DescribeGroups(r) => {
            if let Some(access) = &narrowed.topic_check {
                for g in r.groups.iter_mut().filter(|g| g.error_code == 0) {
                    hide_classic_if_topics_undescribable(access, g);
                }
            }
            if operations_asked {
                for g in r.groups.iter_mut().filter(|g| g.error_code == 0) {
                    if let Some(b) = bits(g.group_id.as_str()) {
                        g.authorized_operations = b;
                    }
                }
            }
            r.groups.extend(narrowed.refused.iter().map(|g| {
                describe_groups_response::DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
            }));
        }
        GroupResponse::ConsumerGroupDescribe(r) => {
            if let Some(access) = &narrowed.topic_check {
                for g in r.groups.iter_mut().filter(|g| g.error_code == 0) {
                    hide_if_topics_undescribable(access, g);
                }
            }
            if operations_asked {
                for g in r.groups.iter_mut().filter(|g| g.error_code == 0) {
                    if let Some(b) = bits(g.group_id.as_str()) {
                        g.authorized_operations = b;
                    }
                }
            }
            r.groups.extend(narrowed.refused.iter().map(|g| {
                consumer_group_describe_response::DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
                    .with_error_message(message())
            }));
        }
        GroupResponse::DeleteGroups(r) => {
            r.results.extend(narrowed.refused.iter().map(|g| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
            }));
        }
        GroupResponse::OffsetFetch(r) => {
            r.groups.extend(narrowed.refused.iter().map(|g| {
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
            }));
        }
        GroupResponse::ListGroups(r) => {
            if let Some(access) = &narrowed.list_filter {
                r.groups
                    .retain(|g| access.group(AclOperation::Describe, g.group_id.as_str()));
            }
        }
        _ => {}
    }
}
