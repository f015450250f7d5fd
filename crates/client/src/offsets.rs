//! Offset requests shared by the consumer and the admin client: ListOffsets (log
//! start, end, by timestamp) to partition leaders, and OffsetFetch / OffsetCommit /
//! OffsetDelete to a group's coordinator.

use std::collections::{BTreeMap, HashMap};

use moldau_protocol::kafka::error::ResponseError;
use moldau_protocol::kafka::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use moldau_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::offset_fetch_request::OffsetFetchRequestTopic;
use moldau_protocol::kafka::messages::{
    ApiKey, BrokerId, GroupId, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest,
};
use moldau_protocol::kafka::protocol::StrBytes;

use crate::cluster::{is_network, topic_name, Cluster, Lane};
use crate::coordinator::Coordinator;
use crate::error::{check_code, BrokerError, Error, Result};
use crate::record::TopicPartition;

/// ListOffsets timestamp meaning "the end of the log".
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp meaning "the start of the log".
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Rounds of leader lookups before ListOffsets gives up on moved leaders.
const LIST_OFFSETS_ATTEMPTS_MAX: u32 = 10;

/// An offset as ListOffsets answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset (-1 when no record has a timestamp at or after the one asked).
    pub offset: i64,
    /// The record's timestamp (-1 for earliest/latest).
    pub timestamp: i64,
    /// The leader epoch of that offset, -1 when unknown.
    pub leader_epoch: i32,
}

/// A committed offset with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the commit.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset without epoch or metadata.
    pub fn new(offset: i64) -> OffsetAndMetadata {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// Asks partition leaders for offsets by timestamp (or [`EARLIEST_TIMESTAMP`] /
/// [`LATEST_TIMESTAMP`]). Moved leaders are looked up again and retried.
pub async fn list_offsets(
    cluster: &Cluster,
    requests: &[(TopicPartition, i64)],
    isolation_level: i8,
) -> Result<HashMap<TopicPartition, ListedOffset>> {
    let mut out = HashMap::new();
    let mut pending: Vec<(TopicPartition, i64)> = requests.to_vec();
    let mut attempt = 0;
    while !pending.is_empty() {
        let topics: Vec<String> = {
            let mut t: Vec<String> = pending.iter().map(|(tp, _)| tp.topic.clone()).collect();
            t.sort();
            t.dedup();
            t
        };
        let md = if attempt == 0 {
            cluster.metadata_for(&topics).await?
        } else {
            tokio::time::sleep(cluster.config().retry_backoff).await;
            cluster.refresh(Some(&topics)).await?
        };
        let mut by_node: HashMap<i32, Vec<(TopicPartition, i64)>> = HashMap::new();
        let mut retry = Vec::new();
        for (tp, ts) in pending.drain(..) {
            match md.leader(&tp.topic, tp.partition) {
                Some(node) => by_node.entry(node).or_default().push((tp, ts)),
                None if md.topics.contains_key(&tp.topic)
                    || attempt + 1 < LIST_OFFSETS_ATTEMPTS_MAX =>
                {
                    retry.push((tp, ts))
                }
                None => return Err(Error::UnknownTopic(tp.topic.clone())),
            }
        }
        for (node, items) in by_node {
            let mut topics: Vec<ListOffsetsTopic> = Vec::new();
            for (tp, ts) in &items {
                let part = ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(*ts);
                match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                    Some(t) => t.partitions.push(part),
                    None => topics.push(
                        ListOffsetsTopic::default()
                            .with_name(topic_name(&tp.topic))
                            .with_partitions(vec![part]),
                    ),
                }
            }
            let build = |version: i16| {
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_isolation_level(if version >= 2 { isolation_level } else { 0 })
                    .with_topics(topics.clone())
            };
            let resp = match cluster
                .send_to_with(node, Lane::Data, ApiKey::ListOffsets, None, build)
                .await
            {
                Ok(r) => r,
                Err(e) if is_network(&e) => {
                    retry.extend(items);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut answered: HashMap<TopicPartition, _> = HashMap::new();
            for t in resp.topics {
                for p in t.partitions {
                    answered.insert(
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        p,
                    );
                }
            }
            for (tp, ts) in items {
                let Some(p) = answered.remove(&tp) else {
                    retry.push((tp, ts));
                    continue;
                };
                match BrokerError::from_code(p.error_code, None) {
                    None => {
                        out.insert(
                            tp,
                            ListedOffset {
                                offset: p.offset,
                                timestamp: p.timestamp,
                                leader_epoch: p.leader_epoch,
                            },
                        );
                    }
                    Some(e) if e.retriable => retry.push((tp, ts)),
                    Some(e) => return Err(Error::Broker(e)),
                }
            }
        }
        attempt += 1;
        if !retry.is_empty() && attempt >= LIST_OFFSETS_ATTEMPTS_MAX {
            return Err(Error::Timeout(format!(
                "ListOffsets for {} kept failing",
                retry[0].0
            )));
        }
        pending = retry;
    }
    Ok(out)
}

/// Committed offsets of `group` for `partitions` (all of the group's when `None`).
/// Partitions without a commit are absent.
pub async fn fetch_committed(
    coordinator: &Coordinator,
    partitions: Option<&[TopicPartition]>,
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    let group = coordinator.group_id().to_string();
    let topics = partitions.map(|tps| {
        let mut topics: Vec<OffsetFetchRequestTopic> = Vec::new();
        for tp in tps {
            match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                Some(t) => t.partition_indexes.push(tp.partition),
                None => topics.push(
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(&tp.topic))
                        .with_partition_indexes(vec![tp.partition]),
                ),
            }
        }
        topics
    });
    let build = |version: i16| {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_topics(topics.clone())
            .with_require_stable(require_stable && version >= 7)
    };
    coordinator
        .retry(|| async {
            let resp = coordinator
                .send_with(ApiKey::OffsetFetch, None, build)
                .await?;
            check_code(resp.error_code, None)?;
            let mut out = BTreeMap::new();
            for t in resp.topics {
                for p in t.partitions {
                    check_code(p.error_code, None)?;
                    if p.committed_offset < 0 {
                        continue;
                    }
                    out.insert(
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        OffsetAndMetadata {
                            offset: p.committed_offset,
                            leader_epoch: (p.committed_leader_epoch >= 0)
                                .then_some(p.committed_leader_epoch),
                            metadata: p.metadata.map(|m| m.to_string()).unwrap_or_default(),
                        },
                    );
                }
            }
            Ok(out)
        })
        .await
}

