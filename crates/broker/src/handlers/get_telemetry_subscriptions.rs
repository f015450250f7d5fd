//! GetTelemetrySubscriptions (KIP-714): gives a client its instance id (when it has
//! none) and what to push: metric name prefixes, interval, size and compression.

use crate::client_telemetry::ACCEPTED_COMPRESSION;
use crate::request::{CloseConnection, Deferred, RequestContext};
use bytes::Bytes;
use moldau_protocol::kafka::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse,
};

pub fn handle(ctx: RequestContext, body: Bytes) -> Result<Deferred, CloseConnection> {
    let request: GetTelemetrySubscriptionsRequest = super::decode(&ctx, body)?;
    let instance = if request.client_instance_id.is_nil() {
        uuid::Uuid::new_v4()
    } else {
        request.client_instance_id
    };
    let sub = super::telemetry_subscription::configured(&ctx.config().settings);
    let response = GetTelemetrySubscriptionsResponse::default()
        .with_error_code(0)
        .with_client_instance_id(instance)
        .with_subscription_id(sub.id_for(&instance))
        .with_accepted_compression_types(
            ACCEPTED_COMPRESSION
                .iter()
                .map(|c| c.attribute_bits() as i8)
                .collect(),
        )
        .with_push_interval_ms(sub.push_interval_ms)
        .with_telemetry_max_bytes(sub.telemetry_max_bytes)
        // Cumulative values: the latest push is the current value of each metric.
        .with_delta_temporality(false)
        .with_requested_metrics(sub.metrics.iter().map(|m| super::str_bytes(m)).collect());
    ctx.ready(&response)
}
