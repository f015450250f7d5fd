//! Kafka error codes the coordinator answers with (numeric, as on the wire).

use moldau_protocol::kafka::error::ResponseError as E;

pub const NONE: i16 = 0;
pub const UNKNOWN_SERVER_ERROR: i16 = E::UnknownServerError.code();
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = E::UnknownTopicOrPartition.code();
pub const INVALID_FETCH_SIZE: i16 = E::InvalidFetchSize.code();
pub const NOT_LEADER_OR_FOLLOWER: i16 = E::NotLeaderOrFollower.code();
pub const REQUEST_TIMED_OUT: i16 = E::RequestTimedOut.code();
pub const MESSAGE_TOO_LARGE: i16 = E::MessageTooLarge.code();
pub const OFFSET_METADATA_TOO_LARGE: i16 = E::OffsetMetadataTooLarge.code();
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = E::CoordinatorLoadInProgress.code();
pub const COORDINATOR_NOT_AVAILABLE: i16 = E::CoordinatorNotAvailable.code();
pub const NOT_COORDINATOR: i16 = E::NotCoordinator.code();
pub const RECORD_LIST_TOO_LARGE: i16 = E::RecordListTooLarge.code();
pub const NOT_ENOUGH_REPLICAS: i16 = E::NotEnoughReplicas.code();
pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = E::NotEnoughReplicasAfterAppend.code();
pub const ILLEGAL_GENERATION: i16 = E::IllegalGeneration.code();
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = E::InconsistentGroupProtocol.code();
pub const INVALID_GROUP_ID: i16 = E::InvalidGroupId.code();
pub const UNKNOWN_MEMBER_ID: i16 = E::UnknownMemberId.code();
pub const INVALID_SESSION_TIMEOUT: i16 = E::InvalidSessionTimeout.code();
pub const REBALANCE_IN_PROGRESS: i16 = E::RebalanceInProgress.code();
pub const INVALID_COMMIT_OFFSET_SIZE: i16 = E::InvalidCommitOffsetSize.code();
pub const KAFKA_STORAGE_ERROR: i16 = E::KafkaStorageError.code();
pub const NON_EMPTY_GROUP: i16 = E::NonEmptyGroup.code();
pub const GROUP_ID_NOT_FOUND: i16 = E::GroupIdNotFound.code();
pub const MEMBER_ID_REQUIRED: i16 = E::MemberIdRequired.code();
pub const GROUP_MAX_SIZE_REACHED: i16 = E::GroupMaxSizeReached.code();
pub const FENCED_INSTANCE_ID: i16 = E::FencedInstanceId.code();
pub const UNSUPPORTED_VERSION: i16 = E::UnsupportedVersion.code();
pub const INVALID_REQUEST: i16 = E::InvalidRequest.code();
pub const FENCED_MEMBER_EPOCH: i16 = E::FencedMemberEpoch.code();
pub const UNRELEASED_INSTANCE_ID: i16 = E::UnreleasedInstanceId.code();
pub const UNSUPPORTED_ASSIGNOR: i16 = E::UnsupportedAssignor.code();
pub const STALE_MEMBER_EPOCH: i16 = E::StaleMemberEpoch.code();
pub const INVALID_REGULAR_EXPRESSION: i16 = E::InvalidRegularExpression.code();
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = E::GroupSubscribedToTopic.code();
pub const UNSTABLE_OFFSET_COMMIT: i16 = E::UnstableOffsetCommit.code();

/// How Kafka reports a failed `__consumer_offsets` append to a group request
/// (GroupMetadataManager's storeGroup error mapping).
pub fn store_group_error(append_error: i16) -> i16 {
    match append_error {
        UNKNOWN_TOPIC_OR_PARTITION
        | NOT_ENOUGH_REPLICAS
        | NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | REQUEST_TIMED_OUT => COORDINATOR_NOT_AVAILABLE,
        NOT_LEADER_OR_FOLLOWER | KAFKA_STORAGE_ERROR => NOT_COORDINATOR,
        MESSAGE_TOO_LARGE | RECORD_LIST_TOO_LARGE | INVALID_FETCH_SIZE => UNKNOWN_SERVER_ERROR,
        other => other,
    }
}

/// The same mapping for OffsetCommit (too-large batches become INVALID_COMMIT_OFFSET_SIZE).
pub fn store_offsets_error(append_error: i16) -> i16 {
    match append_error {
        MESSAGE_TOO_LARGE | RECORD_LIST_TOO_LARGE | INVALID_FETCH_SIZE => {
            INVALID_COMMIT_OFFSET_SIZE
        }
        other => store_group_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas_numbers() {
        assert_eq!(NOT_COORDINATOR, 16);
        assert_eq!(COORDINATOR_LOAD_IN_PROGRESS, 14);
        assert_eq!(UNKNOWN_MEMBER_ID, 25);
        assert_eq!(MEMBER_ID_REQUIRED, 79);
        assert_eq!(FENCED_INSTANCE_ID, 82);
        assert_eq!(GROUP_SUBSCRIBED_TO_TOPIC, 86);
        assert_eq!(store_group_error(NOT_LEADER_OR_FOLLOWER), NOT_COORDINATOR);
        assert_eq!(
            store_group_error(REQUEST_TIMED_OUT),
            COORDINATOR_NOT_AVAILABLE
        );
        assert_eq!(
            store_offsets_error(MESSAGE_TOO_LARGE),
            INVALID_COMMIT_OFFSET_SIZE
        );
        assert_eq!(store_group_error(MESSAGE_TOO_LARGE), UNKNOWN_SERVER_ERROR);
    }
}
