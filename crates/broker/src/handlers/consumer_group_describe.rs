//! ConsumerGroupDescribe (KIP-848): answered by the group coordinator state machine;
//! the broker checks DESCRIBE on each group and adds what the caller may do with each,
//! as for DescribeGroups (group_access.rs).

super::group::group_handler!(ConsumerGroupDescribeRequest, ConsumerGroupDescribe);
