//! The group coordinator: owns the groups of the `__consumer_offsets` partitions this
//! node leads, answers group requests, and turns time into rebalance decisions.
//!
//! Everything is driven from outside: requests with [`GroupCoordinator::handle`], the
//! durability of appended records with [`GroupCoordinator::append_completed`], and time
//! with [`GroupCoordinator::tick`]. Each call returns the effects to carry out, in order.
//! Timers that are due at the `now_ms` of any call fire within that call.

use std::collections::{BTreeMap, HashMap};

use crate::codes;
use crate::config::GroupConfig;
use crate::consumer_group::topic_catalog::TopicCatalog;
use crate::deadlines::DeadlineIndex;
use crate::effect::{AppendId, Effect, ReplyId};
use crate::group::Group;
use crate::loader::LoadBuffer;
use crate::member_id::{MemberIdSource, SeededMemberIds};
use crate::partitioner::partition_for_group;
use crate::pending::{Appender, Barrier, Io};
use crate::request::{GroupRequest, GroupResponse, RequestContext};
use crate::wire::STRING_BYTES_MAX;

/// Whether this node serves a `__consumer_offsets` partition yet.
pub(crate) enum PartitionStatus {
    /// Replaying the partition; requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading(Box<LoadBuffer>),
    /// Loaded; its groups are in memory.
    Active,
}

/// Classic group coordinator and offset store (see the module docs).
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) member_ids: Box<dyn MemberIdSource>,
    pub(crate) partitions: HashMap<i32, PartitionStatus>,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) appender: Appender,
    /// Replies that wait for several appends (DeleteGroups across partitions).
    pub(crate) barriers: HashMap<u64, Barrier>,
    next_barrier_id: u64,
    /// When expired offsets are next looked for (set once a partition is active).
    pub(crate) next_offset_expiry_ms: Option<i64>,
    /// Effects produced outside a call that returns effects, handed out by the next one.
    deferred: Vec<Effect>,
    /// Next timer deadline of each group.
    pub(crate) deadlines: DeadlineIndex,
    /// Topics consumer groups resolve their subscriptions against.
    pub(crate) topics: TopicCatalog,
}

impl GroupCoordinator {
    /// A coordinator that leads no partition yet; member ids get random suffixes.
    pub fn new(config: GroupConfig) -> Self {
        Self::with_member_ids(config, Box::new(SeededMemberIds::from_entropy()))
    }

