//! The narrow service through which a broker changes metadata: records go to the
//! active controller, here when this node leads the quorum, else forwarded over the
//! controller listener. The answer is the committed entry's offset, or why it was
//! not committed. (Forwarding whole admin requests, as Kafka brokers do, can later
//! sit behind this same service.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moldau_metadata::raft::{MetadataApplied, MetadataCommand, NodeId};
use moldau_metadata::MetadataRecord;
use moldau_protocol::ResponseError;

use crate::acl_changes::{
    decide_create_acls, decide_delete_acls, CREATE_ACLS_VERSION, DELETE_ACLS_VERSION,
};
use crate::error::BrokerError;
use crate::metadata_quorum::{LifecycleAnswer, MetadataQuorum, QuorumError};
use crate::raft_transport::{
    forward_controller_write, forward_lifecycle_call, ControllerWriteError, RaftRequest,
    RaftTransportError,
};
use moldau_metadata::controller::{
    alter_configs_request_to_wire, config_outcomes, delete_topics_request_to_wire,
    incremental_alter_configs_request_to_wire, incremental_config_outcomes,
    topic_deletion_outcomes, ConfigAlteration, ConfigAlterationOutcome, ConfigChanges,
    TopicDeletion, TopicDeletionOutcome, ALTER_CONFIGS_VERSION, DELETE_TOPICS_VERSION,
    INCREMENTAL_ALTER_CONFIGS_VERSION,
};
use moldau_metadata::controller::{
    alter_reassignments_request_to_wire, list_reassignments_request_to_wire, ongoing_from_wire,
    reassignment_outcomes, OngoingReassignment, ReassignmentOutcome, ReassignmentTarget,
    ALTER_REASSIGNMENTS_VERSION, LIST_REASSIGNMENTS_VERSION,
};
use moldau_metadata::controller::{
    create_partitions_request_to_wire, partition_growth_outcomes, PartitionGrowth,
    PartitionGrowthOutcome, CREATE_PARTITIONS_VERSION,
};
use moldau_metadata::controller::{
    create_topics_request_to_wire, topic_creation_outcomes, TopicCreation, TopicCreationOutcome,
    CREATE_TOPICS_VERSION,
};
use moldau_metadata::controller::{
    decode_body, election_outcomes, election_request_to_wire, encode_body, refusal,
    AlterPartitionReply, AlterPartitionRequest, ControllerError, ElectionKind, ElectionOutcome,
    ElectionTargets, HeartbeatReply, HeartbeatRequest, RegistrationReply, RegistrationRequest,
    ALTER_PARTITION_VERSION, BROKER_HEARTBEAT_VERSION, BROKER_REGISTRATION_VERSION,
    ELECT_LEADERS_VERSION,
};
use moldau_protocol::kafka::messages::{
    AlterConfigsResponse, DeleteTopicsResponse, IncrementalAlterConfigsResponse,
};
use moldau_protocol::kafka::messages::{
    AlterPartitionReassignmentsResponse, CreatePartitionsResponse, CreateTopicsResponse,
    ListPartitionReassignmentsResponse,
};
use moldau_protocol::kafka::messages::{
    AlterPartitionResponse, BrokerHeartbeatResponse, BrokerRegistrationResponse,
    ElectLeadersResponse,
};
use moldau_protocol::kafka::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
};

/// Pause between looks for a leader while there is none (an election is running).
const LEADER_POLL_INTERVAL: Duration = Duration::from_millis(50);

pub struct ControllerClient {
    quorum: Arc<MetadataQuorum>,
    /// Each voter's controller listener, to forward to the leader.
    voters: BTreeMap<NodeId, String>,
    /// The longest a write waits, elections included.
    write_timeout: Duration,
}

impl ControllerClient {
    pub fn new(quorum: Arc<MetadataQuorum>, voters: BTreeMap<NodeId, String>) -> Self {
        let write_timeout = quorum.write_timeout();
        ControllerClient {
            quorum,
            voters,
            write_timeout,
        }
    }

    /// Commits `records` as one entry through the active controller and returns
    /// where it landed. Records refused when the entry is applied come back as
    /// the image's error (e.g. a topic created twice: TOPIC_ALREADY_EXISTS).
    pub async fn write(&self, records: &[MetadataRecord]) -> Result<MetadataApplied, BrokerError> {
        let applied = self.commit(records).await?;
        match applied.rejected {
            Some(e) => Err(BrokerError::Metadata(e)),
            None => Ok(applied),
        }
    }

