//! Client telemetry (KIP-714): the subscription clients are given and the latest
//! metrics each client instance pushed, rendered for Prometheus labelled by client
//! id and client instance id. Bounded: at most `CLIENT_INSTANCES_MAX` instances
//! (the longest silent is dropped first), each with at most one push's points, and
//! an instance silent for `EXPIRY_INTERVALS` push intervals is forgotten.

use crate::metrics::{escape_label, header};
use moldau_protocol::batch::Codec;
use moldau_protocol::otlp::{decode_metrics_data, OtlpPoint};
use moldau_protocol::ResponseError;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Most client instances whose metrics are kept.
pub const CLIENT_INSTANCES_MAX: usize = 1024;
/// An instance that has not pushed for this many push intervals is forgotten.
const EXPIRY_INTERVALS: i64 = 3;
/// A push may decompress to at most this many times `telemetry.max.bytes`.
const DECOMPRESSION_RATIO_MAX: usize = 16;
/// Compression types offered to clients, in Kafka's order of preference.
pub const ACCEPTED_COMPRESSION: [Codec; 4] = [Codec::Zstd, Codec::Lz4, Codec::Gzip, Codec::Snappy];

/// What the broker asks clients to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Metric name prefixes; empty asks for nothing.
    pub metrics: Vec<String>,
    pub push_interval_ms: i32,
    pub telemetry_max_bytes: i32,
}

impl Subscription {
    /// The subscription id of `instance`: a hash of the subscription and the
    /// instance, so it is stable across restarts and changes when the config does.
    pub fn id_for(&self, instance: &uuid::Uuid) -> i32 {
        // FNV-1a, 32 bits.
        let mut h: u32 = 0x811c_9dc5;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u32::from(*b);
                h = h.wrapping_mul(0x0100_0193);
            }
        };
        for m in &self.metrics {
            eat(m.as_bytes());
            eat(&[0]);
        }
        eat(&self.push_interval_ms.to_be_bytes());
        eat(instance.as_bytes());
        h as i32
    }
}

/// One PushTelemetry request, as the store needs it.
pub struct Push<'a> {
    pub instance: uuid::Uuid,
    pub client_id: &'a str,
    pub subscription_id: i32,
    pub compression: i8,
    pub metrics: &'a [u8],
    pub now_ms: i64,
}

#[derive(Debug)]
struct Instance {
    client_id: String,
    last_push_ms: i64,
    points: Vec<OtlpPoint>,
}

/// The latest pushed metrics of every known client instance.
#[derive(Debug, Default)]
pub struct ClientTelemetry {
    instances: Mutex<HashMap<uuid::Uuid, Instance>>,
}

fn codec(compression: i8) -> Option<Codec> {
    match compression {
        0 => Some(Codec::None),
        c => ACCEPTED_COMPRESSION
            .into_iter()
            .find(|a| a.attribute_bits() == i16::from(c)),
    }
}

