//! The client telemetry subscription (KIP-714) as configured: `telemetry.metrics`,
//! `telemetry.push.interval.ms` and `telemetry.max.bytes`.

use crate::client_telemetry::Subscription;
use crate::config::BrokerConfig;

pub fn configured(config: &BrokerConfig) -> Subscription {
    Subscription {
        metrics: config
            .string("telemetry.metrics")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
        push_interval_ms: config.int("telemetry.push.interval.ms"),
        telemetry_max_bytes: config.int("telemetry.max.bytes"),
    }
}