    async fn commit(&self, records: &[MetadataRecord]) -> Result<MetadataApplied, BrokerError> {
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        let encoded = MetadataCommand::from_records(records)
            .map_err(BrokerError::Metadata)?
            .encoded()
            .to_vec();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(no_leader(self.write_timeout));
            }
            let leader = self.quorum.leader_id();
            if leader == Some(self.quorum.node_id()) {
                match self.quorum.write(records).await {
                    Ok(applied) => return Ok(applied),
                    // Lost the leadership before the entry was accepted: look again.
                    Err(QuorumError::NotLeader { .. }) => {}
                    Err(QuorumError::Timeout(t)) => return Err(no_majority(t)),
                    Err(e) => return Err(not_written(e.to_string())),
                }
            } else if let Some(addr) = leader.and_then(|l| self.voters.get(&l)) {
                let (channel, cluster) = (self.quorum.channel(), self.quorum.cluster_id_check());
                match forward_controller_write(channel, addr, cluster, encoded.clone(), left).await
                {
                    Ok(Ok(applied)) => return Ok(applied),
                    Ok(Err(ControllerWriteError::NotLeader { .. })) => {}
                    Ok(Err(ControllerWriteError::Timeout(_))) => {
                        return Err(no_majority(self.write_timeout))
                    }
                    Ok(Err(ControllerWriteError::Failed(e))) => return Err(not_written(e)),
                    Err(e @ RaftTransportError::InconsistentClusterId { .. }) => {
                        return Err(BrokerError::api(
                            ResponseError::InconsistentClusterId,
                            e.to_string(),
                        ))
                    }
                    // Not delivered (connection refused, or no answer in time): the
                    // leader may be gone; an answer lost after a commit is a timeout,
                    // as a Kafka request's would be.
                    Err(e) if is_connect_failure(&e) => {}
                    Err(_) => return Err(no_majority(self.write_timeout)),
                }
            }
            tokio::time::sleep(LEADER_POLL_INTERVAL.min(left)).await;
        }
    }
}

