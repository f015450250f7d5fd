//! OffsetDelete: handled by the group coordinator state machine.

super::group::group_handler!(OffsetDeleteRequest, OffsetDelete);