/// Identity of the committing member; `generation` -1 and an empty member id commit
/// as a standalone (non-member) consumer or admin.
#[derive(Debug, Clone, Default)]
pub struct CommitIdentity {
    /// Generation id.
    pub generation: i32,
    /// Member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
}

impl CommitIdentity {
    /// Commits as no member (admin tools, consumers without subscription).
    pub fn default_standalone() -> CommitIdentity {
        CommitIdentity {
            generation: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// Commits `offsets` for the coordinator's group.
pub async fn commit(
    coordinator: &Coordinator,
    who: &CommitIdentity,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (tp, om) in offsets {
        let part = OffsetCommitRequestPartition::default()
            .with_partition_index(tp.partition)
            .with_committed_offset(om.offset)
            .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
            .with_committed_metadata(Some(StrBytes::from_string(om.metadata.clone())));
        match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(&tp.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    let build = |version: i16| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(
                coordinator.group_id().to_string(),
            )))
            .with_generation_id_or_member_epoch(who.generation)
            .with_member_id(StrBytes::from_string(who.member_id.clone()))
            .with_group_instance_id(
                who.group_instance_id
                    .as_ref()
                    .filter(|_| version >= 7)
                    .map(|i| StrBytes::from_string(i.clone())),
            )
            .with_retention_time_ms(-1)
            .with_topics(topics.clone())
    };
    coordinator
        .retry(|| async {
            let resp = coordinator
                .send_with(ApiKey::OffsetCommit, None, build)
                .await?;
            for t in resp.topics {
                for p in t.partitions {
                    if let Some(e) = BrokerError::from_code(p.error_code, None) {
                        // Rebalance-related refusals tell the caller its generation is
                        // gone; keep them typed as broker errors. STALE_MEMBER_EPOCH
                        // stays a broker error: the consumer retries it in its new epoch.
                        if matches!(
                            e.kind(),
                            ResponseError::RebalanceInProgress
                                | ResponseError::IllegalGeneration
                                | ResponseError::UnknownMemberId
                                | ResponseError::FencedMemberEpoch
                        ) {
                            return Err(Error::Rebalance(e.to_string()));
                        }
                        return Err(Error::Broker(e));
                    }
                }
            }
            Ok(())
        })
        .await
}