impl ControllerClient {
    /// Registers this broker with the active controller (BrokerRegistration): the
    /// controller's decision, or an error when no controller decided in time.
    pub async fn register(
        &self,
        request: &RegistrationRequest,
    ) -> Result<Result<RegistrationReply, ControllerError>, BrokerError> {
        let body = encode_body(&request.to_wire(), BROKER_REGISTRATION_VERSION)
            .map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || local.register(request),
            || RaftRequest::BrokerRegistration(body.clone()),
            |answer| {
                decode_body::<BrokerRegistrationResponse>(answer, BROKER_REGISTRATION_VERSION)
                    .map(|r| RegistrationReply::from_wire(&r))
            },
        )
        .await
    }

    /// Sends a heartbeat to the active controller (BrokerHeartbeat).
    pub async fn heartbeat(
        &self,
        request: &HeartbeatRequest,
    ) -> Result<Result<HeartbeatReply, ControllerError>, BrokerError> {
        let body = encode_body(&request.to_wire(), BROKER_HEARTBEAT_VERSION)
            .map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || local.heartbeat(request),
            || RaftRequest::BrokerHeartbeat(body.clone()),
            |answer| {
                decode_body::<BrokerHeartbeatResponse>(answer, BROKER_HEARTBEAT_VERSION)
                    .map(|r| HeartbeatReply::from_wire(&r))
            },
        )
        .await
    }

    /// Asks the active controller to change a partition's ISR (AlterPartition).
    pub async fn alter_partition(
        &self,
        request: &AlterPartitionRequest,
    ) -> Result<Result<AlterPartitionReply, ControllerError>, BrokerError> {
        let body = encode_body(&request.to_wire(), ALTER_PARTITION_VERSION)
            .map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || local.alter_partition(request),
            || RaftRequest::AlterPartition(body.clone()),
            |answer| {
                decode_body::<AlterPartitionResponse>(answer, ALTER_PARTITION_VERSION)
                    .map(|r| AlterPartitionReply::from_wire(&r))
            },
        )
        .await
    }

    /// Asks the active controller to elect leaders (ElectLeaders).
    pub async fn elect_leaders(
        &self,
        kind: ElectionKind,
        targets: &ElectionTargets,
    ) -> Result<Result<Vec<ElectionOutcome>, ControllerError>, BrokerError> {
        let wire = election_request_to_wire(kind, targets, 0);
        let body = encode_body(&wire, ELECT_LEADERS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || local.elect_leaders(kind, targets),
            || RaftRequest::ElectLeaders(body.clone()),
            |answer| {
                let response: ElectLeadersResponse = decode_body(answer, ELECT_LEADERS_VERSION)?;
                Ok(match refusal(response.error_code, "leader election") {
                    Some(refused) => Err(refused),
                    None => Ok(election_outcomes(&response)),
                })
            },
        )
        .await
    }

    /// Asks the active controller to start, or cancel, partition reassignments
    /// (AlterPartitionReassignments).
    pub async fn alter_reassignments(
        &self,
        targets: &[ReassignmentTarget],
        allow_rf_change: bool,
    ) -> Result<Result<Vec<ReassignmentOutcome>, ControllerError>, BrokerError> {
        let wire = alter_reassignments_request_to_wire(targets, allow_rf_change);
        let body =
            encode_body(&wire, ALTER_REASSIGNMENTS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || local.alter_reassignments(targets, allow_rf_change),
            || RaftRequest::AlterReassignments(body.clone()),
            |answer| {
                let response: AlterPartitionReassignmentsResponse =
                    decode_body(answer, ALTER_REASSIGNMENTS_VERSION)?;
                Ok(
                    match refusal(response.error_code, "partition reassignment") {
                        Some(refused) => Err(refused),
                        None => Ok(reassignment_outcomes(&response)),
                    },
                )
            },
        )
        .await
    }

    /// Asks the active controller which partitions are being reassigned
    /// (ListPartitionReassignments); `targets` `None` is all of them.
    pub async fn list_reassignments(
        &self,
        targets: &ElectionTargets,
    ) -> Result<Result<Vec<OngoingReassignment>, ControllerError>, BrokerError> {
        let wire = list_reassignments_request_to_wire(targets);
        let body =
            encode_body(&wire, LIST_REASSIGNMENTS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || local.list_reassignments(targets),
            || RaftRequest::ListReassignments(body.clone()),
            |answer| {
                let response: ListPartitionReassignmentsResponse =
                    decode_body(answer, LIST_REASSIGNMENTS_VERSION)?;
                Ok(match refusal(response.error_code, "reassignment list") {
                    Some(refused) => Err(refused),
                    None => Ok(ongoing_from_wire(&response)),
                })
            },
        )
        .await
    }

    /// Asks the active controller to create `topics` (CreateTopics): each topic's
    /// outcome in the order asked, decided and committed there.
    pub async fn create_topics(
        &self,
        topics: &[TopicCreation],
        validate_only: bool,
    ) -> Result<Result<Vec<TopicCreationOutcome>, ControllerError>, BrokerError> {
        let wire = create_topics_request_to_wire(topics, validate_only);
        let body = encode_body(&wire, CREATE_TOPICS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        let decided = self
            .lifecycle_call(
                || local.create_topics(topics, validate_only),
                || RaftRequest::CreateTopics(body.clone()),
                |answer| {
                    let response: CreateTopicsResponse =
                        decode_body(answer, CREATE_TOPICS_VERSION)?;
                    Ok(Ok(topic_creation_outcomes(&response)))
                },
            )
            .await?;
        if let Ok(outcomes) = &decided {
            let answered: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
            let asked: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
            if answered != asked {
                return Err(not_written(format!(
                    "the controller answered for topics {answered:?}, asked {asked:?}"
                )));
            }
        }
        Ok(decided)
    }

    /// Asks the active controller to grow topics (CreatePartitions): each topic's
    /// outcome in the order asked, decided and committed there.
    pub async fn create_partitions(
        &self,
        growths: &[PartitionGrowth],
        validate_only: bool,
    ) -> Result<Result<Vec<PartitionGrowthOutcome>, ControllerError>, BrokerError> {
        let wire = create_partitions_request_to_wire(growths, validate_only);
        let body =
            encode_body(&wire, CREATE_PARTITIONS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        let decided = self
            .lifecycle_call(
                || local.create_partitions(growths, validate_only),
                || RaftRequest::CreatePartitions(body.clone()),
                |answer| {
                    let response: CreatePartitionsResponse =
                        decode_body(answer, CREATE_PARTITIONS_VERSION)?;
                    Ok(Ok(partition_growth_outcomes(&response)))
                },
            )
            .await?;
        one_outcome_each(decided, growths.len(), "topics")
    }

    /// Asks the active controller to delete topics (DeleteTopics): each topic's
    /// outcome in the order asked, decided and committed there.
    pub async fn delete_topics(
        &self,
        deletions: &[TopicDeletion],
    ) -> Result<Result<Vec<TopicDeletionOutcome>, ControllerError>, BrokerError> {
        let wire = delete_topics_request_to_wire(deletions);
        let body = encode_body(&wire, DELETE_TOPICS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        let decided = self
            .lifecycle_call(
                || local.delete_topics(deletions),
                || RaftRequest::DeleteTopics(body.clone()),
                |answer| {
                    let response: DeleteTopicsResponse =
                        decode_body(answer, DELETE_TOPICS_VERSION)?;
                    Ok(Ok(topic_deletion_outcomes(&response)))
                },
            )
            .await?;
        one_outcome_each(decided, deletions.len(), "topics")
    }

    /// Asks the active controller to create ACLs (CreateAcls, authorized here): the
    /// response it answered once committed.
    pub async fn create_acls(
        &self,
        request: &CreateAclsRequest,
    ) -> Result<Result<CreateAclsResponse, ControllerError>, BrokerError> {
        let body = encode_body(request, CREATE_ACLS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || decide_create_acls(local, request),
            || RaftRequest::CreateAcls(body.clone()),
            |answer| Ok(Ok(decode_body(answer, CREATE_ACLS_VERSION)?)),
        )
        .await
    }

    /// Asks the active controller to delete ACLs (DeleteAcls, authorized here),
    /// matched on its image: the response it answered once committed.
    pub async fn delete_acls(
        &self,
        request: &DeleteAclsRequest,
    ) -> Result<Result<DeleteAclsResponse, ControllerError>, BrokerError> {
        let body = encode_body(request, DELETE_ACLS_VERSION).map_err(|e| not_written(e.message))?;
        let local = self.quorum.lifecycle();
        self.lifecycle_call(
            || decide_delete_acls(local, request),
            || RaftRequest::DeleteAcls(body.clone()),
            |answer| Ok(Ok(decode_body(answer, DELETE_ACLS_VERSION)?)),
        )
        .await
    }

    /// Asks the active controller to alter configs: IncrementalAlterConfigs for
    /// incremental changes, AlterConfigs for replacements (each alteration is sent
    /// the way it was asked); each resource's outcome in the order asked.
    pub async fn alter_configs(
        &self,
        alterations: &[ConfigAlteration],
        validate_only: bool,
    ) -> Result<Result<Vec<ConfigAlterationOutcome>, ControllerError>, BrokerError> {
        let replace = alterations
            .iter()
            .any(|a| matches!(a.changes, ConfigChanges::Replace(_)));
        assert!(
            !replace
                || alterations
                    .iter()
                    .all(|a| matches!(a.changes, ConfigChanges::Replace(_))),
            "one forwarded request holds one kind of config change"
        );
        let (body, version) = if replace {
            let wire = alter_configs_request_to_wire(alterations, validate_only);
            (
                encode_body(&wire, ALTER_CONFIGS_VERSION),
                ALTER_CONFIGS_VERSION,
            )
        } else {
            let wire = incremental_alter_configs_request_to_wire(alterations, validate_only);
            let version = INCREMENTAL_ALTER_CONFIGS_VERSION;
            (encode_body(&wire, version), version)
        };
        let body = body.map_err(|e| not_written(e.message))?;
        let request = || match replace {
            true => RaftRequest::AlterConfigs(body.clone()),
            false => RaftRequest::IncrementalAlterConfigs(body.clone()),
        };
        let local = self.quorum.lifecycle();
        let decided = self
            .lifecycle_call(
                || local.alter_configs(alterations, validate_only),
                request,
                |answer| {
                    let outcomes = if replace {
                        let response: AlterConfigsResponse = decode_body(answer, version)?;
                        config_outcomes(&response)
                    } else {
                        let response: IncrementalAlterConfigsResponse =
                            decode_body(answer, version)?;
                        incremental_config_outcomes(&response)
                    };
                    Ok(Ok(outcomes))
                },
            )
            .await?;
        one_outcome_each(decided, alterations.len(), "resources")
    }

    /// Asks the active controller: this node's lifecycle when it leads, else the
    /// leader's over the controller listener; follows the leader as it moves.
    /// `decode_remote` reads the leader's response body into its decision (a
    /// malformed body is an error, not a decision).
    async fn lifecycle_call<T, F>(
        &self,
        local: impl Fn() -> F,
        remote: impl Fn() -> RaftRequest,
        decode_remote: impl FnOnce(&[u8]) -> Result<Result<T, ControllerError>, ControllerError>,
    ) -> Result<Result<T, ControllerError>, BrokerError>
    where
        F: std::future::Future<Output = LifecycleAnswer<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(no_leader(self.write_timeout));
            }
            let leader = self.quorum.leader_id();
            if leader == Some(self.quorum.node_id()) {
                match local().await {
                    Ok(decided) => return Ok(decided),
                    Err(ControllerWriteError::NotLeader { .. }) => {}
                    Err(ControllerWriteError::Timeout(_)) => {
                        return Err(no_majority(self.write_timeout))
                    }
                    Err(ControllerWriteError::Failed(e)) => return Err(not_written(e)),
                }
            } else if let Some(addr) = leader.and_then(|l| self.voters.get(&l)) {
                let (channel, cluster) = (self.quorum.channel(), self.quorum.cluster_id_check());
                match forward_lifecycle_call(channel, addr, cluster, remote(), left).await {
                    Ok(Ok(body)) => {
                        return decode_remote(&body).map_err(|e| not_written(e.message))
                    }
                    // The controller's answer, as Kafka's would be in the response.
                    Err(e @ RaftTransportError::InconsistentClusterId { .. }) => {
                        return Ok(Err(ControllerError::new(
                            ResponseError::InconsistentClusterId,
                            e.to_string(),
                        )))
                    }
                    Ok(Err(ControllerWriteError::NotLeader { .. })) => {}
                    Ok(Err(ControllerWriteError::Timeout(_))) => {
                        return Err(no_majority(self.write_timeout))
                    }
                    Ok(Err(ControllerWriteError::Failed(e))) => return Err(not_written(e)),
                    Err(e) if is_connect_failure(&e) => {}
                    Err(e) => return Err(not_written(e.to_string())),
                }
            }
            tokio::time::sleep(LEADER_POLL_INTERVAL.min(left)).await;
        }
    }
}

