//! The OTLP `MetricsData` decoder client telemetry (KIP-714) runs on PushTelemetry
//! bytes: any input gives points or an error, never a panic, and never more points
//! than the limit or than the input could encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_protocol::otlp::{decode_metrics_data, OTLP_POINTS_MAX};

fuzz_target!(|data: &[u8]| {
    if let Ok(points) = decode_metrics_data(data) {
        assert!(points.len() <= OTLP_POINTS_MAX);
        // A histogram point of at least two bytes yields two points.
        assert!(points.len() <= data.len().max(1));
    }
});
