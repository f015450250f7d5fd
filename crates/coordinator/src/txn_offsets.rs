//! TxnOffsetCommit (KIP-98, KIP-447): offsets committed inside a producer's
//! transaction. They are written to `__consumer_offsets` as part of the transaction
//! (one transactional batch under the producer's id and epoch) and stay pending,
//! per producer, until the transaction's marker lands on that partition: COMMIT
//! makes them the group's committed offsets, ABORT drops them. While any is pending
//! for a partition, an OffsetFetch that requires stable offsets is answered
//! UNSTABLE_OFFSET_COMMIT there. Replay rebuilds the same state from the log.

use std::collections::BTreeMap;

use moldau_protocol::kafka::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use moldau_protocol::kafka::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::codes;
use crate::coordinator::GroupCoordinator;
use crate::effect::{AppendId, Effect, ReplyId, TxnProducer};
use crate::group::{Group, GroupState, TopicPartition};
use crate::pending::PendingAppend;
use crate::records::{OffsetCommitKey, OffsetCommitValue};
use crate::request::{GroupResponse, RequestContext};

/// One offset committed in a transaction that has not ended yet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingTxnOffset {
    pub value: OffsetCommitValue,
    pub write: TxnWrite,
}

/// Where a pending transactional offset's record stands; decides whether it may
/// replace the committed offset when its transaction commits (the later record in
/// the log wins, as Kafka compares record offsets).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TxnWrite {
    /// Read back from the log at `record_offset`. `superseded` once a later record
    /// of the same partition is the committed offset: committing changes nothing.
    Replayed {
        record_offset: i64,
        superseded: bool,
    },
    /// Written by append `id`, not durable yet; the marker may come first (its
    /// outcome is then kept until the append completes).
    InFlight { id: AppendId, outcome: Option<bool> },
    /// Written by append `id`, durable.
    Written(AppendId),
}

impl Group {
    /// True while some transaction has an offset for `tp` pending.
    pub fn has_pending_txn_offset(&self, tp: &TopicPartition) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|p| p.contains_key(tp))
    }

    /// Drops every open transaction's offsets of `partitions` (OffsetDelete);
    /// returns the partitions that had some.
    pub(crate) fn drop_pending_txn_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Vec<TopicPartition> {
        let mut dropped = Vec::new();
        for tp in partitions {
            let mut had = false;
            for offsets in self.pending_txn_offsets.values_mut() {
                had |= offsets.remove(tp).is_some();
            }
            if had {
                dropped.push(tp.clone());
            }
        }
        self.pending_txn_offsets
            .retain(|_, offsets| !offsets.is_empty());
        dropped
    }

    /// Makes `p`, whose transaction committed, the committed offset of `tp` unless a
    /// later write is already in place.
    fn apply_txn_offset(&mut self, tp: TopicPartition, p: PendingTxnOffset) {
        match p.write {
            TxnWrite::Replayed {
                record_offset,
                superseded,
            } => {
                // Any write since the replay is later in the log.
                if superseded || self.offset_writes.contains_key(&tp) {
                    return;
                }
                for other in self.pending_txn_offsets.values_mut() {
                    if let Some(PendingTxnOffset {
                        write:
                            TxnWrite::Replayed {
                                record_offset: r,
                                superseded,
                            },
                        ..
                    }) = other.get_mut(&tp)
                    {
                        if *r < record_offset {
                            *superseded = true;
                        }
                    }
                }
                self.offsets.insert(tp, p.value);
            }
            TxnWrite::InFlight { id, .. } | TxnWrite::Written(id) => {
                if self.offset_writes.get(&tp).is_some_and(|w| *w > id) {
                    return;
                }
                self.offset_writes.insert(tp.clone(), id);
                self.offsets.insert(tp, p.value);
            }
        }
    }

    /// The transaction of `producer_id` ended (`commit` or abort): its offsets are
    /// applied or dropped; those whose append is still in flight take the outcome
    /// when it completes.
    pub(crate) fn end_txn_offsets(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        let mut in_flight = BTreeMap::new();
        for (tp, mut p) in pending {
            match &mut p.write {
                TxnWrite::InFlight { outcome, .. } => {
                    *outcome = Some(commit);
                    in_flight.insert(tp, p);
                }
                _ if commit => self.apply_txn_offset(tp, p),
                _ => {}
            }
        }
        if !in_flight.is_empty() {
            self.pending_txn_offsets.insert(producer_id, in_flight);
        }
    }

    /// Append `id` of `producer_id`'s offsets for `partitions` completed (`ok`) or
    /// failed (its offsets are dropped).
    pub(crate) fn txn_offsets_written(
        &mut self,
        producer_id: i64,
        id: AppendId,
        partitions: &[TopicPartition],
        ok: bool,
    ) {
        let Some(pending) = self.pending_txn_offsets.get_mut(&producer_id) else {
            return;
        };
        let mut ended = Vec::new();
        for tp in partitions {
            let Some(p) = pending.get_mut(tp) else {
                continue;
            };
            let TxnWrite::InFlight {
                id: written,
                outcome,
            } = p.write
            else {
                continue;
            };
            if written != id {
                // Replaced by a later commit of the same transaction.
                continue;
            }
            match (ok, outcome) {
                (true, None) => p.write = TxnWrite::Written(id),
                (true, Some(commit)) => {
                    if let Some(p) = pending.remove(tp) {
                        ended.push((tp.clone(), p, commit));
                    }
                }
                (false, _) => {
                    pending.remove(tp);
                }
            }
        }
        if pending.is_empty() {
            self.pending_txn_offsets.remove(&producer_id);
        }
        for (tp, p, commit) in ended {
            if commit {
                self.apply_txn_offset(tp, p);
            }
        }
    }
}