fn is_connect_failure(e: &RaftTransportError) -> bool {
    matches!(e, RaftTransportError::Io(io)
        if matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset))
}

fn no_leader(waited: Duration) -> BrokerError {
    BrokerError::api(
        ResponseError::RequestTimedOut,
        format!(
            "The metadata quorum has no leader (no majority of controller.quorum.voters reachable) after {waited:?}; the change was not made."
        ),
    )
}

fn no_majority(waited: Duration) -> BrokerError {
    BrokerError::api(
        ResponseError::RequestTimedOut,
        format!(
            "The metadata quorum did not commit the change within {waited:?}: no majority of controller.quorum.voters is reachable."
        ),
    )
}

fn not_written(why: String) -> BrokerError {
    BrokerError::api(
        ResponseError::UnknownServerError,
        format!("The metadata change was not committed: {why}"),
    )
}

/// `decided` when the controller answered one outcome per item asked (`asked` of
/// them); otherwise a failure naming `what` was asked.
fn one_outcome_each<T>(
    decided: Result<Vec<T>, ControllerError>,
    asked: usize,
    what: &str,
) -> Result<Result<Vec<T>, ControllerError>, BrokerError> {
    match &decided {
        Ok(outcomes) if outcomes.len() != asked => Err(not_written(format!(
            "the controller answered for {} {what}, asked {asked}",
            outcomes.len()
        ))),
        _ => Ok(decided),
    }
}
