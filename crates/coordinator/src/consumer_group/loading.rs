//! Rebuilding a consumer group from its `__consumer_offsets` records (later records
//! win, tombstones delete).

use std::collections::BTreeMap;

use super::assignment::Assignment;
use super::group::ConsumerGroup;
use super::member::{
    ClassicMemberMetadata, ConsumerMember, MemberAssignment, MemberState, MemberSubscription,
};
use super::records::{
    decode_epoch_value, decode_target_member_value, ConsumerRecordKey, CurrentAssignmentValue,
    MemberMetadataValue,
};
use crate::wire::RecordError;

/// A consumer group's records so far.
#[derive(Debug, Default)]
pub(crate) struct LoadedConsumerGroup {
    /// None until a ConsumerGroupMetadata record, and again after its tombstone.
    epoch: Option<i32>,
    assignment_epoch: i32,
    members: BTreeMap<String, MemberMetadataValue>,
    targets: BTreeMap<String, Assignment>,
    current: BTreeMap<String, CurrentAssignmentValue>,
}

impl LoadedConsumerGroup {
    /// Applies one record (`value` None = tombstone).
    pub fn apply(
        &mut self,
        key: ConsumerRecordKey,
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        match (key, value) {
            (ConsumerRecordKey::GroupMetadata { .. }, v) => {
                self.epoch = v.map(decode_epoch_value).transpose()?;
            }
            (ConsumerRecordKey::TargetAssignmentMetadata { .. }, v) => {
                self.assignment_epoch = v.map(decode_epoch_value).transpose()?.unwrap_or(0);
            }
            (ConsumerRecordKey::MemberMetadata { member, .. }, None) => {
                self.members.remove(&member);
            }
            (ConsumerRecordKey::MemberMetadata { member, .. }, Some(v)) => {
                self.members.insert(member, MemberMetadataValue::decode(v)?);
            }
            (ConsumerRecordKey::TargetAssignmentMember { member, .. }, None) => {
                self.targets.remove(&member);
            }
            (ConsumerRecordKey::TargetAssignmentMember { member, .. }, Some(v)) => {
                self.targets.insert(member, decode_target_member_value(v)?);
            }
            (ConsumerRecordKey::CurrentMemberAssignment { member, .. }, None) => {
                self.current.remove(&member);
            }
            (ConsumerRecordKey::CurrentMemberAssignment { member, .. }, Some(v)) => {
                self.current
                    .insert(member, CurrentAssignmentValue::decode(v)?);
            }
        }
        Ok(())
    }

    /// The group as last written; None when it was deleted (or never created).
    /// Sessions restart at `now_ms`.
    pub fn build(self, now_ms: i64, session_timeout_ms: i32) -> Option<ConsumerGroup> {
        let epoch = self.epoch?;
        let mut cg = ConsumerGroup {
            group_epoch: epoch,
            assignment_epoch: self.assignment_epoch,
            ..ConsumerGroup::default()
        };
        for (id, meta) in self.members {
            let current = self
                .current
                .get(&id)
                .map(|c| MemberAssignment {
                    member_epoch: c.member_epoch,
                    previous_member_epoch: c.previous_member_epoch,
                    state: MemberState::from_code(c.state),
                    assigned: c.assigned.clone(),
                    pending_revocation: c.pending_revocation.clone(),
                })
                .unwrap_or_default();
            // A classic member keeps its own session timeout.
            let member_session_ms = meta
                .classic_member_metadata
                .as_ref()
                .map_or(session_timeout_ms, |c| c.session_timeout_ms);
            let session_deadline_ms = now_ms.saturating_add(i64::from(member_session_ms));
            let revocation_deadline_ms = (current.state == MemberState::UnrevokedPartitions)
                .then(|| now_ms.saturating_add(i64::from(meta.rebalance_timeout_ms.max(0))));
            cg.add_member(ConsumerMember {
                id: id.clone(),
                subscription: MemberSubscription {
                    instance_id: meta.instance_id,
                    rack_id: meta.rack_id,
                    client_id: meta.client_id,
                    client_host: meta.client_host,
                    topic_names: meta.subscribed_topic_names,
                    topic_regex: meta.subscribed_topic_regex,
                    server_assignor: meta.server_assignor,
                    rebalance_timeout_ms: meta.rebalance_timeout_ms,
                    classic: meta.classic_member_metadata.map(|c| ClassicMemberMetadata {
                        session_timeout_ms: c.session_timeout_ms,
                        protocols: c.supported_protocols,
                    }),
                },
                current,
                session_deadline_ms,
                revocation_deadline_ms,
            });
            if let Some(t) = self.targets.get(&id) {
                cg.target.insert(id, t.clone());
            }
        }
        Some(cg)
    }
}
