//! ApiVersions: the table of supported APIs. A version the broker lacks is answered
//! in the v0 layout with UNSUPPORTED_VERSION, so old clients can fall back.

use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use moldau_protocol::kafka::messages::ApiVersionsRequest;
use moldau_protocol::versions::BROKER_APIS;
use moldau_protocol::ResponseError;

fn table() -> Vec<ApiVersion> {
    BROKER_APIS
        .iter()
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.min)
                .with_max_version(a.max)
        })
        .collect()
}

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let _request: ApiVersionsRequest = super::decode(&ctx, body)?;
    let response = ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(table());
    ctx.ready(&response)
}

pub fn unsupported_version(ctx: &RequestContext) -> Result<Deferred, CloseConnection> {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(table());
    let frame = crate::request::encode_frame(ctx.correlation_id(), 0, &response, 0)?;
    Ok(crate::request::ready_frame(Some(frame)))
}
