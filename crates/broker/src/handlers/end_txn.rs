//! EndTxn: commit or abort the producer's open transaction. Answered once the
//! PrepareCommit/PrepareAbort state is durable; the markers follow. Needs WRITE on
//! the transactional id.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::{EndTxn, TxnRequest, TxnResponse};
use moldau_protocol::kafka::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

/// An epoch at or above this leaves no room for the bump (the coordinator's rule).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: EndTxnRequest = super::decode(&ctx, body)?;
    let (producer_id, producer_epoch) = (request.producer_id.0, request.producer_epoch);
    let access = ctx.access();
    if !access.transactional_id(
        moldau_protocol::acl::AclOperation::Write,
        request.transactional_id.as_str(),
    ) {
        return ctx.ready(
            &EndTxnResponse::default()
                .with_error_code(
                    moldau_protocol::ResponseError::TransactionalIdAuthorizationFailed.code(),
                )
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
    }
    // v5+ is transaction version 2 (KIP-890 part 2): the epoch is bumped, and once
    // exhausted the producer moves to a new id, claimed here up front (only then)
    // because the coordinator does no I/O.
    let transaction_version_2 = ctx.version >= 5;
    let fresh_producer_id = if transaction_version_2 && producer_epoch >= EPOCH_EXHAUSTED {
        match ctx.transactions().next_producer_id().await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!("claiming a producer id block failed: {e}");
                return ctx.ready(
                    &EndTxnResponse::default()
                        .with_error_code(e.response_error().code())
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                );
            }
        }
    } else {
        -1
    };
    let pending = super::txn::submit(
        &ctx,
        TxnRequest::EndTxn(EndTxn {
            transactional_id: request.transactional_id.0.to_string(),
            producer_id,
            producer_epoch,
            commit: request.committed,
            transaction_version_2,
            fresh_producer_id,
        }),
    )
    .await?;
    Ok(Box::pin(async move {
        let TxnResponse::EndTxn {
            error,
            producer_id: id,
            producer_epoch: epoch,
        } = pending.await?
        else {
            return Err(CloseConnection("coordinator answered another API".into()));
        };
        // v5 carries the id and epoch the producer continues with (bumped under
        // transaction version 2).
        ctx.encode(
            &EndTxnResponse::default()
                .with_error_code(error)
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
        )
        .map(Some)
    }))
}
