//! One classic group: members, generation, timers and committed offsets.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use indexmap::IndexMap;
use moldau_protocol::kafka::messages::join_group_response::JoinGroupResponseMember;
use moldau_protocol::kafka::protocol::StrBytes;

use crate::codes;
use crate::consumer_group::ConsumerGroup;
use crate::consumer_protocol::{subscription_topics, CONSUMER_PROTOCOL_TYPE};
use crate::effect::AppendId;
use crate::member::Member;
use crate::records::{GroupMetadataValue, MemberMetadata, OffsetCommitValue};
use crate::txn_offsets::PendingTxnOffset;

/// Life cycle of a classic group, named exactly as Kafka names the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka shows in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms`, and
/// again after each join, until the rebalance timeout is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InitialDelay {
    /// Length of the current wait.
    pub delay_ms: i64,
    /// How much longer the waiting may be extended.
    pub remaining_ms: i64,
}

/// Offsets are keyed by (topic, partition).
pub(crate) type TopicPartition = (String, i32);

/// A group and everything the coordinator knows about it.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    /// `__consumer_offsets` partition holding this group.
    pub partition: i32,
    pub state: GroupState,
    /// When the group entered its state (None for groups loaded from old records).
    pub state_timestamp_ms: Option<i64>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// Members in join order (the first one leads when the leader leaves).
    pub members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED → when they lapse.
    pub pending_members: IndexMap<String, i64>,
    /// Members that got their JoinGroup answer but have not sent SyncGroup yet.
    pub pending_sync: HashSet<String>,
    /// When the join phase of the rebalance under way ends.
    pub join_deadline_ms: Option<i64>,
    pub initial_delay: Option<InitialDelay>,
    pub new_member_added: bool,
    /// When members that have not sent SyncGroup are removed.
    pub sync_deadline_ms: Option<i64>,
    pub offsets: BTreeMap<TopicPartition, OffsetCommitValue>,
    /// Commits written but not yet durable, per partition (they are never expired).
    pub pending_commits: HashMap<TopicPartition, u32>,
    /// The append that last wrote or deleted each offset. Appends reach the log in the
    /// order they are emitted but may complete in any order; a completion older than
    /// this must not overwrite what a newer record says.
    pub offset_writes: HashMap<TopicPartition, AppendId>,
    /// Offsets committed in transactions not yet ended, by producer id.
    pub pending_txn_offsets: BTreeMap<i64, BTreeMap<TopicPartition, PendingTxnOffset>>,
    /// Topics the members subscribe to (consumer protocol only; None = unknown).
    pub subscribed_topics: Option<BTreeSet<String>>,
    /// Set when this is a KIP-848 consumer group (its classic fields stay unused,
    /// but for state Empty/Stable and the subscribed topics, kept in step).
    pub consumer: Option<Box<ConsumerGroup>>,
}

impl Group {
    pub fn new(id: String, partition: i32, now_ms: i64) -> Self {
        Group {
            id,
            partition,
            state: GroupState::Empty,
            state_timestamp_ms: Some(now_ms),
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: IndexMap::new(),
            pending_sync: HashSet::new(),
            join_deadline_ms: None,
            initial_delay: None,
            new_member_added: false,
            sync_deadline_ms: None,
            offsets: BTreeMap::new(),
            pending_commits: HashMap::new(),
            offset_writes: HashMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            subscribed_topics: None,
            consumer: None,
        }
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    pub fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        self.pending_members.shift_remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member (or pending member) and hands the leadership on if needed.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        self.pending_members.shift_remove(member_id);
        self.pending_sync.remove(member_id);
        let removed = self.members.shift_remove(member_id);
        if let Some(m) = &removed {
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        removed
    }

    /// Gives a static member a new member id, keeping its place and leadership.
    pub fn replace_static_member(&mut self, instance_id: &str, old_id: &str, new_id: &str) {
        if let Some(index) = self.members.get_index_of(old_id) {
            if let Some(mut member) = self.members.shift_remove(old_id) {
                member.id = new_id.to_string();
                self.members.shift_insert(index, new_id.to_string(), member);
            }
        }
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.static_members
            .insert(instance_id.to_string(), new_id.to_string());
    }

    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    /// Kafka's validateCurrentMember: a given instance id must map to `member_id`
    /// (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID when unmapped), and the member
    /// must exist.
    pub fn validate_current_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<i16> {
        if let Some(instance) = instance_id {
            match self.static_member_id(instance) {
                Some(current) if current != member_id => return Some(codes::FENCED_INSTANCE_ID),
                Some(_) => {}
                None => return Some(codes::UNKNOWN_MEMBER_ID),
            }
        }
        if !self.members.contains_key(member_id) {
            return Some(codes::UNKNOWN_MEMBER_ID);
        }
        None
    }

    /// Protocols every member supports, in the first member's order of preference.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect()
    }

