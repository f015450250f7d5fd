//! ElectLeaders (KIP-460): PREFERRED moves leadership back to each partition's first
//! replica, UNCLEAN gives a leaderless partition a leader, from outside the ISR if
//! need be. Decided by the active controller (forwarded there, as Kafka's brokers
//! do); ALTER on the cluster is required.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_metadata::controller::ControllerError;
use moldau_metadata::controller::{elect_leaders_response, election_request, ElectionOutcome};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{ElectLeadersRequest, ElectLeadersResponse};
use moldau_protocol::ResponseError;

/// First version with a top-level error code.
const ERROR_CODE_VERSION: i16 = 1;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: ElectLeadersRequest = super::decode(&ctx, body)?;
    let response = if !ctx.access().cluster(AclOperation::Alter) {
        refused(
            &request,
            &ControllerError::new(
                ResponseError::ClusterAuthorizationFailed,
                "Cluster authorization failed: ElectLeaders needs ALTER on the cluster.",
            ),
        )
    } else {
        match election_request(&request, ctx.version) {
            Err(e) => refused(&request, &e),
            Ok((kind, targets)) => match ctx.controller().elect_leaders(kind, &targets).await {
                Ok(Ok(outcomes)) => elect_leaders_response(&outcomes),
                Ok(Err(e)) => refused(&request, &e),
                Err(e) => refused(
                    &request,
                    &ControllerError::new(e.response_error(), e.to_string()),
                ),
            },
        }
    };
    let response = if ctx.version < ERROR_CODE_VERSION {
        response.with_error_code(0)
    } else {
        response
    };
    ctx.ready(&response)
}

/// The whole request refused: `error` top-level and for every partition asked for.
fn refused(request: &ElectLeadersRequest, error: &ControllerError) -> ElectLeadersResponse {
    let outcomes: Vec<ElectionOutcome> = request
        .topic_partitions
        .iter()
        .flatten()
        .flat_map(|t| {
            t.partitions.iter().map(|p| ElectionOutcome {
                topic: t.topic.0.to_string(),
                partition: *p,
                error: Some(error.clone()),
            })
        })
        .collect();
    elect_leaders_response(&outcomes).with_error_code(error.error.code())
}
