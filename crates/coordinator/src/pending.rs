//! Appends to `__consumer_offsets` that requests wait for, and the context group
//! operations write their effects into.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use moldau_protocol::kafka::messages::{
    DeleteGroupsResponse, OffsetCommitResponse, OffsetDeleteResponse, TxnOffsetCommitResponse,
};

use crate::config::GroupConfig;
use crate::consumer_group::undo::ConsumerUndo;
use crate::effect::{AppendId, Effect, ReplyId, TxnProducer};
use crate::member::Waiter;
use crate::request::GroupResponse;

/// One offset of an OffsetCommit that waits for its record to be durable.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommit {
    pub topic: String,
    pub partition: i32,
    pub value: crate::records::OffsetCommitValue,
}

/// What happens when an append completes.
#[derive(Debug)]
pub(crate) enum PendingAppend {
    /// The leader's SyncGroup: the assignment takes effect once durable.
    SyncAssignment {
        group_id: String,
        generation: i32,
        assignments: HashMap<String, Bytes>,
    },
    /// A static member rejoined a stable group under a new member id.
    StaticRejoin(Box<StaticRejoin>),
    /// OffsetCommit: offsets become visible and the reply goes out once durable.
    OffsetCommit {
        group_id: String,
        reply: ReplyId,
        commits: Vec<PendingCommit>,
        /// The response with every partition's answer; written partitions say NONE
        /// until the append says otherwise.
        response: OffsetCommitResponse,
    },
    /// TxnOffsetCommit: answered once durable; the offsets stay pending until the
    /// transaction's marker.
    TxnOffsetCommit {
        group_id: String,
        producer_id: i64,
        reply: ReplyId,
        partitions: Vec<(String, i32)>,
        response: TxnOffsetCommitResponse,
    },
    /// DeleteGroups tombstones for some of the groups of one request.
    DeleteGroups { barrier: u64, groups: Vec<String> },
    /// OffsetDelete tombstones.
    OffsetDelete {
        reply: ReplyId,
        response: OffsetDeleteResponse,
    },
    /// ConsumerGroupHeartbeat: answered once its records are durable.
    ConsumerHeartbeat {
        reply: ReplyId,
        response: Box<GroupResponse>,
        /// The group before this heartbeat, restored if the append fails.
        undo: Box<ConsumerUndo>,
    },
    /// A consumer group changed by a timer, a topic change or a conversion; nobody
    /// waits, but a failure restores the group as it was.
    ConsumerChange { undo: Box<ConsumerUndo> },
    /// Nobody waits (empty-group metadata, expiry tombstones).
    Background,
}

/// Enough to finish (or undo) a static member's replacement.
#[derive(Debug)]
pub(crate) struct StaticRejoin {
    pub group_id: String,
    pub instance_id: String,
    pub old_member_id: String,
    pub new_member_id: String,
    pub old_protocols: Vec<(String, Bytes)>,
    pub old_rebalance_timeout_ms: i32,
    pub old_session_timeout_ms: i32,
    /// Leader before the replacement: answered to pre-v9 clients so that a rejoining
    /// leader does not run a pointless assignment.
    pub previous_leader: Option<String>,
    pub generation: i32,
    pub waiter: Waiter,
}

/// A reply that waits for several appends.
#[derive(Debug)]
pub(crate) struct Barrier {
    pub reply: ReplyId,
    pub remaining: usize,
    pub response: DeleteGroupsResponse,
}

/// A request that waits for an append, with the partition the append went to.
#[derive(Debug)]
pub(crate) struct PendingEntry {
    pub partition: i32,
    pub kind: PendingAppend,
}

/// Hands out append ids and remembers what waits for each append.
#[derive(Debug, Default)]
pub(crate) struct Appender {
    next_id: u64,
    pub pending: BTreeMap<AppendId, PendingEntry>,
}

impl Appender {
    pub fn append(
        &mut self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        kind: PendingAppend,
        out: &mut Vec<Effect>,
    ) -> AppendId {
        self.append_in(partition, records, None, kind, out)
    }

    /// An append that is part of `transaction` when set.
    pub fn append_in(
        &mut self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        transaction: Option<TxnProducer>,
        kind: PendingAppend,
        out: &mut Vec<Effect>,
    ) -> AppendId {
        let id = AppendId(self.next_id);
        self.next_id += 1;
        self.pending.insert(id, PendingEntry { partition, kind });
        out.push(Effect::Append {
            id,
            partition,
            records,
            transaction,
        });
        id
    }
}

/// What group operations need besides the group: settings, time, and where effects
/// and appends go.
pub(crate) struct Io<'a> {
    pub config: &'a GroupConfig,
    pub now_ms: i64,
    pub appender: &'a mut Appender,
    pub out: &'a mut Vec<Effect>,
}

impl Io<'_> {
    pub fn reply(&mut self, id: ReplyId, response: GroupResponse) {
        self.out.push(Effect::Reply { id, response });
    }

    pub fn append(
        &mut self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        kind: PendingAppend,
    ) -> AppendId {
        self.appender.append(partition, records, kind, self.out)
    }

    /// An append that is part of `transaction` when set.
    pub fn append_in(
        &mut self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        transaction: Option<TxnProducer>,
        kind: PendingAppend,
    ) -> AppendId {
        self.appender
            .append_in(partition, records, transaction, kind, self.out)
    }
}
