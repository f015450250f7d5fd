//! InitProducerId: a fresh producer id for an idempotent producer; for a
//! transactional one, the transaction coordinator's answer (a new id or a bumped
//! epoch, fencing older producers of the same `transactional.id`). Needs WRITE on the
//! transactional id; an idempotent producer needs IDEMPOTENT_WRITE on the cluster or
//! WRITE on some topic (Kafka 3+).

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_coordinator::txn::{InitProducerId, TxnRequest, TxnResponse};
use moldau_protocol::acl::{AclOperation, AclResourceType};
use moldau_protocol::kafka::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: InitProducerIdRequest = super::decode(&ctx, body)?;
    let access = ctx.access();
    let refused = match &request.transactional_id {
        Some(id) if !access.transactional_id(AclOperation::Write, id.as_str()) => {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None if !access.cluster(AclOperation::IdempotentWrite)
            && !access.any(AclOperation::Write, AclResourceType::Topic) =>
        {
            Some(ResponseError::ClusterAuthorizationFailed)
        }
        _ => None,
    };
    if let Some(error) = refused {
        return ctx.ready(&answer(error.code(), -1, -1));
    }
    // A transactional producer takes a new id only when its id is new or its epoch is
    // exhausted; one is claimed up front either way so that the coordinator, which
    // does no I/O, can hand it out.
    let fresh = match ctx.transactions().next_producer_id().await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!("claiming a producer id block failed: {e}");
            return ctx.ready(&answer(e.response_error().code(), -1, -1));
        }
    };
    let Some(transactional_id) = request.transactional_id else {
        return ctx.ready(&answer(0, fresh, 0));
    };
    let expected = (ctx.version >= 3 && request.producer_id.0 >= 0)
        .then_some((request.producer_id.0, request.producer_epoch));
    let pending = super::txn::submit(
        &ctx,
        TxnRequest::InitProducerId(InitProducerId {
            transactional_id: transactional_id.0.to_string(),
            timeout_ms: request.transaction_timeout_ms,
            expected,
            fresh_producer_id: fresh,
        }),
    )
    .await?;
    Ok(Box::pin(async move {
        match pending.await? {
            TxnResponse::InitProducerId {
                error,
                producer_id,
                producer_epoch,
            } => ctx
                .encode(&answer(error, producer_id, producer_epoch))
                .map(Some),
            _ => Err(CloseConnection("coordinator answered another API".into())),
        }
    }))
}

fn answer(error: i16, producer_id: i64, producer_epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error)
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
}
