//! ConsumerGroupDescribe (KIP-848): answered by the group coordinator state machine;
//! the broker checks DESCRIBE on each group and adds what the caller may do with each,
//! as for DescribeGroups (group_access.rs), and, as Kafka does, refuses a group with
//! TOPIC_AUTHORIZATION_FAILED when its assignments name a topic the caller may not
//! DESCRIBE.

super::group::group_handler!(ConsumerGroupDescribeRequest, ConsumerGroupDescribe);
