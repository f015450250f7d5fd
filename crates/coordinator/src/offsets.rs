//! OffsetCommit, OffsetFetch, OffsetDelete and offset expiry.

use std::collections::BTreeMap;

use bytes::Bytes;
use moldau_protocol::kafka::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use moldau_protocol::kafka::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use moldau_protocol::kafka::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};

use crate::codes;
use crate::coordinator::GroupCoordinator;
use crate::effect::{Effect, ReplyId};
use crate::group::{Group, GroupState, TopicPartition};
use crate::pending::{PendingAppend, PendingCommit};
use crate::records::{GroupMetadataKey, OffsetCommitKey, OffsetCommitValue};
use crate::request::{GroupResponse, RequestContext};
use crate::responses::str;

/// OffsetCommit v2-v4 carry `retention_time_ms`; -1 means the broker's default.
const COMMIT_RETENTION_VERSIONS: std::ops::RangeInclusive<i16> = 2..=4;
/// OffsetFetch v2 moved group errors from the partitions to the top level.
const FETCH_TOP_LEVEL_ERROR_VERSION: i16 = 2;
/// OffsetFetch v8 batches several groups.
const FETCH_GROUPS_VERSION: i16 = 8;

type Records = Vec<(Bytes, Option<Bytes>)>;

impl GroupCoordinator {
    pub(crate) fn offset_commit(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: OffsetCommitRequest,
        out: &mut Vec<Effect>,
    ) {
        let group_id = req.group_id.as_str().to_string();
        let generation = req.generation_id_or_member_epoch;
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        let all = |error: i16| commit_response(&req, |_, _| error);
        if let Err(error) = self.commit_target(&group_id, generation, true, now_ms) {
            return Self::reply(out, reply, all(error));
        }
        let metadata_max = self.config.offset_metadata_max_bytes;
        let consumer_check = self.consumer_commit_check(
            &group_id,
            member_id,
            generation,
            ctx.api_version,
            false,
            req.topics.iter().flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.as_str(), p.partition_index))
            }),
        );
        let Some((g, mut io)) = self.group_io(&group_id, now_ms, out) else {
            return;
        };
        let error = match consumer_check {
            Some(checked) => checked,
            None => validate_offset_commit(g, generation, member_id, instance_id),
        };
        if let Some(error) = error {
            return io.reply(reply, all(error));
        }
        match g.state {
            GroupState::CompletingRebalance => {
                return io.reply(reply, all(codes::REBALANCE_IN_PROGRESS))
            }
            GroupState::Stable | GroupState::PreparingRebalance => {
                if let Some(m) = g.members.get_mut(member_id) {
                    m.heartbeat_deadline_ms =
                        now_ms.saturating_add(i64::from(m.session_timeout_ms));
                }
            }
            GroupState::Empty | GroupState::Dead => {}
        }
        let expire_timestamp_ms = (COMMIT_RETENTION_VERSIONS.contains(&ctx.api_version)
            && req.retention_time_ms != -1)
            .then(|| now_ms.saturating_add(req.retention_time_ms));
        let mut records = Vec::new();
        let mut commits = Vec::new();
        let mut errors: BTreeMap<(String, i32), i16> = BTreeMap::new();
        for topic in &req.topics {
            for p in &topic.partitions {
                let metadata = p.committed_metadata.as_ref().map_or("", |m| m.as_str());
                let tp = (topic.name.as_str().to_string(), p.partition_index);
                if metadata.len() > metadata_max {
                    errors.insert(tp, codes::OFFSET_METADATA_TOO_LARGE);
                    continue;
                }
                let value = OffsetCommitValue {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: metadata.to_string(),
                    commit_timestamp_ms: now_ms,
                    expire_timestamp_ms,
                };
                let key = OffsetCommitKey {
                    group: group_id.clone(),
                    topic: tp.0.clone(),
                    partition: tp.1,
                };
                match (key.encode(), value.encode()) {
                    (Ok(k), Ok(v)) => {
                        records.push((k, Some(v)));
                        *g.pending_commits.entry(tp.clone()).or_insert(0) += 1;
                        commits.push(PendingCommit {
                            topic: tp.0,
                            partition: tp.1,
                            value,
                        });
                    }
                    // Only a topic name no topic can have fails to encode.
                    _ => {
                        errors.insert(tp, codes::UNKNOWN_TOPIC_OR_PARTITION);
                    }
                }
            }
        }
        let response = match commit_response(&req, |t, p| {
            errors
                .get(&(t.to_string(), p))
                .copied()
                .unwrap_or(codes::NONE)
        }) {
            GroupResponse::OffsetCommit(r) => r,
            _ => return,
        };
        if records.is_empty() {
            return io.reply(reply, GroupResponse::OffsetCommit(response));
        }
        let kind = PendingAppend::OffsetCommit {
            group_id,
            reply,
            commits,
            response,
        };
        io.append(g.partition, records, kind);
    }

    pub(crate) fn offset_fetch(
        &mut self,
        ctx: &RequestContext,
        reply: ReplyId,
        req: OffsetFetchRequest,
        out: &mut Vec<Effect>,
    ) {
        let version = ctx.api_version;
        let response = if version >= FETCH_GROUPS_VERSION {
            let groups = req
                .groups
                .iter()
                .map(|rg| {
                    let wanted: Option<Vec<(String, Vec<i32>)>> = rg.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.as_str().to_string(), t.partition_indexes.clone()))
                            .collect()
                    });
                    let group_id = rg.group_id.as_str();
                    let base =
                        OffsetFetchResponseGroup::default().with_group_id(GroupId(str(group_id)));
                    let member_error = self.groups.get(group_id).and_then(|g| {
                        let cg = g.consumer.as_deref()?;
                        let member = rg.member_id.as_ref()?;
                        cg.validate_offset_fetch(member.as_str(), rg.member_epoch)
                    });
                    if let Some(error) = member_error {
                        return base.with_error_code(error);
                    }
                    match self.fetch_offsets(group_id, wanted.as_deref(), req.require_stable) {
                        Err(error) => base.with_error_code(error),
                        Ok(topics) => base.with_topics(
                            topics
                                .into_iter()
                                .map(|(topic, parts)| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(str(&topic)))
                                        .with_partitions(
                                            parts
                                                .into_iter()
                                                .map(|(p, v)| {
                                                    let (offset, epoch, metadata, error) =
                                                        fetched(v);
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p)
                                                        .with_committed_offset(offset)
                                                        .with_committed_leader_epoch(epoch)
                                                        .with_metadata(Some(str(&metadata)))
                                                        .with_error_code(error)
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            OffsetFetchResponse::default().with_groups(groups)
        } else {
            let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.as_str().to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let result =
                self.fetch_offsets(req.group_id.as_str(), wanted.as_deref(), req.require_stable);
            let (error, topics) = match result {
                Ok(topics) => (codes::NONE, topics),
                // v0-v1 carry the group error in every requested partition.
                Err(error) if version < FETCH_TOP_LEVEL_ERROR_VERSION => (
                    error,
                    wanted
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(t, ps)| {
                            let none = |p| (p, Fetched::Committed(None));
                            (t, ps.into_iter().map(none).collect())
                        })
                        .collect(),
                ),
                Err(error) => (error, Vec::new()),
            };
            let partition_error = if version < FETCH_TOP_LEVEL_ERROR_VERSION {
                error
            } else {
                codes::NONE
            };
            let topics = topics
                .into_iter()
                .map(|(topic, parts)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(str(&topic)))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, v)| {
                                    let (offset, epoch, metadata, error) = fetched(v);
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(str(&metadata)))
                                        .with_error_code(if error == codes::NONE {
                                            partition_error
                                        } else {
                                            error
                                        })
                                })
                                .collect(),
                        )
                })
                .collect();
            let top = if version >= FETCH_TOP_LEVEL_ERROR_VERSION {
                error
            } else {
                codes::NONE
            };
            OffsetFetchResponse::default()
                .with_topics(topics)
                .with_error_code(top)
        };
        Self::reply(out, reply, GroupResponse::OffsetFetch(response));
    }

    /// Committed offsets of a group: the requested partitions (-1 where none), or all.
    /// With `require_stable` (KIP-447), a partition with an offset pending in an open
    /// transaction is answered UNSTABLE_OFFSET_COMMIT instead.
    #[allow(clippy::type_complexity)]
    fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<&[(String, Vec<i32>)]>,
        require_stable: bool,
    ) -> Result<Vec<(String, Vec<(i32, Fetched)>)>, i16> {
        self.group_status(group_id, true)?;
        let group = self.groups.get(group_id);
        let offsets = group.map(|g| &g.offsets);
        let answer = |tp: &TopicPartition, v: Option<&OffsetCommitValue>| {
            if require_stable && group.is_some_and(|g| g.has_pending_txn_offset(tp)) {
                Fetched::Unstable
            } else {
                Fetched::Committed(v.cloned())
            }
        };
        Ok(match wanted {
            Some(wanted) => wanted
                .iter()
                .map(|(topic, partitions)| {
                    let parts = partitions
                        .iter()
                        .map(|p| {
                            let tp = (topic.clone(), *p);
                            let v = offsets.and_then(|o| o.get(&tp));
                            (*p, answer(&tp, v))
                        })
                        .collect();
                    (topic.clone(), parts)
                })
                .collect(),
            None => {
                let mut by_topic: Vec<(String, Vec<(i32, Fetched)>)> = Vec::new();
                for (tp, v) in offsets.into_iter().flatten() {
                    let (topic, p) = tp;
                    let part = (*p, answer(tp, Some(v)));
                    match by_topic.last_mut() {
                        Some((t, parts)) if t == topic => parts.push(part),
                        _ => by_topic.push((topic.clone(), vec![part])),
                    }
                }
                by_topic
            }
        })
    }

    pub(crate) fn offset_delete(
        &mut self,
        now_ms: i64,
        reply: ReplyId,
        req: OffsetDeleteRequest,
        out: &mut Vec<Effect>,
    ) {
        let group_id = req.group_id.as_str().to_string();
        let top_error = |error: i16| {
            GroupResponse::OffsetDelete(OffsetDeleteResponse::default().with_error_code(error))
        };
        if let Err(error) = self.group_status(&group_id, false) {
            return Self::reply(out, reply, top_error(error));
        }
        let Some((g, mut io)) = self.group_io(&group_id, now_ms, out) else {
            return Self::reply(out, reply, top_error(codes::GROUP_ID_NOT_FOUND));
        };
        let consumer_group =
            g.protocol_type.as_deref() == Some(crate::consumer_protocol::CONSUMER_PROTOCOL_TYPE);
        let check: Box<dyn Fn(&str) -> i16> = match g.state {
            GroupState::Dead => return io.reply(reply, top_error(codes::GROUP_ID_NOT_FOUND)),
            GroupState::Empty => Box::new(|_| codes::NONE),
            _ if consumer_group => Box::new(|topic| {
                if g.is_subscribed_to_topic(topic) {
                    codes::GROUP_SUBSCRIBED_TO_TOPIC
                } else {
                    codes::NONE
                }
            }),
            _ => return io.reply(reply, top_error(codes::NON_EMPTY_GROUP)),
        };
        let mut deletable = Vec::new();
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let error = check(t.name.as_str());
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        if error == codes::NONE {
                            deletable.push((t.name.as_str().to_string(), p.partition_index));
                        }
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error)
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        drop(check);
        let response = OffsetDeleteResponse::default().with_topics(topics);
        // Offsets of open transactions go too (their tombstone drops them on replay,
        // as in Kafka); a partition with no committed offset still needs one.
        let dropped_pending = g.drop_pending_txn_offsets(&deletable);
        let (mut records, removed, dead) = cleanup_group(g, &deletable);
        for tp in dropped_pending.iter().filter(|tp| !removed.contains(tp)) {
            let key = OffsetCommitKey {
                group: g.id.clone(),
                topic: tp.0.clone(),
                partition: tp.1,
            };
            if let Ok(k) = key.encode() {
                records.insert(0, (k, None));
            }
        }
        let partition = g.partition;
        if records.is_empty() {
            io.reply(reply, GroupResponse::OffsetDelete(response));
        } else {
            let id = io.append(
                partition,
                records,
                PendingAppend::OffsetDelete { reply, response },
            );
            for tp in removed {
                g.offset_writes.insert(tp, id);
            }
        }
        if dead {
            self.groups.remove(&group_id);
            self.deadlines.mark(&group_id);
        }
    }

    /// Removes expired offsets everywhere; empty groups left without offsets die.
    pub(crate) fn expire_offsets(&mut self, now_ms: i64, out: &mut Vec<Effect>) {
        let retention_ms = self.config.offsets_retention_ms();
        type Removed = Vec<(String, Vec<TopicPartition>)>;
        let mut by_partition: BTreeMap<i32, (Records, Removed)> = BTreeMap::new();
        let mut dead = Vec::new();
        for g in self.groups.values_mut() {
            if !g.pending_members.is_empty() {
                continue;
            }
            let expired = g.expired_offsets(now_ms, retention_ms);
            let (records, removed, is_dead) = cleanup_group(g, &expired);
            if is_dead {
                dead.push(g.id.clone());
            }
            if !records.is_empty() {
                let entry = by_partition.entry(g.partition).or_default();
                entry.0.extend(records);
                entry.1.push((g.id.clone(), removed));
            }
        }
        let expired: usize = by_partition.values().map(|(r, _)| r.len()).sum();
        if expired > 0 {
            tracing::info!(
                tombstones = expired,
                groups_removed = dead.len(),
                "expired offsets"
            );
        }
        for id in dead {
            self.groups.remove(&id);
            self.deadlines.mark(&id);
        }
        for (partition, (records, removed)) in by_partition {
            let id = self
                .appender
                .append(partition, records, PendingAppend::Background, out);
            for (group_id, tps) in removed {
                if let Some(g) = self.groups.get_mut(&group_id) {
                    g.offset_writes.extend(tps.into_iter().map(|tp| (tp, id)));
                }
            }
        }
    }
}

