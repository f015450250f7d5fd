//! The controller listener: accepts peers' connections and hands each request to
//! the local Raft node. One request at a time per connection; a malformed frame or
//! message closes the connection; a request of another cluster is refused unread.

use moldau_protocol::kafka::protocol::{Decodable, Encodable};
use std::sync::Arc;

use moldau_metadata::raft::MetadataRaftConfig;
use openraft::Raft;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::acl_changes::{
    decide_create_acls, decide_delete_acls, CREATE_ACLS_VERSION, DELETE_ACLS_VERSION,
};
use crate::metadata_quorum::LifecycleController;
use crate::raft_transport::channel::{ControllerChannel, CONTROLLER_HANDSHAKE_TIMEOUT};
use crate::raft_transport::cluster_action_check::ClusterActionCheck;
use crate::raft_transport::cluster_id_check::ClusterIdCheck;
use crate::raft_transport::error::RaftTransportError;
use crate::raft_transport::frame::{read_frame, write_frame};
use crate::raft_transport::message::{
    decode, encode, ControllerWriteError, RaftEnvelope, RaftReply, RaftRequest,
};
use moldau_metadata::controller::{
    alter_configs_request, alter_configs_response, delete_topics_request, delete_topics_response,
    incremental_alter_configs_request, incremental_alter_configs_response, ConfigAlteration,
    ConfigAlterationOutcome, ControllerError, TopicDeletionOutcome, ALTER_CONFIGS_VERSION,
    DELETE_TOPICS_VERSION, INCREMENTAL_ALTER_CONFIGS_VERSION,
};
use moldau_metadata::controller::{
    alter_partition_response, elect_leaders_response, election_request,
    AlterPartitionRequest as PartitionIsrChange, ALTER_PARTITION_VERSION, ELECT_LEADERS_VERSION,
};
use moldau_metadata::controller::{
    alter_reassignments_response, list_reassignments_response, reassignment_list_request,
    reassignment_request, ALTER_REASSIGNMENTS_VERSION, LIST_REASSIGNMENTS_VERSION,
};
use moldau_metadata::controller::{
    create_partitions_request, create_partitions_response, PartitionGrowthOutcome,
    CREATE_PARTITIONS_VERSION,
};
use moldau_metadata::controller::{
    create_topics_request, create_topics_response, TopicCreationOutcome, CREATE_TOPICS_VERSION,
};
use moldau_metadata::controller::{
    decode_body, encode_body, heartbeat_response, registration_response, HeartbeatRequest,
    RegistrationRequest, BROKER_HEARTBEAT_VERSION, BROKER_REGISTRATION_VERSION,
};
use moldau_metadata::raft::{MetadataApplied, MetadataCommand};
use moldau_protocol::kafka::messages::{
    AlterConfigsRequest, DeleteTopicsRequest, IncrementalAlterConfigsRequest,
};
use moldau_protocol::kafka::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, AlterPartitionRequest,
    AlterPartitionResponse, BrokerHeartbeatRequest, BrokerRegistrationRequest, ElectLeadersRequest,
    ElectLeadersResponse, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use moldau_protocol::kafka::messages::{CreateAclsRequest, DeleteAclsRequest};
use moldau_protocol::kafka::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, CreateTopicsResponse,
};
use openraft::error::{ClientWriteError, RaftError};

