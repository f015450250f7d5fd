//! AlterPartitionReassignments (KIP-455): moves a partition's replicas to a target
//! set (or cancels a move in progress). Decided by the active controller (forwarded
//! there, as Kafka's brokers do); ALTER on the cluster is required.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::{
    alter_reassignments_response, reassignment_request, ControllerError, ReassignmentOutcome,
    ReassignmentTarget,
};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AlterPartitionReassignmentsRequest = super::decode(&ctx, body)?;
    let (targets, allow_rf_change) = reassignment_request(&request, ctx.version);
    let response = if !ctx.access().cluster(AclOperation::Alter) {
        refused(
            &targets,
            allow_rf_change,
            &ControllerError::new(
                ResponseError::ClusterAuthorizationFailed,
                "Cluster authorization failed: AlterPartitionReassignments needs ALTER on the cluster.",
            ),
        )
    } else {
        match ctx
            .controller()
            .alter_reassignments(&targets, allow_rf_change)
            .await
        {
            Ok(Ok(outcomes)) => alter_reassignments_response(&outcomes, allow_rf_change),
            Ok(Err(e)) => refused(&targets, allow_rf_change, &e),
            Err(e) => refused(
                &targets,
                allow_rf_change,
                &ControllerError::new(e.response_error(), e.to_string()),
            ),
        }
    };
    ctx.ready(&response)
}

/// The whole request refused: `error` top-level and for every partition, as Kafka's
/// error response has it.
fn refused(
    targets: &[ReassignmentTarget],
    allow_rf_change: bool,
    error: &ControllerError,
) -> AlterPartitionReassignmentsResponse {
    let outcomes: Vec<ReassignmentOutcome> = targets
        .iter()
        .map(|t| ReassignmentOutcome {
            topic: t.topic.clone(),
            partition: t.partition,
            error: Some(error.clone()),
        })
        .collect();
    alter_reassignments_response(&outcomes, allow_rf_change)
        .with_error_code(error.error.code())
        .with_error_message(Some(error.message.clone().into()))
}
