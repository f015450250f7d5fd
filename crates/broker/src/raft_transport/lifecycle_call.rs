//! A broker's registration or heartbeat sent to the active controller's listener:
//! the Kafka body of BrokerRegistration / BrokerHeartbeat, answered with the Kafka
//! response body or why that node could not decide.

use std::time::Duration;

use crate::raft_transport::channel::ControllerChannel;
use crate::raft_transport::cluster_id_check::ClusterIdCheck;
use crate::raft_transport::controller_write::call_controller;
use crate::raft_transport::error::RaftTransportError;
use crate::raft_transport::message::{ControllerWriteError, RaftReply, RaftRequest};

/// Sends `request` (a `BrokerRegistration` or `BrokerHeartbeat`) to the controller
/// listener at `addr`; the reply must be of the same kind.
pub async fn forward_lifecycle_call(
    channel: &ControllerChannel,
    addr: &str,
    cluster: &ClusterIdCheck,
    request: RaftRequest,
    timeout: Duration,
) -> Result<Result<Vec<u8>, ControllerWriteError>, RaftTransportError> {
    let sent = request.name();
    match (
        &request,
        call_controller(channel, addr, cluster, &request, timeout).await?,
    ) {
        (RaftRequest::BrokerRegistration(_), RaftReply::BrokerRegistration(result))
        | (RaftRequest::BrokerHeartbeat(_), RaftReply::BrokerHeartbeat(result))
        | (RaftRequest::AlterPartition(_), RaftReply::AlterPartition(result))
        | (RaftRequest::ElectLeaders(_), RaftReply::ElectLeaders(result))
        | (RaftRequest::AlterReassignments(_), RaftReply::AlterReassignments(result))
        | (RaftRequest::ListReassignments(_), RaftReply::ListReassignments(result))
        | (RaftRequest::CreateTopics(_), RaftReply::CreateTopics(result))
        | (RaftRequest::CreatePartitions(_), RaftReply::CreatePartitions(result))
        | (RaftRequest::DeleteTopics(_), RaftReply::DeleteTopics(result))
        | (RaftRequest::IncrementalAlterConfigs(_), RaftReply::IncrementalAlterConfigs(result))
        | (RaftRequest::AlterConfigs(_), RaftReply::AlterConfigs(result))
        | (RaftRequest::CreateAcls(_), RaftReply::CreateAcls(result))
        | (RaftRequest::DeleteAcls(_), RaftReply::DeleteAcls(result)) => Ok(result),
        (_, other) => Err(RaftTransportError::WrongReply {
            sent,
            got: other.name(),
        }),
    }
}