/// Kafka's validateOffsetCommit.
impl GroupCoordinator {
    /// Makes sure the group a commit writes to exists. A commit without group
    /// management (generation < 0, a simple consumer or a producer's transaction) to
    /// an unknown group creates it to hold offsets; one that names a generation of a
    /// group this coordinator does not manage is stale (ILLEGAL_GENERATION).
    pub(crate) fn commit_target(
        &mut self,
        group_id: &str,
        generation: i32,
        allow_empty_id: bool,
        now_ms: i64,
    ) -> Result<(), i16> {
        let partition = self.group_status(group_id, allow_empty_id)?;
        if !self.groups.contains_key(group_id) {
            if generation >= 0 {
                return Err(codes::ILLEGAL_GENERATION);
            }
            self.groups.insert(
                group_id.to_string(),
                Group::new(group_id.to_string(), partition, now_ms),
            );
        }
        Ok(())
    }

    /// A consumer-protocol group checks a commit's member epoch against the topic
    /// catalog: `Some(verdict)`; a classic group leaves the check to the caller: `None`.
    pub(crate) fn consumer_commit_check<'a>(
        &self,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
        api_version: i16,
        transactional: bool,
        partitions: impl IntoIterator<Item = (&'a str, i32)>,
    ) -> Option<Option<i16>> {
        let consumer = self.groups.get(group_id)?.consumer.as_deref()?;
        Some(consumer.validate_offset_commit(
            member_id,
            member_epoch,
            api_version,
            transactional,
            &self.topics,
            partitions,
        ))
    }
}

