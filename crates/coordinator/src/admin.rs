//! ListGroups, DescribeGroups and DeleteGroups.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use moldau_protocol::kafka::messages::delete_groups_response::DeletableGroupResult;
use moldau_protocol::kafka::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use moldau_protocol::kafka::messages::list_groups_response::ListedGroup;
use moldau_protocol::kafka::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};

use crate::codes;
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::group::{Group, GroupState, TopicPartition};
use crate::pending::{Barrier, PendingAppend};
use crate::records::{GroupMetadataKey, OffsetCommitKey};
use crate::request::{GroupResponse, RequestContext};
use crate::responses::str;

/// DescribeGroups v6 reports unknown groups as GROUP_ID_NOT_FOUND with a message.
const DESCRIBE_NOT_FOUND_VERSION: i16 = 6;
/// Group type of classic groups.
const CLASSIC_GROUP_TYPE: &str = "classic";
/// Group type of KIP-848 consumer groups.
const CONSUMER_GROUP_TYPE: &str = "consumer";

fn group_type(g: &Group) -> &'static str {
    if g.consumer.is_some() {
        CONSUMER_GROUP_TYPE
    } else {
        CLASSIC_GROUP_TYPE
    }
}

/// The state name Kafka lists: a consumer group's own states, else the classic ones.
fn state_name(g: &Group) -> &'static str {
    g.consumer
        .as_deref()
        .map_or(g.state.name(), |cg| cg.state_name())
}

impl GroupCoordinator {
    pub(crate) fn list_groups(
        &mut self,
        reply: ReplyId,
        req: ListGroupsRequest,
        out: &mut Vec<Effect>,
    ) {
        let states: Vec<String> = req
            .states_filter
            .iter()
            .map(|s| s.as_str().to_lowercase())
            .collect();
        let type_ok = |g: &Group| {
            req.types_filter.is_empty()
                || req
                    .types_filter
                    .iter()
                    .any(|t| t.as_str().eq_ignore_ascii_case(group_type(g)))
        };
        let groups = self
            .groups
            .values()
            .filter(|g| {
                type_ok(g) && (states.is_empty() || states.contains(&state_name(g).to_lowercase()))
            })
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(str(&g.id)))
                    .with_protocol_type(str(g.protocol_type.as_deref().unwrap_or("")))
                    .with_group_state(str(state_name(g)))
                    .with_group_type(str(group_type(g)))
            })
            .collect();
        let error = if self.is_loading() {
            codes::COORDINATOR_LOAD_IN_PROGRESS
        } else {
            codes::NONE
        };
        let response = ListGroupsResponse::default()
            .with_error_code(error)
            .with_groups(groups);
        Self::reply(out, reply, GroupResponse::ListGroups(response));
    }

    pub(crate) fn describe_groups(
        &mut self,
        ctx: &RequestContext,
        reply: ReplyId,
        req: DescribeGroupsRequest,
        out: &mut Vec<Effect>,
    ) {
        let groups = req
            .groups
            .iter()
            .map(|id| {
                let base = DescribedGroup::default().with_group_id(id.clone());
                match self.group_status(id.as_str(), true) {
                    Err(error) => base.with_error_code(error),
                    Ok(_) => match self.groups.get(id.as_str()) {
                        Some(g) if g.consumer.is_some() => {
                            crate::consumer_group::describe::as_described_group(
                                g,
                                &self.topics,
                                &self.config,
                                base,
                            )
                        }
                        Some(g) => describe(g, base),
                        None if ctx.api_version >= DESCRIBE_NOT_FOUND_VERSION => base
                            .with_error_code(codes::GROUP_ID_NOT_FOUND)
                            .with_error_message(Some(str(&format!(
                                "Group {} not found.",
                                id.as_str()
                            ))))
                            .with_group_state(str(GroupState::Dead.name())),
                        None => base.with_group_state(str(GroupState::Dead.name())),
                    },
                }
            })
            .collect();
        let response = DescribeGroupsResponse::default().with_groups(groups);
        Self::reply(out, reply, GroupResponse::DescribeGroups(response));
    }

    pub(crate) fn delete_groups(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        req: DeleteGroupsRequest,
        out: &mut Vec<Effect>,
    ) {
        let mut results = Vec::new();
        let mut tombstones: BTreeMap<i32, (Vec<String>, Vec<_>)> = BTreeMap::new();
        for id in &req.groups_names {
            let group_id = id.as_str();
            let error = match self.group_status(group_id, true) {
                Err(error) => error,
                Ok(_) => match self.groups.get_mut(group_id) {
                    None => codes::GROUP_ID_NOT_FOUND,
                    Some(g) => match g.state {
                        GroupState::Dead => codes::GROUP_ID_NOT_FOUND,
                        GroupState::Empty => {
                            g.pending_members.clear();
                            let records = deletion_tombstones(g);
                            g.transition(GroupState::Dead, now_ms);
                            let entry = tombstones.entry(g.partition).or_default();
                            entry.0.push(g.id.clone());
                            entry.1.extend(records);
                            codes::NONE
                        }
                        _ => codes::NON_EMPTY_GROUP,
                    },
                },
            };
            if error == codes::NONE {
                tracing::info!(group = %group_id, "deleted group");
                self.groups.remove(group_id);
                self.deadlines.mark(group_id);
            }
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(error),
            );
        }
        let response = DeleteGroupsResponse::default().with_results(results);
        if tombstones.is_empty() {
            return Self::reply(out, reply, GroupResponse::DeleteGroups(response));
        }
        let barrier = self.new_barrier(Barrier {
            reply,
            remaining: tombstones.len(),
            response,
        });
        for (partition, (groups, records)) in tombstones {
            self.appender.append(
                partition,
                records,
                PendingAppend::DeleteGroups { barrier, groups },
                out,
            );
        }
    }
}

