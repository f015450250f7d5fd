//! InitProducerId for idempotent producers. Transactions are not served yet, so a
//! transactional id is refused with a clear error rather than half-supported.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use moldau_protocol::ResponseError;

pub async fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: InitProducerIdRequest = super::decode(&ctx, body)?;
    let response = if request.transactional_id.is_some() {
        InitProducerIdResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    } else {
        match ctx.broker.producer_ids.next_id(&ctx.broker).await {
            Ok(id) => InitProducerIdResponse::default()
                .with_error_code(0)
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
            Err(e) => {
                tracing::warn!("claiming a producer id block failed: {e}");
                InitProducerIdResponse::default()
                    .with_error_code(e.response_error().code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
            }
        }
    };
    ctx.ready(&response)
}
