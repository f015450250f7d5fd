//! InitProducerId for idempotent producers. Transactions are not served yet, so a
//! transactional id is refused with a clear error rather than half-supported.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use moldau_protocol::ResponseError;
use std::sync::atomic::Ordering;

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: InitProducerIdRequest = super::decode(&ctx, body)?;
    let response = if request.transactional_id.is_some() {
        InitProducerIdResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    } else {
        // Ids are unique across restarts because they start from the clock.
        let floor = crate::clock::now_ms() * 1000;
        let _ = ctx
            .broker
            .next_producer_id
            .fetch_max(floor, Ordering::AcqRel);
        let id = ctx.broker.next_producer_id.fetch_add(1, Ordering::AcqRel);
        InitProducerIdResponse::default()
            .with_error_code(0)
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0)
    };
    ctx.ready(&response)
}