    /// A coordinator whose member id suffixes come from `member_ids` (tests pass a
    /// [`SeededMemberIds`] to make ids predictable).
    pub fn with_member_ids(config: GroupConfig, member_ids: Box<dyn MemberIdSource>) -> Self {
        GroupCoordinator {
            config,
            member_ids,
            partitions: HashMap::new(),
            groups: BTreeMap::new(),
            appender: Appender::default(),
            barriers: HashMap::new(),
            next_barrier_id: 0,
            next_offset_expiry_ms: None,
            deferred: Vec::new(),
            deadlines: DeadlineIndex::default(),
            topics: TopicCatalog::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition that coordinates `group_id`.
    pub fn coordinator_partition(&self, group_id: &str) -> i32 {
        partition_for_group(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Starts replaying `partition`: this node now leads it, and its groups answer
    /// COORDINATOR_LOAD_IN_PROGRESS until [`Self::finish_loading`]. Groups already held
    /// for the partition are dropped first; the answers to their waiting requests come
    /// with the effects of the next call (and [`Self::next_deadline_ms`] asks for one at
    /// once).
    pub fn begin_loading(&mut self, partition: i32) {
        let dropped = self.resign(partition);
        self.deferred.extend(dropped);
        self.partitions
            .insert(partition, PartitionStatus::Loading(Box::default()));
    }

    /// Feeds one record of `partition` in log order (`value` None = tombstone).
    /// Records that do not decode are skipped (and counted), as Kafka skips them.
    pub fn load_record(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        if let Some(PartitionStatus::Loading(buffer)) = self.partitions.get_mut(&partition) {
            buffer.apply(offset, key, value);
        }
    }

    /// Feeds one record of a transactional batch of `producer_id` (offsets committed
    /// in its transaction): pending until the producer's marker is replayed.
    pub fn load_transactional_record(
        &mut self,
        partition: i32,
        producer_id: i64,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        if let Some(PartitionStatus::Loading(buffer)) = self.partitions.get_mut(&partition) {
            buffer.apply_transactional(producer_id, offset, key, value);
        }
    }

    /// Feeds a COMMIT (`commit`) or ABORT marker of `producer_id` in log order.
    pub fn load_txn_marker(&mut self, partition: i32, producer_id: i64, commit: bool) {
        if let Some(PartitionStatus::Loading(buffer)) = self.partitions.get_mut(&partition) {
            buffer.apply_marker(producer_id, commit);
        }
    }

    /// Notes that the batch at `base_offset` of `partition` could not be decoded: its
    /// records are skipped (and counted, logged once when the replay finishes) and the
    /// replay goes on with the next batch.
    pub fn skip_undecodable_batch(&mut self, partition: i32, base_offset: i64) {
        if let Some(PartitionStatus::Loading(buffer)) = self.partitions.get_mut(&partition) {
            buffer.skip_batch(base_offset);
        }
    }

    /// Ends the replay of `partition`: its groups go live (members' sessions restart
    /// at `now_ms`) and requests for them are answered from now on.
    pub fn finish_loading(&mut self, partition: i32, now_ms: i64) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        let Some(PartitionStatus::Loading(buffer)) = self.partitions.remove(&partition) else {
            return out;
        };
        self.partitions.insert(partition, PartitionStatus::Active);
        if buffer.skipped_records > 0 || buffer.skipped_batches > 0 {
            tracing::warn!(
                partition,
                skipped_records = buffer.skipped_records,
                skipped_batches = buffer.skipped_batches,
                "skipped undecodable __consumer_offsets records"
            );
        }
        let groups = buffer.into_groups(partition, now_ms, self.config.consumer_session_timeout_ms);
        // The broker logs one summary line for all partitions it loads at once.
        tracing::debug!(
            partition,
            groups = groups.len(),
            "loaded __consumer_offsets partition"
        );
        for group in groups {
            let id = group.id.clone();
            self.groups.insert(id.clone(), group);
            self.deadlines.mark(&id);
            self.on_group_loaded(&id, now_ms, &mut out);
        }
        if self.next_offset_expiry_ms.is_none() {
            self.next_offset_expiry_ms =
                Some(now_ms.saturating_add(self.config.offsets_retention_check_interval_ms));
        }
        self.run_due_timers(now_ms, &mut out);
        out
    }

    /// Stops serving `partition`: drops its groups from memory. Requests that were
    /// waiting on them (JoinGroup, SyncGroup, commits not yet durable) are answered
    /// with NOT_COORDINATOR in the returned effects, as Kafka does on unload.
    pub fn resign(&mut self, partition: i32) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        self.partitions.remove(&partition);
        let ids: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.partition == partition)
            .map(|g| g.id.clone())
            .collect();
        for id in ids {
            if let Some(group) = self.groups.remove(&id) {
                Self::unload_group(group, &mut out);
            }
            self.deadlines.mark(&id);
        }
        self.deadlines.flush(&self.groups);
        let stale: Vec<AppendId> = self
            .appender
            .pending
            .iter()
            .filter(|(_, e)| e.partition == partition)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(entry) = self.appender.pending.remove(&id) {
                self.fail_pending(entry.kind, codes::NOT_COORDINATOR, &mut out);
            }
        }
        if !self
            .partitions
            .values()
            .any(|p| matches!(p, PartitionStatus::Active))
        {
            self.next_offset_expiry_ms = None;
        }
        out
    }

