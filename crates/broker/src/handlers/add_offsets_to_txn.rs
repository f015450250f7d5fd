//! AddOffsetsToTxn: the `__consumer_offsets` partition of a group joins the
//! producer's transaction, so that its COMMIT or ABORT marker also completes the
//! offsets the producer then commits there (TxnOffsetCommit). The transaction
//! coordinator treats it as AddPartitionsToTxn of that one partition. Needs WRITE on
//! the transactional id, then READ on the group, as in Kafka.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::{AddOffsets, TxnRequest, TxnResponse};
use moldau_protocol::acl::AclOperation;
use moldau_protocol::kafka::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use moldau_protocol::ResponseError;

/// The first version that may answer PRODUCER_FENCED; older clients get
/// INVALID_PRODUCER_EPOCH, as from Kafka.
const PRODUCER_FENCED_VERSION: i16 = 2;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: AddOffsetsToTxnRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let refused =
        if !access.transactional_id(AclOperation::Write, request.transactional_id.as_str()) {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        } else if !access.group(AclOperation::Read, request.group_id.as_str()) {
            Some(ResponseError::GroupAuthorizationFailed)
        } else {
            None
        };
    if let Some(error) = refused {
        return ctx.ready(&AddOffsetsToTxnResponse::default().with_error_code(error.code()));
    }
    // The markers go to the group's offsets partition: it must exist (a producer may
    // send offsets before any consumer looked the group up).
    if let Err(e) = ctx.controller().ensure_offsets_topic().await {
        tracing::warn!("creating __consumer_offsets: {e}");
        return ctx.ready(
            &AddOffsetsToTxnResponse::default()
                .with_error_code(ResponseError::CoordinatorNotAvailable.code()),
        );
    }
    let pending = super::txn::submit(
        &ctx,
        TxnRequest::AddOffsets(AddOffsets {
            transactional_id: request.transactional_id.0.to_string(),
            producer_id: request.producer_id.0,
            producer_epoch: request.producer_epoch,
            group_id: request.group_id.0.to_string(),
        }),
    )
    .await?;
    Ok(Box::pin(async move {
        let TxnResponse::AddOffsets { mut error } = pending.await? else {
            return Err(CloseConnection("coordinator answered another API".into()));
        };
        if error == ResponseError::ProducerFenced.code() && ctx.version < PRODUCER_FENCED_VERSION {
            error = ResponseError::InvalidProducerEpoch.code();
        }
        ctx.encode(&AddOffsetsToTxnResponse::default().with_error_code(error))
            .map(Some)
    }))
}