fn validate_offset_commit(
    g: &Group,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<i16> {
    if g.is(GroupState::Dead) {
        Some(codes::COORDINATOR_NOT_AVAILABLE)
    } else if generation < 0 && g.is(GroupState::Empty) {
        // The admin client or a consumer without group management: fine while empty.
        None
    } else if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
        g.validate_current_member(member_id, instance_id).or({
            if generation != g.generation {
                Some(codes::ILLEGAL_GENERATION)
            } else {
                None
            }
        })
    } else {
        // A non-empty group takes commits from its members only.
        Some(codes::UNKNOWN_MEMBER_ID)
    }
}

/// An OffsetCommit response with `error_of(topic, partition)` for each partition.
fn commit_response(
    req: &OffsetCommitRequest,
    error_of: impl Fn(&str, i32) -> i16,
) -> GroupResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error_of(t.name.as_str(), p.partition_index))
                        })
                        .collect(),
                )
        })
        .collect();
    GroupResponse::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
}

/// What OffsetFetch answers for one partition.
#[derive(Debug)]
enum Fetched {
    /// The committed offset, if any.
    Committed(Option<OffsetCommitValue>),
    /// An open transaction has an offset pending there (asked for stable offsets).
    Unstable,
}

/// (offset, leader epoch, metadata, error) to answer for one partition.
fn fetched(v: Fetched) -> (i64, i32, String, i16) {
    match v {
        Fetched::Committed(Some(v)) => (v.offset, v.leader_epoch, v.metadata, codes::NONE),
        Fetched::Committed(None) => (-1, -1, String::new(), codes::NONE),
        Fetched::Unstable => (-1, -1, String::new(), codes::UNSTABLE_OFFSET_COMMIT),
    }
}

