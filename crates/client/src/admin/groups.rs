//! Group administration: list, describe and delete groups; read, alter, reset and
//! delete their committed offsets; compute their lag.

use std::collections::BTreeMap;

use moldau_protocol::kafka::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use moldau_protocol::kafka::messages::{
    ApiKey, ConsumerGroupDescribeRequest, DeleteGroupsRequest, DescribeGroupsRequest, GroupId,
    ListGroupsRequest, OffsetDeleteRequest,
};

use super::{
    item_result, sb, AdminClient, GroupDescription, GroupListing, MemberDescription, OffsetSpec,
    PartitionLag, ResetTo,
};
use crate::cluster::{topic_name, Lane};
use crate::consumer::assignor::decode_assignment;
use crate::coordinator::Coordinator;
use crate::error::{check_code, Error, Result};
use crate::offsets::{self, CommitIdentity, OffsetAndMetadata};
use crate::record::TopicPartition;

impl AdminClient {
    fn coordinator(&self, group: &str) -> Coordinator {
        Coordinator::new(self.cluster.clone(), group)
    }

    /// Every group on every broker.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let md = self.cluster.refresh(Some(&[])).await?;
        let mut nodes: Vec<i32> = md.brokers.keys().copied().collect();
        nodes.sort_unstable();
        let mut out = Vec::new();
        for node in nodes {
            let resp = self
                .cluster
                .send_to_with(node, Lane::Data, ApiKey::ListGroups, None, |_| {
                    ListGroupsRequest::default()
                })
                .await?;
            check_code(resp.error_code, None)?;
            out.extend(resp.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// State, protocol and members (with their partitions) of each group.
    pub async fn describe_groups(&self, groups: &[&str]) -> Result<Vec<GroupDescription>> {
        let mut out = Vec::new();
        for &group in groups {
            // A KIP-848 consumer group first; a classic group (GROUP_ID_NOT_FOUND) or a
            // broker without ConsumerGroupDescribe falls back to DescribeGroups, as
            // Kafka's admin client does.
            if let Some(d) = self.describe_consumer_group(group).await {
                out.push(d);
                continue;
            }
            let coord = self.coordinator(group);
            let resp = coord
                .retry(|| async {
                    let resp = coord
                        .send_with(ApiKey::DescribeGroups, None, |_| {
                            DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))])
                        })
                        .await?;
                    if let Some(g) = resp.groups.first() {
                        check_code(g.error_code, g.error_message.as_deref())?;
                    }
                    Ok(resp)
                })
                .await?;
            for g in resp.groups {
                let consumer = &*g.protocol_type == "consumer";
                out.push(GroupDescription {
                    group_id: g.group_id.0.to_string(),
                    group_type: "classic".into(),
                    group_epoch: None,
                    assignment_epoch: None,
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    protocol: g.protocol_data.to_string(),
                    members: g
                        .members
                        .into_iter()
                        .map(|m| MemberDescription {
                            member_id: m.member_id.to_string(),
                            group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                            client_id: m.client_id.to_string(),
                            host: m.client_host.to_string(),
                            assignment: if consumer {
                                decode_assignment(&m.member_assignment).unwrap_or_default()
                            } else {
                                Vec::new()
                            },
                            ..MemberDescription::default()
                        })
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    /// `group` as ConsumerGroupDescribe shows it, if it is a consumer group.
    async fn describe_consumer_group(&self, group: &str) -> Option<GroupDescription> {
        let coord = self.coordinator(group);
        let resp = coord
            .retry(|| async {
                coord
                    .send_with(ApiKey::ConsumerGroupDescribe, None, |_| {
                        ConsumerGroupDescribeRequest::default()
                            .with_group_ids(vec![GroupId(sb(group))])
                    })
                    .await
            })
            .await
            .ok()?;
        let g = resp
            .groups
            .into_iter()
            .next()
            .filter(|g| g.error_code == 0)?;
        let partitions =
            |a: &moldau_protocol::kafka::messages::consumer_group_describe_response::Assignment| {
                a.topic_partitions
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| TopicPartition::new(t.topic_name.0.as_str(), *p))
                    })
                    .collect::<Vec<_>>()
            };
        Some(GroupDescription {
            group_id: g.group_id.0.to_string(),
            group_type: "consumer".into(),
            group_epoch: Some(g.group_epoch),
            assignment_epoch: Some(g.assignment_epoch),
            state: g.group_state.to_string(),
            protocol_type: "consumer".into(),
            protocol: g.assignor_name.to_string(),
            members: g
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.instance_id.as_ref().map(|i| i.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: partitions(&m.assignment),
                    member_epoch: Some(m.member_epoch),
                    target_assignment: Some(partitions(&m.target_assignment)),
                    member_type: member_type_name(m.member_type).map(str::to_string),
                    subscribed_topics: m
                        .subscribed_topic_names
                        .iter()
                        .map(|t| t.0.to_string())
                        .collect(),
                    subscribed_topic_regex: m
                        .subscribed_topic_regex
                        .as_ref()
                        .filter(|r| !r.is_empty())
                        .map(|r| r.to_string()),
                })
                .collect(),
        })
    }

    /// Deletes empty groups; the result per group says whether it worked.
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<BTreeMap<String, Result<()>>> {
        let mut out = BTreeMap::new();
        for &group in groups {
            let coord = self.coordinator(group);
            let result = coord
                .retry(|| async {
                    let resp = coord
                        .send_with(ApiKey::DeleteGroups, None, |_| {
                            DeleteGroupsRequest::default()
                                .with_groups_names(vec![GroupId(sb(group))])
                        })
                        .await?;
                    match resp.results.first() {
                        Some(r) => item_result(r.error_code, None),
                        None => Err(Error::Protocol("DeleteGroups without results".into())),
                    }
                })
                .await;
            out.insert(group.to_string(), result);
        }
        Ok(out)
    }

    /// The group's committed offsets (all partitions it committed).
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        offsets::fetch_committed(&self.coordinator(group), None, false).await
    }

    /// Lag per partition the group committed: log end minus committed offset.
    pub async fn group_lag(&self, group: &str) -> Result<BTreeMap<TopicPartition, PartitionLag>> {
        let committed = self.list_group_offsets(group).await?;
        let tps: Vec<TopicPartition> = committed.keys().cloned().collect();
        if tps.is_empty() {
            return Ok(BTreeMap::new());
        }
        let ends = self.list_offsets(&tps, OffsetSpec::Latest).await?;
        Ok(tps
            .into_iter()
            .filter_map(|tp| {
                let end = ends.get(&tp)?.offset;
                let c = committed.get(&tp).map(|o| o.offset);
                let lag = (end - c.unwrap_or(0)).max(0);
                Some((
                    tp,
                    PartitionLag {
                        committed: c,
                        end_offset: end,
                        lag,
                    },
                ))
            })
            .collect())
    }

    /// Sets the group's committed offsets. The group must have no active members
    /// (the coordinator refuses otherwise with UNKNOWN_MEMBER_ID).
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        offsets::commit(
            &self.coordinator(group),
            &CommitIdentity::default_standalone(),
            offsets,
        )
        .await
    }

    /// Moves the group's offsets on `partitions` (all the group committed when
    /// empty) and returns the new offsets.
    pub async fn reset_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        to: ResetTo,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let committed = self.list_group_offsets(group).await?;
        let tps: Vec<TopicPartition> = if partitions.is_empty() {
            committed.keys().cloned().collect()
        } else {
            partitions.to_vec()
        };
        if tps.is_empty() {
            return Ok(BTreeMap::new());
        }
        let starts = self.list_offsets(&tps, OffsetSpec::Earliest).await?;
        let ends = self.list_offsets(&tps, OffsetSpec::Latest).await?;
        let by_time = match to {
            ResetTo::Timestamp(t) => Some(self.list_offsets(&tps, OffsetSpec::Timestamp(t)).await?),
            _ => None,
        };
        let mut target = BTreeMap::new();
        for tp in &tps {
            let start = starts.get(tp).map_or(0, |l| l.offset);
            let end = ends.get(tp).map_or(0, |l| l.offset);
            let wanted = match to {
                ResetTo::Earliest => start,
                ResetTo::Latest => end,
                ResetTo::Offset(o) => o,
                ResetTo::ShiftBy(d) => committed
                    .get(tp)
                    .map_or(start, |c| c.offset)
                    .saturating_add(d),
                ResetTo::Timestamp(_) => by_time
                    .as_ref()
                    .and_then(|m| m.get(tp))
                    .map(|l| l.offset)
                    .filter(|&o| o >= 0)
                    .unwrap_or(end),
            };
            target.insert(tp.clone(), wanted.clamp(start, end.max(start)));
        }
        let commits: BTreeMap<TopicPartition, OffsetAndMetadata> = target
            .iter()
            .map(|(tp, &o)| (tp.clone(), OffsetAndMetadata::new(o)))
            .collect();
        self.alter_group_offsets(group, &commits).await?;
        Ok(target)
    }

    /// Deletes the group's committed offsets of `partitions` (OffsetDelete; the
    /// group must not be subscribed to their topics).
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
        for tp in partitions {
            let p = OffsetDeleteRequestPartition::default().with_partition_index(tp.partition);
            match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(&tp.topic))
                        .with_partitions(vec![p]),
                ),
            }
        }
        let coord = self.coordinator(group);
        coord
            .retry(|| async {
                let resp = coord
                    .send_with(ApiKey::OffsetDelete, None, |_| {
                        OffsetDeleteRequest::default()
                            .with_group_id(GroupId(sb(group)))
                            .with_topics(topics.clone())
                    })
                    .await?;
                check_code(resp.error_code, None)?;
                for t in &resp.topics {
                    for p in &t.partitions {
                        check_code(p.error_code, None)?;
                    }
                }
                Ok(())
            })
            .await
    }
}

/// ConsumerGroupDescribe v1's MemberType (KIP-1099): 0 classic, 1 consumer; -1 (or
/// a v0 answer) says nothing.
fn member_type_name(code: i8) -> Option<&'static str> {
    match code {
        0 => Some("classic"),
        1 => Some("consumer"),
        _ => None,
    }
}