    /// Answers one request. Responses may come in these effects or later ones (a
    /// JoinGroup waits for the rebalance, a commit for its append).
    pub fn handle(
        &mut self,
        now_ms: i64,
        ctx: RequestContext,
        reply: ReplyId,
        request: GroupRequest,
    ) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        match request {
            GroupRequest::JoinGroup(r) => self.join_group(now_ms, &ctx, reply, r, &mut out),
            GroupRequest::SyncGroup(r) => self.sync_group(now_ms, &ctx, reply, r, &mut out),
            GroupRequest::Heartbeat(r) => self.heartbeat(now_ms, reply, r, &mut out),
            GroupRequest::LeaveGroup(r) => self.leave_group(now_ms, &ctx, reply, r, &mut out),
            GroupRequest::OffsetCommit(r) => self.offset_commit(now_ms, &ctx, reply, r, &mut out),
            GroupRequest::OffsetFetch(r) => self.offset_fetch(&ctx, reply, r, &mut out),
            GroupRequest::ListGroups(r) => self.list_groups(reply, r, &mut out),
            GroupRequest::DescribeGroups(r) => self.describe_groups(&ctx, reply, r, &mut out),
            GroupRequest::DeleteGroups(r) => self.delete_groups(now_ms, reply, r, &mut out),
            GroupRequest::OffsetDelete(r) => self.offset_delete(now_ms, reply, r, &mut out),
            GroupRequest::ConsumerGroupHeartbeat(r) => {
                self.consumer_group_heartbeat(now_ms, &ctx, reply, r, &mut out)
            }
            GroupRequest::ConsumerGroupDescribe(r) => {
                self.consumer_group_describe(reply, r, &mut out)
            }
            GroupRequest::TxnOffsetCommit(r) => {
                self.txn_offset_commit(now_ms, &ctx, reply, r, &mut out)
            }
            GroupRequest::PendingRevocations(group_id) => {
                self.pending_revocations(reply, &group_id, &mut out)
            }
        }
        self.run_due_timers(now_ms, &mut out);
        out
    }

    /// The broker reports that append `id` is durable (`error_code` 0) or failed.
    pub fn append_completed(&mut self, now_ms: i64, id: AppendId, error_code: i16) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        if let Some(entry) = self.appender.pending.remove(&id) {
            self.complete_pending(now_ms, id, entry.kind, error_code, &mut out);
        }
        self.run_due_timers(now_ms, &mut out);
        out
    }

    /// A transaction marker of `producer_id` was written to offsets partition
    /// `partition` and is durable: the offsets its transaction committed there become
    /// visible (COMMIT) or are dropped (ABORT). A partition not served here, or still
    /// loading, reads the marker from its log instead.
    pub fn complete_transaction(
        &mut self,
        now_ms: i64,
        partition: i32,
        producer_id: i64,
        commit: bool,
    ) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        if matches!(
            self.partitions.get(&partition),
            Some(PartitionStatus::Active)
        ) {
            self.end_transaction(partition, producer_id, commit);
        }
        self.run_due_timers(now_ms, &mut out);
        out
    }

    /// Fires every timer due at `now_ms`: session timeouts, rebalance (join) deadlines,
    /// the initial rebalance delay, SyncGroup deadlines, offset expiry.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.deferred);
        self.run_due_timers(now_ms, &mut out);
        out
    }

    /// When [`Self::tick`] next has something to do, if ever.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        if !self.deferred.is_empty() {
            // Long past (but safe to subtract from): tick at once to hand them out.
            return Some(0);
        }
        let first = self.deadlines.first();
        debug_assert!(self.deadlines.is_clean());
        debug_assert_eq!(
            first,
            self.groups
                .values()
                .filter_map(Group::next_deadline_ms)
                .min(),
            "deadline index out of date"
        );
        first.into_iter().chain(self.next_offset_expiry_ms).min()
    }

    /// Fires due timers, then brings the deadline index up to date; every public call
    /// that changes groups ends here.
    fn run_due_timers(&mut self, now_ms: i64, out: &mut Vec<Effect>) {
        self.deadlines.flush(&self.groups);
        for id in self.deadlines.due(now_ms) {
            self.fire_group_timers(&id, now_ms, out);
        }
        if self.next_offset_expiry_ms.is_some_and(|d| d <= now_ms) {
            self.next_offset_expiry_ms =
                Some(now_ms.saturating_add(self.config.offsets_retention_check_interval_ms.max(1)));
            self.expire_offsets(now_ms, out);
        }
        self.deadlines.flush(&self.groups);
    }

    /// Where `group_id` stands on this node: its partition, or the error to answer.
    pub(crate) fn group_status(&self, group_id: &str, allow_empty: bool) -> Result<i32, i16> {
        if (group_id.is_empty() && !allow_empty) || group_id.len() > STRING_BYTES_MAX {
            return Err(codes::INVALID_GROUP_ID);
        }
        let partition = self.coordinator_partition(group_id);
        match self.partitions.get(&partition) {
            Some(PartitionStatus::Active) => Ok(partition),
            Some(PartitionStatus::Loading(_)) => Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
            None => Err(codes::NOT_COORDINATOR),
        }
    }

    /// True while any partition is still loading.
    pub(crate) fn is_loading(&self) -> bool {
        self.partitions
            .values()
            .any(|p| matches!(p, PartitionStatus::Loading(_)))
    }

    /// Splits the coordinator into one group and the context to operate on it.
    pub(crate) fn group_io<'a>(
        &'a mut self,
        group_id: &str,
        now_ms: i64,
        out: &'a mut Vec<Effect>,
    ) -> Option<(&'a mut Group, Io<'a>)> {
        let group = self.groups.get_mut(group_id)?;
        self.deadlines.mark(group_id);
        let io = Io {
            config: &self.config,
            now_ms,
            appender: &mut self.appender,
            out,
        };
        Some((group, io))
    }

    /// The context alone, for work that spans groups.
    pub(crate) fn io<'a>(
        &'a mut self,
        now_ms: i64,
        out: &'a mut Vec<Effect>,
    ) -> (&'a mut BTreeMap<String, Group>, Io<'a>) {
        let io = Io {
            config: &self.config,
            now_ms,
            appender: &mut self.appender,
            out,
        };
        (&mut self.groups, io)
    }

    pub(crate) fn new_barrier(&mut self, barrier: Barrier) -> u64 {
        let id = self.next_barrier_id;
        self.next_barrier_id += 1;
        self.barriers.insert(id, barrier);
        id
    }

    pub(crate) fn reply(out: &mut Vec<Effect>, id: ReplyId, response: GroupResponse) {
        out.push(Effect::Reply { id, response });
    }
}