impl GroupCoordinator {
    pub(crate) fn txn_offset_commit(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext,
        reply: ReplyId,
        req: TxnOffsetCommitRequest,
        out: &mut Vec<Effect>,
    ) {
        let group_id = req.group_id.as_str().to_string();
        let generation = req.generation_id;
        let member_id = req.member_id.as_str();
        let instance_id = req.group_instance_id.as_ref().map(|s| s.as_str());
        let all = |error: i16| txn_commit_response(&req, |_, _| error);
        if let Err(error) = self.commit_target(&group_id, generation, false, now_ms) {
            return Self::reply(out, reply, all(error));
        }
        let consumer_check = self
            .consumer_commit_check(
                &group_id,
                member_id,
                generation,
                ctx.api_version,
                true,
                req.topics.iter().flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| (t.name.as_str(), p.partition_index))
                }),
            )
            // TxnOffsetCommit has no STALE_MEMBER_EPOCH (Kafka maps it so).
            .map(|checked| {
                checked.map(|e| {
                    if e == codes::STALE_MEMBER_EPOCH {
                        codes::ILLEGAL_GENERATION
                    } else {
                        e
                    }
                })
            });
        let metadata_max = self.config.offset_metadata_max_bytes;
        let Some((g, mut io)) = self.group_io(&group_id, now_ms, out) else {
            return;
        };
        let error = match consumer_check {
            Some(checked) => checked,
            None => validate_txn_offset_commit(g, generation, member_id, instance_id),
        };
        if let Some(error) = error {
            return io.reply(reply, all(error));
        }
        let mut records = Vec::new();
        let mut written: Vec<(TopicPartition, OffsetCommitValue)> = Vec::new();
        let mut errors: BTreeMap<TopicPartition, i16> = BTreeMap::new();
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
                    expire_timestamp_ms: None,
                };
                let key = OffsetCommitKey {
                    group: group_id.clone(),
                    topic: tp.0.clone(),
                    partition: tp.1,
                };
                match (key.encode(), value.encode()) {
                    (Ok(k), Ok(v)) => {
                        records.push((k, Some(v)));
                        written.push((tp, value));
                    }
                    // Only a topic name no topic can have fails to encode.
                    _ => {
                        errors.insert(tp, codes::UNKNOWN_TOPIC_OR_PARTITION);
                    }
                }
            }
        }
        let GroupResponse::TxnOffsetCommit(response) = txn_commit_response(&req, |t, p| {
            errors
                .get(&(t.to_string(), p))
                .copied()
                .unwrap_or(codes::NONE)
        }) else {
            return;
        };
        if records.is_empty() {
            return io.reply(reply, GroupResponse::TxnOffsetCommit(response));
        }
        let producer = TxnProducer {
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
        };
        let kind = PendingAppend::TxnOffsetCommit {
            group_id,
            producer_id: producer.producer_id,
            reply,
            partitions: written.iter().map(|(tp, _)| tp.clone()).collect(),
            response,
        };
        let id = io.append_in(g.partition, records, Some(producer), kind);
        let pending = g
            .pending_txn_offsets
            .entry(producer.producer_id)
            .or_default();
        for (tp, value) in written {
            pending.insert(
                tp,
                PendingTxnOffset {
                    value,
                    write: TxnWrite::InFlight { id, outcome: None },
                },
            );
        }
    }

    /// The transaction of `producer_id` ended with a marker on offsets partition
    /// `partition`: its groups there apply (COMMIT) or drop (ABORT) its offsets.
    pub(crate) fn end_transaction(&mut self, partition: i32, producer_id: i64, commit: bool) {
        for g in self.groups.values_mut() {
            if g.partition == partition {
                g.end_txn_offsets(producer_id, commit);
            }
        }
    }
}

/// Kafka's checks of a transactional commit against a classic group: the member and
/// generation when given (KIP-447), else nothing; no rebalance check, and commits
/// without a member are accepted for any group (older producers send none).
fn validate_txn_offset_commit(
    g: &Group,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<i16> {
    if g.is(GroupState::Dead) {
        return Some(codes::COORDINATOR_NOT_AVAILABLE);
    }
    if generation < 0 && g.is(GroupState::Empty) {
        return None;
    }
    if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
        if let Some(error) = g.validate_current_member(member_id, instance_id) {
            return Some(error);
        }
        if generation != g.generation {
            return Some(codes::ILLEGAL_GENERATION);
        }
    }
    None
}

/// A TxnOffsetCommit response with `error_of(topic, partition)` for each partition.
pub(crate) fn txn_commit_response(
    req: &TxnOffsetCommitRequest,
    error_of: impl Fn(&str, i32) -> i16,
) -> GroupResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error_of(t.name.as_str(), p.partition_index))
                        })
                        .collect(),
                )
        })
        .collect();
    GroupResponse::TxnOffsetCommit(TxnOffsetCommitResponse::default().with_topics(topics))
}