/// Drops the `wanted` offsets from the group; returns their tombstones and those that
/// were there. An empty group left with no offsets dies (true), and its metadata gets a
/// tombstone too.
pub(crate) fn cleanup_group(
    g: &mut Group,
    wanted: &[TopicPartition],
) -> (Records, Vec<TopicPartition>, bool) {
    let mut records = Vec::new();
    let mut removed = Vec::new();
    for tp in wanted {
        if g.offsets.remove(tp).is_some() {
            removed.push(tp.clone());
            let key = OffsetCommitKey {
                group: g.id.clone(),
                topic: tp.0.clone(),
                partition: tp.1,
            };
            if let Ok(k) = key.encode() {
                records.push((k, None));
            }
        }
    }
    let dead = g.is(GroupState::Empty)
        && g.offsets.is_empty()
        && g.pending_commits.is_empty()
        && g.pending_txn_offsets.is_empty()
        && g.members.is_empty();
    if dead {
        g.transition(GroupState::Dead, g.state_timestamp_ms.unwrap_or(0));
        if let Ok(k) = (GroupMetadataKey {
            group: g.id.clone(),
        })
        .encode()
        {
            records.push((k, None));
        }
        if g.consumer.is_some() {
            // A consumer group's own records go too, or a replay would bring it back.
            let mut changes = crate::consumer_group::changes::Changes::default();
            changes.group_removed(&g.id);
            records.extend(changes.records);
        }
    }
    (records, removed, dead)
}
