//! ListGroups: handled by the group coordinator state machine.

super::group::group_handler!(ListGroupsRequest, ListGroups);
