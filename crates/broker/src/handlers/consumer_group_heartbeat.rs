//! ConsumerGroupHeartbeat (KIP-848): handled by the group coordinator state machine.

super::group::group_handler!(ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeat);
