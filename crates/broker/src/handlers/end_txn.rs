//! EndTxn: commit or abort the producer's open transaction. Answered once the
//! PrepareCommit/PrepareAbort state is durable; the markers follow. Needs WRITE on
//! the transactional id.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::{EndTxn, TxnRequest, TxnResponse};
use moldau_protocol::kafka::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

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
    let pending = super::txn::submit(
        &ctx,
        TxnRequest::EndTxn(EndTxn {
            transactional_id: request.transactional_id.0.to_string(),
            producer_id,
            producer_epoch,
            commit: request.committed,
        }),
    )
    .await?;
    Ok(Box::pin(async move {
        let TxnResponse::EndTxn { error } = pending.await? else {
            return Err(CloseConnection("coordinator answered another API".into()));
        };
        // v5 carries the producer's id and epoch back (transaction version 2 bumps
        // the epoch there; under version 1 they are unchanged).
        let (id, epoch) = if error == 0 {
            (producer_id, producer_epoch)
        } else {
            (-1, -1)
        };
        ctx.encode(
            &EndTxnResponse::default()
                .with_error_code(error)
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
        )
        .map(Some)
    }))
}
