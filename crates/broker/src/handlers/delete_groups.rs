//! DeleteGroups: handled by the group coordinator state machine.

super::group::group_handler!(DeleteGroupsRequest, DeleteGroups);
