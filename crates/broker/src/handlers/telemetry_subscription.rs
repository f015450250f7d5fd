//! The client telemetry subscription (KIP-714) as configured: `telemetry.metrics`,
//! `telemetry.push.interval.ms` and `telemetry.max.bytes`.

use crate::client_telemetry::Subscription;
use crate::request_settings::RequestSettings;

pub fn configured(settings: &RequestSettings) -> Subscription {
    Subscription {
        metrics: settings.telemetry_metrics.clone(),
        push_interval_ms: settings.telemetry_push_interval_ms,
        telemetry_max_bytes: settings.telemetry_max_bytes,
    }
}
