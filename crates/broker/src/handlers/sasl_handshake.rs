//! SaslHandshake outside a SASL exchange (on a listener without SASL, or once the
//! connection is authenticated): ILLEGAL_SASL_STATE, as Kafka answers. The exchange
//! itself is run by the connection (sasl_session.rs) before requests reach handlers.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use moldau_protocol::ResponseError;

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let _request: SaslHandshakeRequest = super::decode(&ctx, body)?;
    ctx.ready(
        &SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code()),
    )
}
