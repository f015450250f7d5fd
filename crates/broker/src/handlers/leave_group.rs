//! LeaveGroup: handled by the group coordinator state machine.

super::group::group_handler!(LeaveGroupRequest, LeaveGroup);
