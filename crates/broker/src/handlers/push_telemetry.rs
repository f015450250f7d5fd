//! PushTelemetry (KIP-714): a client's metrics, decoded from OTLP and kept for
//! `/metrics`, labelled by client id and client instance id.

use crate::client_telemetry::Push;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::{PushTelemetryRequest, PushTelemetryResponse};

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: PushTelemetryRequest = super::decode(&ctx, body)?;
    let sub = super::telemetry_subscription::configured(&ctx.config().settings);
    let client_id = ctx.client_id();
    let outcome = ctx.metrics().client_telemetry.push(
        &sub,
        Push {
            instance: request.client_instance_id,
            client_id: &client_id,
            subscription_id: request.subscription_id,
            compression: request.compression_type,
            metrics: &request.metrics,
            now_ms: crate::clock::now_ms(),
        },
    );
    let code = match outcome {
        Ok(()) => 0,
        Err(e) => {
            tracing::debug!(client = %client_id, "telemetry push refused: {e}");
            e.code()
        }
    };
    ctx.ready(&PushTelemetryResponse::default().with_error_code(code))
}
