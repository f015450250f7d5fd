//! The controller's decisions as pure functions of the image: replica placement,
//! leader election, and the broker lifecycle (registration, heartbeats, fencing,
//! controlled shutdown). Each returns the records to commit; nothing here does I/O or
//! reads a clock — the time comes in as an argument.

mod acl_changes;
mod alter_partition;
mod alter_partition_wire;
mod assignment;
mod broker_lifecycle;
mod broker_session;
mod config_alteration;
mod config_alteration_wire;
mod draft;
mod election;
mod error;
mod leader_elections;
mod leader_elections_wire;
mod messages;
mod partition_growth;
mod partition_growth_wire;
mod per_partition_results;
mod placement;
mod producer_ids;
mod random;
mod re_registration;
mod reassignment;
mod reassignment_wire;
mod topic_creation;
mod topic_creation_wire;
mod topic_deletion;
mod topic_deletion_wire;
mod topic_partitions;
mod wire_messages;

pub use acl_changes::{create_acls, delete_acls};
pub use alter_partition::{alter_partition, AlterPartitionOutcome, AlterPartitionRequest};
pub use alter_partition_wire::{
    alter_partition_response, AlterPartitionReply, ALTER_PARTITION_VERSION,
};
pub use assignment::{check_manual_replicas, manual_topic_assignment, new_partition_records};
pub use broker_lifecycle::{BrokerLifecycle, LeaderRebalance, LifecycleConfig};
pub use broker_session::{BrokerSession, ShutdownState};
pub use config_alteration::{
    alter_configs, list_op, shows_alteration, ConfigAlteration, ConfigAlterationOutcome,
    ConfigChanges, ConfigOp, ConfigRules, RESOURCE_BROKER, RESOURCE_TOPIC,
};
pub use config_alteration_wire::{
    alter_configs_request, alter_configs_request_to_wire, alter_configs_response, config_outcomes,
    incremental_alter_configs_request, incremental_alter_configs_request_to_wire,
    incremental_alter_configs_response, incremental_config_outcomes, ALTER_CONFIGS_VERSION,
    INCREMENTAL_ALTER_CONFIGS_VERSION,
};
pub use election::{LeaderElection, UNCLEAN_LEADER_ELECTION_CONFIG};
pub use error::ControllerError;
pub use leader_elections::{ElectionKind, ElectionOutcome, ElectionTargets};
pub use leader_elections_wire::{
    elect_leaders_response, election_outcomes, election_request, election_request_to_wire,
    ELECT_LEADERS_VERSION,
};
pub use messages::{HeartbeatReply, HeartbeatRequest, RegistrationReply, RegistrationRequest};
pub use partition_growth::{grow_partitions, PartitionGrowth, PartitionGrowthOutcome};
pub use partition_growth_wire::{
    create_partitions_request, create_partitions_request_to_wire, create_partitions_response,
    partition_growth_outcomes, CREATE_PARTITIONS_VERSION,
};
pub use placement::{
    place_replicas, placement_brokers, start_after, PlacementBroker, PlacementRequest,
    PlacementStart,
};
pub use producer_ids::{allocate_producer_ids, ProducerIdBlock, PRODUCER_ID_BLOCK_SIZE};
pub use random::{RandomSource, SeededRandom};
pub use re_registration::{admit_registration, Admission, LocalBroker};
pub use reassignment::{
    is_reassigning, ongoing_reassignments, OngoingReassignment, ReassignmentOutcome,
    ReassignmentTarget,
};
pub use reassignment_wire::{
    alter_reassignments_request_to_wire, alter_reassignments_response,
    list_reassignments_request_to_wire, list_reassignments_response, ongoing_from_wire,
    reassignment_list_request, reassignment_outcomes, reassignment_request,
    ALTER_REASSIGNMENTS_VERSION, LIST_REASSIGNMENTS_VERSION,
};
pub use topic_creation::{
    create_topics, TopicCreated, TopicCreation, TopicCreationOutcome, TopicCreationRules,
    TOPIC_PARTITIONS_MAX,
};
pub use topic_creation_wire::{
    create_topics_request, create_topics_request_to_wire, create_topics_response,
    topic_creation_outcomes, CREATE_TOPICS_VERSION,
};
pub use topic_deletion::{delete_topics, TopicDeletion, TopicDeletionOutcome};
pub use topic_deletion_wire::{
    delete_topics_request, delete_topics_request_to_wire, delete_topics_response,
    topic_deletion_outcomes, DELETE_TOPICS_VERSION,
};
pub use topic_partitions::{added_partitions, new_topic_partitions, TopicLayout};
pub use wire_messages::{
    decode_body, encode_body, heartbeat_response, refusal, registration_response,
    BROKER_HEARTBEAT_VERSION, BROKER_REGISTRATION_VERSION,
};

#[cfg(test)]
mod acl_changes_tests;
#[cfg(test)]
mod config_alteration_tests;
#[cfg(test)]
mod election_tests;
#[cfg(test)]
mod leader_elections_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod partition_growth_tests;
#[cfg(test)]
mod placement_tests;
#[cfg(test)]
mod reassignment_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod topic_creation_tests;
#[cfg(test)]
mod topic_deletion_tests;
#[cfg(test)]
mod topic_partitions_tests;