/// How long a forwarded write may wait for its commit here; the forwarding node
/// gives up at its own write timeout, which is no longer.
pub const FORWARDED_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Peer connections served at once; more are closed on accept (a quorum has a
/// handful of voters, each keeping one connection to every other).
pub const RAFT_CONNECTIONS_MAX: usize = 64;

/// Serves `listener` until `shutdown` turns true, each connection secured as
/// `channel` says; with `cluster_action`, a logged-in peer needs CLUSTER_ACTION.
pub async fn serve_raft(
    listener: TcpListener,
    channel: ControllerChannel,
    cluster_action: Option<ClusterActionCheck>,
    raft: Raft<MetadataRaftConfig>,
    lifecycle: Arc<LifecycleController>,
    cluster: Arc<ClusterIdCheck>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(RAFT_CONNECTIONS_MAX));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "controller listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = RAFT_CONNECTIONS_MAX, "too many controller connections; closing");
            continue;
        };
        let raft = raft.clone();
        let lifecycle = Arc::clone(&lifecycle);
        let channel = channel.clone();
        let cluster = Arc::clone(&cluster);
        let cluster_action = cluster_action.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = serve_connection(stream, &channel, cluster_action.as_ref(), raft, lifecycle, cluster) => {
                    match result {
                        Err(RaftTransportError::Authentication(why)) => {
                            tracing::warn!(%peer, reason = %why, "controller listener refused a peer's login");
                        }
                        Err(e) => tracing::debug!(%peer, error = %e, "closed controller connection"),
                        Ok(()) => {}
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    channel: &ControllerChannel,
    cluster_action: Option<&ClusterActionCheck>,
    raft: Raft<MetadataRaftConfig>,
    lifecycle: Arc<LifecycleController>,
    cluster: Arc<ClusterIdCheck>,
) -> Result<(), RaftTransportError> {
    let host = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let accepted = channel
        .accept(stream, CONTROLLER_HANDSHAKE_TIMEOUT, cluster_action)
        .await?;
    let mut connection = accepted.connection;
    while let Some(body) = read_frame(&mut connection).await? {
        // Checked again per request: a revoked CLUSTER_ACTION ends the connection,
        // and the peer's next login is refused with the reason.
        if let (Some(check), Some(principal)) = (cluster_action, &accepted.principal) {
            if !check.allows(principal, &host) {
                return Err(RaftTransportError::Authentication(
                    ClusterActionCheck::refusal(principal),
                ));
            }
        }
        let envelope: RaftEnvelope = decode(&body)?;
        if !cluster.observe(envelope.from, &envelope.cluster_id) {
            let reply = RaftReply::InconsistentClusterId {
                cluster_id: cluster.cluster_id().to_string(),
            };
            write_frame(&mut connection, &encode(&reply)?).await?;
            continue;
        }
        let reply = match envelope.request {
            RaftRequest::AppendEntries(rpc) => {
                RaftReply::AppendEntries(raft.append_entries(rpc).await)
            }
            RaftRequest::Vote(rpc) => RaftReply::Vote(raft.vote(rpc).await),
            RaftRequest::InstallSnapshot(rpc) => {
                RaftReply::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            RaftRequest::ControllerWrite(records) => {
                RaftReply::ControllerWrite(commit_forwarded(&raft, records).await)
            }
            RaftRequest::BrokerRegistration(body) => {
                RaftReply::BrokerRegistration(registration(&lifecycle, &body).await)
            }
            RaftRequest::BrokerHeartbeat(body) => {
                RaftReply::BrokerHeartbeat(heartbeat(&lifecycle, &body).await)
            }
            RaftRequest::AlterPartition(body) => {
                RaftReply::AlterPartition(alter_partition(&lifecycle, &body).await)
            }
            RaftRequest::ElectLeaders(body) => {
                RaftReply::ElectLeaders(elect_leaders(&lifecycle, &body).await)
            }
            RaftRequest::Hello => RaftReply::Hello,
            RaftRequest::SaslAuthenticate { .. } => {
                return Err(RaftTransportError::Malformed(
                    "a login after the connection started".into(),
                ))
            }
            RaftRequest::AlterReassignments(body) => {
                RaftReply::AlterReassignments(alter_reassignments(&lifecycle, &body).await)
            }
            RaftRequest::ListReassignments(body) => {
                RaftReply::ListReassignments(list_reassignments(&lifecycle, &body).await)
            }
            RaftRequest::CreateTopics(body) => {
                RaftReply::CreateTopics(create_topics(&lifecycle, &body).await)
            }
            RaftRequest::CreatePartitions(body) => {
                RaftReply::CreatePartitions(create_partitions(&lifecycle, &body).await)
            }
            RaftRequest::DeleteTopics(body) => {
                RaftReply::DeleteTopics(delete_topics(&lifecycle, &body).await)
            }
            RaftRequest::IncrementalAlterConfigs(body) => RaftReply::IncrementalAlterConfigs(
                incremental_alter_configs(&lifecycle, &body).await,
            ),
            RaftRequest::AlterConfigs(body) => {
                RaftReply::AlterConfigs(alter_configs(&lifecycle, &body).await)
            }
            RaftRequest::CreateAcls(body) => {
                RaftReply::CreateAcls(create_acls(&lifecycle, &body).await)
            }
            RaftRequest::DeleteAcls(body) => {
                RaftReply::DeleteAcls(delete_acls(&lifecycle, &body).await)
            }
        };
        write_frame(&mut connection, &encode(&reply)?).await?;
    }
    Ok(())
}

/// The answer's body (a failure to encode it is this controller's own).
fn answer<M: Encodable>(response: &M, version: i16) -> Result<Vec<u8>, ControllerWriteError> {
    encode_body(response, version).map_err(|e| ControllerWriteError::Failed(e.message))
}

/// A forwarded request's body decoded; `api` names it when it is malformed.
fn forwarded<M: Decodable>(
    body: &[u8],
    version: i16,
    api: &str,
) -> Result<M, ControllerWriteError> {
    decode_body(body, version)
        .map_err(|e| ControllerWriteError::Failed(format!("malformed {api}: {e}")))
}

/// Decides a forwarded BrokerRegistration here; the answer is the response body.
async fn registration(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = decode_body::<BrokerRegistrationRequest>(body, BROKER_REGISTRATION_VERSION)
        .and_then(|r| RegistrationRequest::from_wire(&r));
    let decided = match request {
        Ok(request) => lifecycle.register(&request).await?,
        Err(malformed) => Err(malformed),
    };
    answer(
        &registration_response(&decided),
        BROKER_REGISTRATION_VERSION,
    )
}

/// Decides a forwarded BrokerHeartbeat here; the answer is the response body.
async fn heartbeat(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let decided = match decode_body::<BrokerHeartbeatRequest>(body, BROKER_HEARTBEAT_VERSION) {
        Ok(r) => {
            lifecycle
                .heartbeat(&HeartbeatRequest::from_wire(&r))
                .await?
        }
        Err(malformed) => Err(malformed),
    };
    answer(&heartbeat_response(&decided), BROKER_HEARTBEAT_VERSION)
}

/// Decides a forwarded ElectLeaders here; the answer is the response body (a
/// refusal of the whole request as its top-level error).
async fn elect_leaders(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = decode_body::<ElectLeadersRequest>(body, ELECT_LEADERS_VERSION)
        .and_then(|r| election_request(&r, ELECT_LEADERS_VERSION));
    let decided = match request {
        Ok((kind, targets)) => lifecycle.elect_leaders(kind, &targets).await?,
        Err(malformed) => Err(malformed),
    };
    let response = match decided {
        Ok(outcomes) => elect_leaders_response(&outcomes),
        Err(refused) => ElectLeadersResponse::default()
            .with_error_code(refused.error.code())
            .with_replica_election_results(Vec::new()),
    };
    answer(&response, ELECT_LEADERS_VERSION)
}

/// Decides a forwarded AlterPartitionReassignments here; the answer is the response
/// body (a refusal of the whole request as its top-level error).
async fn alter_reassignments(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request =
        decode_body::<AlterPartitionReassignmentsRequest>(body, ALTER_REASSIGNMENTS_VERSION)
            .map(|r| reassignment_request(&r, ALTER_REASSIGNMENTS_VERSION));
    let (decided, allow) = match request {
        Ok((targets, allow)) => (lifecycle.alter_reassignments(&targets, allow).await?, allow),
        Err(malformed) => (Err(malformed), true),
    };
    let response = match decided {
        Ok(outcomes) => alter_reassignments_response(&outcomes, allow),
        Err(refused) => AlterPartitionReassignmentsResponse::default()
            .with_error_code(refused.error.code())
            .with_error_message(Some(refused.message.into())),
    };
    answer(&response, ALTER_REASSIGNMENTS_VERSION)
}

/// Answers a forwarded ListPartitionReassignments here from this controller's image.
async fn list_reassignments(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request =
        decode_body::<ListPartitionReassignmentsRequest>(body, LIST_REASSIGNMENTS_VERSION)
            .map(|r| reassignment_list_request(&r));
    let decided = match request {
        Ok(targets) => lifecycle.list_reassignments(&targets).await?,
        Err(malformed) => Err(malformed),
    };
    let response = match decided {
        Ok(ongoing) => list_reassignments_response(&ongoing),
        Err(refused) => ListPartitionReassignmentsResponse::default()
            .with_error_code(refused.error.code())
            .with_error_message(Some(refused.message.into())),
    };
    answer(&response, LIST_REASSIGNMENTS_VERSION)
}

/// Decides a forwarded CreateTopics here; the answer is the response body, every
/// topic refused alike when the whole request was.
async fn create_topics(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = forwarded::<CreateTopicsRequest>(body, CREATE_TOPICS_VERSION, "CreateTopics")?;
    let (topics, validate_only) = create_topics_request(&request);
    let outcomes = match lifecycle.create_topics(&topics, validate_only).await? {
        Ok(outcomes) => outcomes,
        Err(refused) => topics
            .iter()
            .map(|t| TopicCreationOutcome {
                name: t.name.clone(),
                result: Err(refused.clone()),
            })
            .collect(),
    };
    let response: CreateTopicsResponse = create_topics_response(&outcomes);
    answer(&response, CREATE_TOPICS_VERSION)
}

/// Decides a forwarded CreatePartitions here; the answer is the response body,
/// every topic refused alike when the whole request was.
async fn create_partitions(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request =
        forwarded::<CreatePartitionsRequest>(body, CREATE_PARTITIONS_VERSION, "CreatePartitions")?;
    let (growths, validate_only) = create_partitions_request(&request);
    let outcomes = match lifecycle.create_partitions(&growths, validate_only).await? {
        Ok(outcomes) => outcomes,
        Err(refused) => growths
            .iter()
            .map(|g| PartitionGrowthOutcome {
                name: g.name.clone(),
                result: Err(refused.clone()),
            })
            .collect(),
    };
    answer(
        &create_partitions_response(&outcomes),
        CREATE_PARTITIONS_VERSION,
    )
}

/// Decides a forwarded DeleteTopics here; the answer is the response body, every
/// topic refused alike when the whole request was.
async fn delete_topics(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = forwarded::<DeleteTopicsRequest>(body, DELETE_TOPICS_VERSION, "DeleteTopics")?;
    let deletions = delete_topics_request(&request);
    let outcomes = match lifecycle.delete_topics(&deletions).await? {
        Ok(outcomes) => outcomes,
        Err(refused) => deletions
            .iter()
            .map(|d| TopicDeletionOutcome {
                name: d.name.clone(),
                id: d.id,
                result: Err(refused.clone()),
            })
            .collect(),
    };
    answer(&delete_topics_response(&outcomes), DELETE_TOPICS_VERSION)
}

/// Each resource refused alike, when the whole request was.
fn all_refused(
    alterations: &[ConfigAlteration],
    refused: &ControllerError,
) -> Vec<ConfigAlterationOutcome> {
    alterations
        .iter()
        .map(|a| ConfigAlterationOutcome {
            resource_type: a.resource_type,
            resource_name: a.resource_name.clone(),
            result: Err(refused.clone()),
        })
        .collect()
}

/// Decides a forwarded IncrementalAlterConfigs here; the answer is the response body.
async fn incremental_alter_configs(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = forwarded::<IncrementalAlterConfigsRequest>(
        body,
        INCREMENTAL_ALTER_CONFIGS_VERSION,
        "IncrementalAlterConfigs",
    )?;
    let (alterations, validate_only) = incremental_alter_configs_request(&request);
    let outcomes = lifecycle
        .alter_configs(&alterations, validate_only)
        .await?
        .unwrap_or_else(|refused| all_refused(&alterations, &refused));
    answer(
        &incremental_alter_configs_response(&outcomes),
        INCREMENTAL_ALTER_CONFIGS_VERSION,
    )
}

/// Decides a forwarded AlterConfigs here; the answer is the response body.
async fn alter_configs(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = forwarded::<AlterConfigsRequest>(body, ALTER_CONFIGS_VERSION, "AlterConfigs")?;
    let (alterations, validate_only) = alter_configs_request(&request);
    let outcomes = lifecycle
        .alter_configs(&alterations, validate_only)
        .await?
        .unwrap_or_else(|refused| all_refused(&alterations, &refused));
    answer(&alter_configs_response(&outcomes), ALTER_CONFIGS_VERSION)
}

/// Decides a forwarded CreateAcls here; the answer is the response body.
async fn create_acls(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = forwarded::<CreateAclsRequest>(body, CREATE_ACLS_VERSION, "CreateAcls")?;
    let response = decide_create_acls(lifecycle, &request)
        .await?
        .map_err(|e| ControllerWriteError::Failed(e.message))?;
    answer(&response, CREATE_ACLS_VERSION)
}

/// Decides a forwarded DeleteAcls here; the answer is the response body.
async fn delete_acls(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = forwarded::<DeleteAclsRequest>(body, DELETE_ACLS_VERSION, "DeleteAcls")?;
    let response = decide_delete_acls(lifecycle, &request)
        .await?
        .map_err(|e| ControllerWriteError::Failed(e.message))?;
    answer(&response, DELETE_ACLS_VERSION)
}

/// Decides a forwarded AlterPartition here; the answer is the response body.
async fn alter_partition(
    lifecycle: &LifecycleController,
    body: &[u8],
) -> Result<Vec<u8>, ControllerWriteError> {
    let request = decode_body::<AlterPartitionRequest>(body, ALTER_PARTITION_VERSION)
        .and_then(|r| PartitionIsrChange::from_wire(&r));
    let response = match request {
        Ok(request) => {
            let decided = lifecycle.alter_partition(&request).await?;
            alter_partition_response(&request, &decided)
        }
        Err(malformed) => AlterPartitionResponse::default().with_error_code(malformed.error.code()),
    };
    answer(&response, ALTER_PARTITION_VERSION)
}

/// Commits a forwarded record list as one entry, if this node is the leader.
async fn commit_forwarded(
    raft: &Raft<MetadataRaftConfig>,
    records: Vec<u8>,
) -> Result<MetadataApplied, ControllerWriteError> {
    let command = MetadataCommand::from_encoded(records);
    if let Err(e) = command.records() {
        return Err(ControllerWriteError::Failed(format!(
            "malformed forwarded records: {e}"
        )));
    }
    match tokio::time::timeout(FORWARDED_WRITE_TIMEOUT, raft.client_write(command)).await {
        Err(_) => Err(ControllerWriteError::Timeout(format!(
            "not committed within {FORWARDED_WRITE_TIMEOUT:?}"
        ))),
        Ok(Ok(response)) => Ok(response.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(ControllerWriteError::NotLeader {
                leader: f.leader_id,
            })
        }
        Ok(Err(e)) => Err(ControllerWriteError::Failed(e.to_string())),
    }
}
