//! What every connection of a listener shares: its configured bounds and the
//! broker-wide queue of requests waiting for a handler.

use crate::config::BrokerConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Bounds a connection applies, from the broker's configuration.
#[derive(Clone)]
pub struct ConnectionSettings {
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub request_bytes_max: usize,
    /// `connections.max.idle.ms`: a connection with nothing read, written or in flight
    /// for this long is closed; None keeps idle connections.
    pub idle_max: Option<Duration>,
    /// `connections.max.reauth.ms`: how long a SASL session lasts before the client
    /// must re-authenticate (KIP-368); None (0) for ever.
    pub reauth_max: Option<Duration>,
    /// `queued.max.requests`: one permit per request read and not yet taken up by its
    /// handler, broker-wide; with none left, connections stop reading.
    pub queued_requests: Arc<Semaphore>,
}

impl ConnectionSettings {
    pub fn from_config(config: &BrokerConfig) -> Self {
        let idle_ms = config.long("connections.max.idle.ms");
        let queued = usize::try_from(config.int("queued.max.requests")).unwrap_or(1);
        let reauth_ms = config.long("connections.max.reauth.ms");
        ConnectionSettings {
            request_bytes_max: usize::try_from(config.int("socket.request.max.bytes"))
                .unwrap_or(1)
                .max(1),
            idle_max: u64::try_from(idle_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            reauth_max: u64::try_from(reauth_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            queued_requests: Arc::new(Semaphore::new(queued.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> ConnectionSettings {
        let props: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnectionSettings::from_config(&BrokerConfig::from_properties(props).unwrap())
    }

    #[test]
    fn settings_follow_kafka_defaults_and_overrides() {
        let defaults = settings(&[]);
        assert_eq!(defaults.request_bytes_max, 104_857_600);
        assert_eq!(defaults.idle_max, Some(Duration::from_secs(600)));
        assert_eq!(defaults.queued_requests.available_permits(), 500);
        assert_eq!(
            defaults.reauth_max, None,
            "Kafka's default 0: sessions never expire"
        );
        let set = settings(&[
            ("queued.max.requests", "3"),
            ("connections.max.idle.ms", "-1"),
            ("socket.request.max.bytes", "1000"),
            ("connections.max.reauth.ms", "2500"),
        ]);
        assert_eq!(set.reauth_max, Some(Duration::from_millis(2500)));
        assert_eq!(set.queued_requests.available_permits(), 3);
        assert_eq!(set.idle_max, None, "-1 keeps idle connections");
        assert_eq!(set.request_bytes_max, 1000);
    }
}
