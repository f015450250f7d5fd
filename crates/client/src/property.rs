//! Parsing Kafka-style `name=value` client properties, and the settings every client
//! (producer, consumer, admin) shares.

use std::time::Duration;

use crate::cluster::ClientConfig;
use crate::error::{Error, Result};

/// `value` as milliseconds of property `key`.
pub fn millis(key: &str, value: &str) -> Result<Duration> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| Error::Config(format!("{key} must be milliseconds, not {value}")))
}

/// `value` as a boolean of property `key`.
pub fn boolean(key: &str, value: &str) -> Result<bool> {
    value
        .parse::<bool>()
        .map_err(|_| Error::Config(format!("{key} must be true or false, not {value}")))
}

/// Applies a property every client understands. `None` when `key` is not one of them.
pub fn set_common(client: &mut ClientConfig, key: &str, value: &str) -> Option<Result<()>> {
    let outcome = match key {
        "bootstrap.servers" => {
            client.bootstrap_servers = value.split(',').map(|s| s.trim().to_string()).collect();
            Ok(())
        }
        "client.id" => {
            client.connection.client_id = value.to_string();
            Ok(())
        }
        "request.timeout.ms" => millis(key, value).map(|d| client.connection.request_timeout = d),
        "retry.backoff.ms" => millis(key, value).map(|d| client.retry_backoff = d),
        "metadata.max.age.ms" => millis(key, value).map(|d| client.metadata_max_age = d),
        "allow.auto.create.topics" => {
            boolean(key, value).map(|b| client.allow_auto_topic_creation = b)
        }
        _ => return None,
    };
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_settings_and_errors() {
        let mut c = ClientConfig::default();
        assert!(set_common(&mut c, "bootstrap.servers", "a:1, b:2")
            .unwrap()
            .is_ok());
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert!(set_common(&mut c, "retry.backoff.ms", "5").unwrap().is_ok());
        assert_eq!(c.retry_backoff, Duration::from_millis(5));
        assert!(set_common(&mut c, "retry.backoff.ms", "soon")
            .unwrap()
            .is_err());
        assert!(set_common(&mut c, "linger.ms", "5").is_none());
    }
}