    /// Whether a member with these protocols may join: an empty group takes any
    /// non-empty list; otherwise the type must match and one protocol must be
    /// supported by every current member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.is(GroupState::Empty) {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// The protocol most members prefer among those all support (Kafka's vote).
    /// Ties go to the protocol the earliest member prefers, for determinism.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for member in self.members.values() {
            if let Some(choice) = member.vote(&candidates) {
                if let Some(entry) = votes.iter_mut().find(|(name, _)| name == choice) {
                    entry.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        let tied: Vec<&String> = votes
            .iter()
            .filter(|(_, n)| *n == best)
            .map(|(name, _)| name)
            .collect();
        // Among equal votes, the first member's own vote wins; else the first candidate.
        let first_vote = self
            .members
            .values()
            .next()
            .and_then(|m| m.vote(&candidates));
        tied.iter()
            .find(|name| Some(name.as_str()) == first_vote)
            .or_else(|| tied.first())
            .map(|name| (*name).clone())
    }

    /// The longest rebalance timeout of any member (the join phase waits this long).
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub fn num_awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.is_awaiting_join())
            .count()
    }

    pub fn has_all_members_joined(&self) -> bool {
        self.members.values().all(Member::is_awaiting_join) && self.pending_members.is_empty()
    }

    /// If the leader has not rejoined, hands leadership to a member that has. False when
    /// no member has rejoined (or there are none).
    pub fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else {
            return false;
        };
        if self
            .members
            .get(&leader)
            .is_some_and(Member::is_awaiting_join)
        {
            return true;
        }
        match self.members.values().find(|m| m.is_awaiting_join()) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// Next generation: CompletingRebalance with a selected protocol, or Empty.
    pub fn init_next_generation(&mut self, now_ms: i64) {
        self.generation += 1;
        self.pending_sync.clear();
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition(GroupState::CompletingRebalance, now_ms);
        }
        self.subscribed_topics = self.compute_subscribed_topics();
    }

    /// Union of the members' subscribed topics, when every subscription parses as the
    /// consumer protocol.
    pub fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(subscription_topics(&m.metadata(protocol)).ok()?);
        }
        Some(topics)
    }

    /// Kafka's isSubscribedToTopic: unknown subscriptions count as subscribed.
    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_none_or(|topics| topics.contains(topic))
    }

    /// JoinGroup members list for the leader: id, instance id and metadata for the
    /// selected protocol.
    pub fn current_member_metadata(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(StrBytes::from_string(m.id.clone()))
                    .with_group_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                    .with_metadata(m.metadata(&protocol))
            })
            .collect()
    }

    /// The group as a `__consumer_offsets` value, with each member's assignment taken
    /// from `assignments` when given (a SyncGroup not yet durable), else its current one.
    pub fn metadata_value(
        &self,
        assignments: Option<&HashMap<String, Bytes>>,
    ) -> GroupMetadataValue {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
            members: self
                .members
                .values()
                .map(|m| MemberMetadata {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: match assignments {
                        Some(a) => a.get(&m.id).cloned().unwrap_or_default(),
                        None => m.assignment.clone(),
                    },
                })
                .collect(),
        }
    }

    /// Earliest moment at which a timer of this group has something to do.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let members = self.members.values().filter_map(Member::expiry_deadline_ms);
        let pending = self.pending_members.values().copied();
        let consumer = self
            .consumer
            .as_deref()
            .and_then(ConsumerGroup::next_deadline_ms);
        members
            .chain(pending)
            .chain(consumer)
            .chain(self.join_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }

    /// Offsets to expire now (Kafka's removeExpiredOffsets rules): empty groups after
    /// the retention has passed since they became empty; stable consumer groups for
    /// topics they no longer subscribe to; simple (protocol-less) groups per commit.
    /// Offsets with an explicit expiry (old clients) expire at that time.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<TopicPartition> {
        let base: Box<dyn Fn(&OffsetCommitValue) -> i64> = match self.protocol_type.as_deref() {
            Some(_) if self.is(GroupState::Empty) => {
                let since = self.state_timestamp_ms;
                Box::new(move |v: &OffsetCommitValue| since.unwrap_or(v.commit_timestamp_ms))
            }
            Some(CONSUMER_PROTOCOL_TYPE)
                if self.subscribed_topics.is_some() && self.is(GroupState::Stable) =>
            {
                Box::new(|v: &OffsetCommitValue| v.commit_timestamp_ms)
            }
            None => Box::new(|v: &OffsetCommitValue| v.commit_timestamp_ms),
            _ => return Vec::new(),
        };
        let subscribed = if self.is(GroupState::Stable) {
            self.subscribed_topics.clone().unwrap_or_default()
        } else {
            BTreeSet::new()
        };
        self.offsets
            .iter()
            .filter(|(tp, v)| {
                !subscribed.contains(&tp.0)
                    && !self.pending_commits.contains_key(*tp)
                    && !self.has_pending_txn_offset(tp)
                    && match v.expire_timestamp_ms {
                        Some(expire) => now_ms >= expire,
                        None => now_ms.saturating_sub(base(v)) >= retention_ms,
                    }
            })
            .map(|(tp, _)| tp.clone())
            .collect()
    }
}
