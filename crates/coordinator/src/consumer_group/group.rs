//! The KIP-848 part of a consumer group: group epoch, target assignment and its
//! epoch, members with their current assignments, and who owns which partition.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex_automata::meta::Regex;
use uuid::Uuid;

use super::assignment::{self, Assignment};
use super::assignor::{MemberSpec, PartitionRacks, ServerAssignor};
use super::member::{ConsumerMember, MemberAssignment, MemberState};
use super::topic_catalog::{CatalogTopic, TopicCatalog};
use crate::codes;
use crate::request::TopicDescribeCheck;

/// OffsetCommit v9 carries member epochs (older versions carry classic generations).
const OFFSET_COMMIT_MEMBER_EPOCH_VERSION: i16 = 9;

/// Longest `subscribed_topic_regex` accepted, in bytes.
pub(crate) const SUBSCRIBED_TOPIC_REGEX_BYTES_MAX: usize = 1_024;

/// Compiles a subscription regex (RE2 syntax) matching whole topic names, as Kafka
/// matches them.
pub(crate) fn compile_topic_regex(pattern: &str) -> Option<Regex> {
    if pattern.len() > SUBSCRIBED_TOPIC_REGEX_BYTES_MAX {
        return None;
    }
    Regex::new(&format!("^(?:{pattern})$")).ok()
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment of each member at `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    /// Member holding each partition (assigned or pending revocation).
    pub owners: HashMap<(Uuid, i32), String>,
    /// Subscribed topics as they were when the target was last computed; None when
    /// not known (just loaded), so that the first look only records it.
    pub subscribed_metadata: Option<BTreeMap<String, CatalogTopic>>,
    /// Compiled subscription regexes by pattern.
    pub(crate) regexes: HashMap<String, Regex>,
    /// Under ACLs, each member's principal's DESCRIBE check, from its last
    /// heartbeat: its regex resolves only to topics it may describe, as Kafka
    /// resolves regexes (KAFKA-18813), but per member (not stored; a member not
    /// heard from since a load is unfiltered until its first heartbeat, which
    /// filters before answering).
    pub(crate) describe_checks: HashMap<String, TopicDescribeCheck>,
    /// The topics each member's subscription resolved to when the target was last
    /// computed (not stored): a member whose resolution changed since (its ACLs did)
    /// moves the group epoch.
    pub(crate) resolved_at_target: HashMap<String, BTreeSet<String>>,
}

impl ConsumerGroup {
    /// The Kafka state name: Empty, Assigning (target behind the group epoch),
    /// Reconciling (members not yet at the target) or Stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.group_epoch {
            "Assigning"
        } else if self.members.values().any(|m| {
            m.current.member_epoch != self.assignment_epoch
                || m.current.state != MemberState::Stable
        }) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    fn regex(&mut self, pattern: &str) -> Option<&Regex> {
        if !self.regexes.contains_key(pattern) {
            let compiled = compile_topic_regex(pattern)?;
            self.regexes.insert(pattern.to_string(), compiled);
        }
        self.regexes.get(pattern)
    }

    /// Topic names a member subscribes to that exist now.
    pub fn member_topics(&mut self, member_id: &str, catalog: &TopicCatalog) -> BTreeSet<String> {
        let Some(sub) = self.members.get(member_id).map(|m| m.subscription.clone()) else {
            return BTreeSet::new();
        };
        let mut topics: BTreeSet<String> = sub
            .topic_names
            .iter()
            .filter(|t| catalog.get(t).is_some())
            .cloned()
            .collect();
        if let Some(pattern) = &sub.topic_regex {
            if let Some(re) = self.regex(pattern) {
                let re = re.clone();
                let check = self.describe_checks.get(member_id);
                topics.extend(
                    catalog
                        .iter()
                        .filter(|(name, _)| re.is_match(name.as_str()))
                        .filter(|(name, _)| check.is_none_or(|c| c.allows(name)))
                        .map(|(name, _)| name.clone()),
                );
            }
        }
        topics
    }

    /// Whether the member's subscription resolves to other topics than when the
    /// target was last computed (its principal's ACLs changed). Just after a load
    /// that is not known: then only a target naming a topic the member may no
    /// longer see counts, and the resolution is remembered.
    pub fn resolution_changed(&mut self, member_id: &str, catalog: &TopicCatalog) -> bool {
        let now = self.member_topics(member_id, catalog);
        if let Some(before) = self.resolved_at_target.get(member_id) {
            return *before != now;
        }
        let unseen = self.target.get(member_id).is_some_and(|a| {
            a.keys()
                .filter_map(|id| catalog.name_of(id))
                .any(|name| !now.contains(name))
        });
        if !unseen {
            self.resolved_at_target.insert(member_id.to_string(), now);
        }
        unseen
    }

    /// Every subscribed topic that exists, with its id and partition count.
    pub fn compute_subscribed_metadata(
        &mut self,
        catalog: &TopicCatalog,
    ) -> BTreeMap<String, CatalogTopic> {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        let mut out = BTreeMap::new();
        for id in ids {
            for name in self.member_topics(&id, catalog) {
                if let Some(t) = catalog.get(&name) {
                    out.insert(name, *t);
                }
            }
        }
        out
    }

    /// The assignor most members ask for (ties to the earliest configured), else the
    /// default.
    pub fn assignor(&self, configured: &[ServerAssignor]) -> ServerAssignor {
        let default = configured
            .first()
            .copied()
            .unwrap_or(ServerAssignor::Uniform);
        let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
        for m in self.members.values() {
            let asked = m.subscription.server_assignor.as_deref();
            if let Some(i) = asked.and_then(|a| configured.iter().position(|c| c.name() == a)) {
                *votes.entry(i).or_default() += 1;
            }
        }
        let best = votes.values().copied().max();
        votes
            .iter()
            .find(|(_, n)| Some(**n) == best)
            .map_or(default, |(i, _)| configured[*i])
    }

    /// Recomputes the target assignment at the group epoch. Returns the members whose
    /// target changed.
    pub fn compute_target(
        &mut self,
        catalog: &TopicCatalog,
        assignors: &[ServerAssignor],
    ) -> Vec<String> {
        let metadata = self.compute_subscribed_metadata(catalog);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        let mut specs = BTreeMap::new();
        self.resolved_at_target.clear();
        for id in ids {
            let names = self.member_topics(&id, catalog);
            let topics = names
                .iter()
                .filter_map(|n| catalog.get(n).map(|t| t.id))
                .collect();
            self.resolved_at_target.insert(id.clone(), names);
            let previous = self.target.get(&id).cloned().unwrap_or_default();
            let rack = self
                .members
                .get(&id)
                .and_then(|m| m.subscription.rack_id.clone());
            specs.insert(
                id,
                MemberSpec {
                    topics,
                    previous,
                    rack,
                },
            );
        }
        let partitions: BTreeMap<Uuid, i32> =
            metadata.values().map(|t| (t.id, t.partitions)).collect();
        // Replica racks matter only when some member says where it is.
        let racks: PartitionRacks = if specs.values().any(|s| s.rack.is_some()) {
            metadata
                .values()
                .map(|t| (t.id, catalog.partition_racks(&t.id).to_vec()))
                .filter(|(_, r)| !r.is_empty())
                .collect()
        } else {
            PartitionRacks::new()
        };
        let new_target = self.assignor(assignors).assign(&specs, &partitions, &racks);
        let changed: Vec<String> = new_target
            .iter()
            .filter(|(id, a)| self.target.get(*id) != Some(*a))
            .map(|(id, _)| id.clone())
            .collect();
        self.target = new_target;
        self.assignment_epoch = self.group_epoch;
        self.subscribed_metadata = Some(metadata);
        changed
    }

    /// A copy to roll a change back to, without `owners`: it follows from the
    /// members' assignments (`rebuild_owners`), and with one entry (and one member
    /// id) per partition it was most of what a copy of a big group cost.
    pub(crate) fn rollback_copy(&self) -> ConsumerGroup {
        ConsumerGroup {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            members: self.members.clone(),
            target: self.target.clone(),
            static_members: self.static_members.clone(),
            owners: HashMap::new(),
            subscribed_metadata: self.subscribed_metadata.clone(),
            regexes: self.regexes.clone(),
            describe_checks: self.describe_checks.clone(),
            resolved_at_target: self.resolved_at_target.clone(),
        }
    }

    /// `owners` again from the members' current assignments (assigned or pending
    /// revocation), as `set_current` keeps it.
    pub(crate) fn rebuild_owners(&mut self) {
        self.owners.clear();
        for (id, m) in &self.members {
            for (t, p) in assignment::pairs(&m.current.assigned)
                .chain(assignment::pairs(&m.current.pending_revocation))
            {
                // One owner per partition: reconciliation gives a partition only
                // once its previous owner released it.
                self.owners.insert((t, p), id.clone());
            }
        }
    }

    /// Replaces a member's current assignment, keeping `owners` in step.
    pub fn set_current(&mut self, member_id: &str, next: MemberAssignment) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        for (t, p) in assignment::pairs(&m.current.assigned)
            .chain(assignment::pairs(&m.current.pending_revocation))
        {
            if self.owners.get(&(t, p)).map(String::as_str) == Some(member_id) {
                self.owners.remove(&(t, p));
            }
        }
        for (t, p) in
            assignment::pairs(&next.assigned).chain(assignment::pairs(&next.pending_revocation))
        {
            self.owners.insert((t, p), member_id.to_string());
        }
        m.current = next;
    }

    /// Whether a member other than `member_id` holds the partition.
    pub fn owned_by_other(&self, member_id: &str, topic: &Uuid, partition: i32) -> bool {
        self.owners
            .get(&(*topic, partition))
            .is_some_and(|owner| owner != member_id)
    }

    pub fn add_member(&mut self, member: ConsumerMember) {
        if let Some(instance) = &member.subscription.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        let id = member.id.clone();
        let current = member.current.clone();
        self.members.insert(
            id.clone(),
            ConsumerMember {
                current: MemberAssignment::default(),
                ..member
            },
        );
        self.set_current(&id, current);
    }

    /// Removes a member and frees its partitions.
    pub fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        self.set_current(member_id, MemberAssignment::default());
        let removed = self.members.remove(member_id)?;
        if let Some(instance) = &removed.subscription.instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.target.remove(member_id);
        self.describe_checks.remove(member_id);
        self.resolved_at_target.remove(member_id);
        Some(removed)
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.members
            .values()
            .map(ConsumerMember::next_deadline_ms)
            .min()
    }

    /// Kafka's ConsumerGroup.validateOffsetCommit: an empty group takes commits from
    /// anyone with a negative epoch (admin tools, assign()); otherwise the member must
    /// exist and commit in its current epoch, with OffsetCommit v9 or later.
    ///
    /// Like KIP-1251, a commit sent in the member's previous epoch is taken too when
    /// the member still owns every partition it commits: its epoch moved while the
    /// commit was on its way (every member moves with the group's target), and no
    /// other member can have consumed those partitions since.
    pub fn validate_offset_commit<'a>(
        &self,
        member_id: &str,
        epoch: i32,
        version: i16,
        transactional: bool,
        catalog: &TopicCatalog,
        partitions: impl IntoIterator<Item = (&'a str, i32)>,
    ) -> Option<i16> {
        if epoch < 0 && self.members.is_empty() {
            return None;
        }
        let Some(m) = self.members.get(member_id) else {
            return Some(codes::UNKNOWN_MEMBER_ID);
        };
        if m.is_classic() {
            // A classic member commits with its generation, which is its epoch.
            return (epoch != m.current.member_epoch).then_some(codes::ILLEGAL_GENERATION);
        }
        // TxnOffsetCommit carries the epoch in every version that has members.
        if !transactional && version < OFFSET_COMMIT_MEMBER_EPOCH_VERSION {
            return Some(codes::UNSUPPORTED_VERSION);
        }
        if epoch == m.current.member_epoch {
            return None;
        }
        let still_owned = epoch == m.current.previous_member_epoch
            && partitions.into_iter().all(|(topic, p)| {
                catalog
                    .get(topic)
                    .is_some_and(|t| assignment::contains(&m.current.assigned, &t.id, p))
            });
        (!still_owned).then_some(codes::STALE_MEMBER_EPOCH)
    }

    /// OffsetFetch v9 from a member: it must exist and be at its current epoch
    /// (epoch -1 = not checked, as for admin tools).
    pub fn validate_offset_fetch(&self, member_id: &str, epoch: i32) -> Option<i16> {
        if epoch < 0 {
            return None;
        }
        let Some(m) = self.members.get(member_id) else {
            return Some(codes::UNKNOWN_MEMBER_ID);
        };
        (epoch != m.current.member_epoch).then_some(codes::STALE_MEMBER_EPOCH)
    }

    /// Names of every subscribed topic that exists (for offset expiry).
    pub fn subscribed_topic_names(&self) -> BTreeSet<String> {
        self.subscribed_metadata
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}
