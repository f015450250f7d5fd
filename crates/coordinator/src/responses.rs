//! Response builders that respect each API version's field rules (the message crate
//! refuses to encode a non-default value in a field the version lacks).

use bytes::Bytes;
use moldau_protocol::kafka::messages::join_group_response::JoinGroupResponseMember;
use moldau_protocol::kafka::messages::{HeartbeatResponse, JoinGroupResponse, SyncGroupResponse};
use moldau_protocol::kafka::protocol::StrBytes;

use crate::request::GroupResponse;

/// JoinGroup v7 made protocol names nullable; older versions get "" for none.
const JOIN_NULLABLE_PROTOCOL_VERSION: i16 = 7;
/// JoinGroup v9 added `skip_assignment`.
const JOIN_SKIP_ASSIGNMENT_VERSION: i16 = 9;

pub(crate) fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) fn opt_str(s: Option<&str>) -> Option<StrBytes> {
    s.map(str)
}

/// A successful (or error-carrying) JoinGroup answer with every field given.
#[derive(Debug, Clone, Default)]
pub(crate) struct JoinAnswer {
    pub error: i16,
    pub member_id: String,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub members: Vec<JoinGroupResponseMember>,
    pub skip_assignment: bool,
}

impl JoinAnswer {
    /// Kafka's JoinGroupResult(memberId, error): generation -1, no leader.
    pub fn error(member_id: &str, error: i16) -> Self {
        JoinAnswer {
            error,
            member_id: member_id.to_string(),
            generation: -1,
            ..JoinAnswer::default()
        }
    }

    pub fn into_response(self, version: i16) -> GroupResponse {
        let protocol_name = match (
            self.protocol_name,
            version >= JOIN_NULLABLE_PROTOCOL_VERSION,
        ) {
            (Some(name), _) => Some(str(&name)),
            (None, true) => None,
            (None, false) => Some(StrBytes::default()),
        };
        GroupResponse::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(self.error)
                .with_generation_id(self.generation)
                .with_protocol_type(opt_str(self.protocol_type.as_deref()))
                .with_protocol_name(protocol_name)
                .with_leader(str(&self.leader))
                .with_skip_assignment(
                    self.skip_assignment && version >= JOIN_SKIP_ASSIGNMENT_VERSION,
                )
                .with_member_id(str(&self.member_id))
                .with_members(self.members),
        )
    }
}

pub(crate) fn sync_response(
    error: i16,
    protocol_type: Option<&str>,
    protocol_name: Option<&str>,
    assignment: Bytes,
) -> GroupResponse {
    GroupResponse::SyncGroup(
        SyncGroupResponse::default()
            .with_error_code(error)
            .with_protocol_type(opt_str(protocol_type))
            .with_protocol_name(opt_str(protocol_name))
            .with_assignment(assignment),
    )
}

pub(crate) fn sync_error(error: i16) -> GroupResponse {
    sync_response(error, None, None, Bytes::new())
}

pub(crate) fn heartbeat_response(error: i16) -> GroupResponse {
    GroupResponse::Heartbeat(HeartbeatResponse::default().with_error_code(error))
}
