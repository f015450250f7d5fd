//! A consumer's place in its group, as a transactional producer's
//! `send_offsets_to_transaction` carries it to the group coordinator (which refuses
//! offsets of a member or generation that is no longer current).

/// Group id, member id, generation and static instance id of a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The group's generation this member joined, -1 when not joined.
    pub generation_id: i32,
    /// The member id, empty when not joined.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// The metadata of a group the caller manages itself (no member, generation -1):
    /// the group coordinator then checks no membership.
    pub fn new(group_id: &str) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.to_string(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}
