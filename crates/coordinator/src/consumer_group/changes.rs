//! The records that say what changed in a consumer group, built from its state.

use bytes::Bytes;

use super::assignment::Assignment;
use super::group::ConsumerGroup;
use super::member::ConsumerMember;
use super::records::{
    encode_epoch_value, encode_target_member_value, ClassicMemberMetadataValue, ConsumerRecordKey,
    CurrentAssignmentValue, MemberMetadataValue,
};
use crate::records::{GroupMetadataKey, GroupMetadataValue};
use crate::wire::RecordError;

/// Records to append, in order.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub records: Vec<(Bytes, Option<Bytes>)>,
}

impl Changes {
    fn push(&mut self, key: ConsumerRecordKey, value: Result<Option<Bytes>, RecordError>) {
        // Every string was checked against the record limits when it came in.
        match (key.encode(), value) {
            (Ok(k), Ok(v)) => self.records.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(
                    group = key.group(),
                    "consumer group record not encodable: {e}"
                );
                debug_assert!(false, "consumer group record not encodable: {e}");
            }
        }
    }

    pub fn group_epoch(&mut self, group: &str, epoch: i32) {
        let key = ConsumerRecordKey::GroupMetadata {
            group: group.into(),
        };
        self.push(key, Ok(Some(encode_epoch_value(epoch))));
    }

    pub fn assignment_epoch(&mut self, group: &str, epoch: i32) {
        let key = ConsumerRecordKey::TargetAssignmentMetadata {
            group: group.into(),
        };
        self.push(key, Ok(Some(encode_epoch_value(epoch))));
    }

    pub fn member_metadata(&mut self, group: &str, m: &ConsumerMember) {
        let s = &m.subscription;
        let value = MemberMetadataValue {
            instance_id: s.instance_id.clone(),
            rack_id: s.rack_id.clone(),
            client_id: s.client_id.clone(),
            client_host: s.client_host.clone(),
            subscribed_topic_names: s.topic_names.clone(),
            subscribed_topic_regex: s.topic_regex.clone(),
            rebalance_timeout_ms: s.rebalance_timeout_ms,
            server_assignor: s.server_assignor.clone(),
            classic_member_metadata: s.classic.as_ref().map(|c| ClassicMemberMetadataValue {
                session_timeout_ms: c.session_timeout_ms,
                supported_protocols: c.protocols.clone(),
            }),
        };
        let key = ConsumerRecordKey::MemberMetadata {
            group: group.into(),
            member: m.id.clone(),
        };
        self.push(key, value.encode().map(Some));
    }

    pub fn current_assignment(&mut self, group: &str, m: &ConsumerMember) {
        let value = CurrentAssignmentValue {
            member_epoch: m.current.member_epoch,
            previous_member_epoch: m.current.previous_member_epoch,
            state: m.current.state.code(),
            assigned: m.current.assigned.clone(),
            pending_revocation: m.current.pending_revocation.clone(),
        };
        let key = ConsumerRecordKey::CurrentMemberAssignment {
            group: group.into(),
            member: m.id.clone(),
        };
        self.push(key, value.encode().map(Some));
    }

    pub fn target_member(&mut self, group: &str, member: &str, a: &Assignment) {
        let key = ConsumerRecordKey::TargetAssignmentMember {
            group: group.into(),
            member: member.into(),
        };
        self.push(key, encode_target_member_value(a).map(Some));
    }

    /// A member is gone: its records are deleted, current assignment first (Kafka's
    /// order, so that a replay never sees an assignment without its member).
    pub fn member_removed(&mut self, group: &str, member: &str) {
        let (g, m) = (group.to_string(), member.to_string());
        self.push(
            ConsumerRecordKey::CurrentMemberAssignment {
                group: g.clone(),
                member: m.clone(),
            },
            Ok(None),
        );
        self.push(
            ConsumerRecordKey::TargetAssignmentMember {
                group: g.clone(),
                member: m.clone(),
            },
            Ok(None),
        );
        self.push(
            ConsumerRecordKey::MemberMetadata {
                group: g,
                member: m,
            },
            Ok(None),
        );
    }

    /// The whole group is gone (deleted while empty).
    pub fn group_removed(&mut self, group: &str) {
        self.push(
            ConsumerRecordKey::TargetAssignmentMetadata {
                group: group.into(),
            },
            Ok(None),
        );
        self.push(
            ConsumerRecordKey::GroupMetadata {
                group: group.into(),
            },
            Ok(None),
        );
    }

    /// The classic group's GroupMetadata record: `None` deletes it (upgrade), a value
    /// writes the classic group (downgrade).
    pub fn classic_group(&mut self, group: &str, value: Option<&GroupMetadataValue>) {
        let key = GroupMetadataKey {
            group: group.into(),
        }
        .encode();
        let value = value.map(GroupMetadataValue::encode).transpose();
        match (key, value) {
            (Ok(k), Ok(v)) => self.records.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(group, "classic group record not encodable: {e}");
                debug_assert!(false, "classic group record not encodable: {e}");
            }
        }
    }

    /// Every record of the consumer group as it stands (Kafka's
    /// createConsumerGroupRecords, written when a classic group is upgraded).
    pub fn whole_group(&mut self, group: &str, cg: &ConsumerGroup) {
        for m in cg.members.values() {
            self.member_metadata(group, m);
        }
        self.group_epoch(group, cg.group_epoch);
        for (id, a) in &cg.target {
            self.target_member(group, id, a);
        }
        self.assignment_epoch(group, cg.assignment_epoch);
        for m in cg.members.values() {
            self.current_assignment(group, m);
        }
    }

    /// Tombstones for every record of the consumer group (Kafka's
    /// createGroupTombstoneRecords, written when it is downgraded).
    pub fn whole_group_removed(&mut self, group: &str, cg: &ConsumerGroup) {
        for id in cg.members.keys() {
            self.member_removed(group, id);
        }
        self.group_removed(group);
    }

    /// After the group epoch moved: the new epoch, and the new target assignment if it
    /// was recomputed (`changed` members).
    pub fn target(&mut self, group: &str, cg: &ConsumerGroup, changed: &[String]) {
        for id in changed {
            if let Some(a) = cg.target.get(id) {
                self.target_member(group, id, a);
            }
        }
        self.assignment_epoch(group, cg.assignment_epoch);
    }
}
