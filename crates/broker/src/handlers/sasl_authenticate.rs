//! SaslAuthenticate outside a SASL exchange (on a listener without SASL, or once the
//! connection is authenticated): ILLEGAL_SASL_STATE, as Kafka answers.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use moldau_protocol::ResponseError;

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let _request: SaslAuthenticateRequest = super::decode(&ctx, body)?;
    ctx.ready(
        &SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(super::str_bytes(
                "Unexpected SaslAuthenticate: this connection is not in a SASL exchange",
            ))),
    )
}
