//! ListPartitionReassignments (KIP-455): the partitions being reassigned, all or
//! those named, with their replicas being added and removed. Answered by the active
//! controller (forwarded there, as Kafka's brokers do); DESCRIBE on the cluster is
//! required.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::{list_reassignments_response, reassignment_list_request};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ListPartitionReassignmentsRequest = super::decode(&ctx, body)?;
    let response = if !ctx.access().cluster(AclOperation::Describe) {
        refused(
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed: ListPartitionReassignments needs DESCRIBE on the cluster."
                .into(),
        )
    } else {
        let targets = reassignment_list_request(&request);
        match ctx.controller().list_reassignments(&targets).await {
            Ok(Ok(ongoing)) => list_reassignments_response(&ongoing),
            Ok(Err(e)) => refused(e.error, e.message),
            Err(e) => refused(e.response_error(), e.to_string()),
        }
    };
    ctx.ready(&response)
}

fn refused(error: ResponseError, message: String) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(message.into()))
}