/// The records that delete `g` for good: a tombstone for every committed offset, for
/// every offset whose commit is still in flight and for every offset of a
/// transaction still open (their records are already appended, so these tombstones
/// land after them and win on replay: as in Kafka, a tombstone drops the open
/// transactions' offsets of its partition, and a later COMMIT marker brings nothing
/// back), then one for the group's metadata, always. Clears the group's offsets.
fn deletion_tombstones(g: &mut Group) -> Vec<(Bytes, Option<Bytes>)> {
    let mut partitions: BTreeSet<TopicPartition> = g.offsets.keys().cloned().collect();
    partitions.extend(g.pending_commits.keys().cloned());
    partitions.extend(
        g.pending_txn_offsets
            .values()
            .flat_map(|p| p.keys().cloned()),
    );
    g.offsets.clear();
    g.pending_txn_offsets.clear();
    let mut records: Vec<(Bytes, Option<Bytes>)> = partitions
        .into_iter()
        .filter_map(|(topic, partition)| {
            let key = OffsetCommitKey {
                group: g.id.clone(),
                topic,
                partition,
            };
            key.encode().ok().map(|k| (k, None))
        })
        .collect();
    let metadata = GroupMetadataKey {
        group: g.id.clone(),
    };
    if let Ok(k) = metadata.encode() {
        records.push((k, None));
    }
    if g.consumer.is_some() {
        let mut changes = crate::consumer_group::changes::Changes::default();
        changes.group_removed(&g.id);
        records.extend(changes.records);
    }
    records
}

/// DescribeGroups entry for a live group: members with metadata and assignment only
/// when Stable (as Kafka's group summary does).
fn describe(g: &Group, base: DescribedGroup) -> DescribedGroup {
    let stable = g.is(GroupState::Stable);
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let members = g
        .members
        .values()
        .map(|m| {
            let member = DescribedGroupMember::default()
                .with_member_id(str(&m.id))
                .with_group_instance_id(m.instance_id.as_deref().map(str))
                .with_client_id(str(&m.client_id))
                .with_client_host(str(&m.client_host));
            if stable {
                member
                    .with_member_metadata(m.metadata(&protocol))
                    .with_member_assignment(m.assignment.clone())
            } else {
                member
            }
        })
        .collect();
    base.with_group_state(str(g.state.name()))
        .with_protocol_type(str(g.protocol_type.as_deref().unwrap_or("")))
        .with_protocol_data(str(if stable { &protocol } else { "" }))
        .with_members(members)
}