impl ClientTelemetry {
    /// Checks and stores one push; the error is the one Kafka answers with.
    pub fn push(&self, sub: &Subscription, push: Push<'_>) -> Result<(), ResponseError> {
        if push.instance.is_nil() {
            return Err(ResponseError::InvalidRequest);
        }
        if push.subscription_id != sub.id_for(&push.instance) {
            return Err(ResponseError::UnknownSubscriptionId);
        }
        let Some(codec) = codec(push.compression) else {
            return Err(ResponseError::UnsupportedCompressionType);
        };
        let max_bytes = usize::try_from(sub.telemetry_max_bytes).unwrap_or(0);
        if push.metrics.len() > max_bytes {
            return Err(ResponseError::TelemetryTooLarge);
        }
        let raw = moldau_protocol::compression::decompress(
            codec,
            push.metrics,
            max_bytes.saturating_mul(DECOMPRESSION_RATIO_MAX),
        )
        .map_err(|_| ResponseError::InvalidRecord)?;
        let points = decode_metrics_data(&raw).map_err(|_| ResponseError::InvalidRecord)?;
        let mut instances = self.instances.lock();
        let expiry_ms = i64::from(sub.push_interval_ms) * EXPIRY_INTERVALS;
        instances.retain(|_, i| push.now_ms - i.last_push_ms <= expiry_ms);
        if !instances.contains_key(&push.instance) && instances.len() >= CLIENT_INSTANCES_MAX {
            let oldest = instances
                .iter()
                .min_by_key(|(_, i)| i.last_push_ms)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                instances.remove(&id);
            }
        }
        instances.insert(
            push.instance,
            Instance {
                client_id: push.client_id.to_string(),
                last_push_ms: push.now_ms,
                points,
            },
        );
        assert!(instances.len() <= CLIENT_INSTANCES_MAX);
        Ok(())
    }

    /// (client id, client instance id) of every instance whose metrics are kept.
    pub fn client_ids(&self) -> Vec<(String, uuid::Uuid)> {
        let instances = self.instances.lock();
        let mut v: Vec<_> = instances
            .iter()
            .map(|(id, i)| (i.client_id.clone(), *id))
            .collect();
        v.sort();
        v
    }

    /// The latest points of every instance whose client id is `client_id`, by
    /// instance id; for the console's view of a group's members.
    pub fn points_of_client(&self, client_id: &str) -> Vec<(uuid::Uuid, Vec<OtlpPoint>)> {
        let instances = self.instances.lock();
        let mut v: Vec<_> = instances
            .iter()
            .filter(|(_, i)| i.client_id == client_id)
            .map(|(id, i)| (*id, i.points.clone()))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// Every kept point as a Prometheus gauge `kafka_client_<metric name>` with the
    /// labels client_id, client_instance_id and the point's attributes.
    pub fn write_prometheus(&self, out: &mut String) {
        let instances = self.instances.lock();
        let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, instance) in instances.iter() {
            for p in &instance.points {
                let mut labels = format!(
                    "client_id=\"{}\",client_instance_id=\"{id}\"",
                    escape_label(&instance.client_id)
                );
                for (k, v) in &p.attributes {
                    let _ = write!(labels, ",{}=\"{}\"", sanitize(k), escape_label(v));
                }
                let family = format!("kafka_client_{}", sanitize(&p.name));
                families
                    .entry(family.clone())
                    .or_default()
                    .push(format!("{family}{{{labels}}} {}", p.value));
            }
        }
        for (family, lines) in families {
            header(out, &family, "gauge", "Pushed by Kafka clients (KIP-714).");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
    }
}

/// A metric or label name Prometheus accepts: `[a-zA-Z0-9_]`, not starting with a digit.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub() -> Subscription {
        Subscription {
            metrics: vec!["org.apache.kafka.".into()],
            push_interval_ms: 1000,
            telemetry_max_bytes: 100,
        }
    }

    fn push<'a>(instance: uuid::Uuid, subscription_id: i32, metrics: &'a [u8]) -> Push<'a> {
        Push {
            instance,
            client_id: "c",
            subscription_id,
            compression: 0,
            metrics,
            now_ms: 0,
        }
    }

    #[test]
    fn refusals_are_kafkas_error_codes() {
        let t = ClientTelemetry::default();
        let s = sub();
        let id = uuid::Uuid::from_bytes([1; 16]);
        let good = s.id_for(&id);
        assert_eq!(
            t.push(&s, push(uuid::Uuid::nil(), good, b"")),
            Err(ResponseError::InvalidRequest)
        );
        assert_eq!(
            t.push(&s, push(id, good.wrapping_add(1), b"")),
            Err(ResponseError::UnknownSubscriptionId)
        );
        assert_eq!(
            t.push(&s, push(id, good, &[0u8; 101])),
            Err(ResponseError::TelemetryTooLarge)
        );
        let mut bad_codec = push(id, good, b"");
        bad_codec.compression = 9;
        assert_eq!(
            t.push(&s, bad_codec),
            Err(ResponseError::UnsupportedCompressionType)
        );
        assert_eq!(
            t.push(&s, push(id, good, &[0xff])),
            Err(ResponseError::InvalidRecord)
        );
        assert_eq!(t.push(&s, push(id, good, b"")), Ok(()));
        assert_eq!(t.client_ids(), vec![("c".to_string(), id)]);
    }

    #[test]
    fn subscription_ids_differ_by_instance_and_config() {
        let s = sub();
        let a = uuid::Uuid::from_bytes([1; 16]);
        let b = uuid::Uuid::from_bytes([2; 16]);
        assert_ne!(s.id_for(&a), s.id_for(&b));
        let mut other = sub();
        other.push_interval_ms = 2000;
        assert_ne!(s.id_for(&a), other.id_for(&a));
    }

    #[test]
    fn names_become_prometheus_names() {
        assert_eq!(
            sanitize("org.apache.kafka.producer.record.queue.time.avg"),
            "org_apache_kafka_producer_record_queue_time_avg"
        );
        assert_eq!(sanitize("1x"), "_1x");
    }
}
