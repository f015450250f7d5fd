//! DescribeGroups: answered by the group coordinator state machine; the broker checks
//! DESCRIBE on each group and adds what the caller may do with each (KIP-430), as
//! Kafka's API layer does (group_access.rs).

super::group::group_handler!(DescribeGroupsRequest, DescribeGroups);
