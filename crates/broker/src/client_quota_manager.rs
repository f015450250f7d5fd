//! Enforces the stored client quotas on windowed rates: each (user, client id) has
//! one for produce bytes and one for fetch bytes (KIP-13), and one for the handler
//! time of its requests (KIP-124); the quota that applies is resolved from the
//! metadata image with Kafka's precedence, and a client over it is told how long to
//! back off (`throttle_time_ms`) and held back that long.

use crate::quota_rate::QuotaRate;
use moldau_metadata::client_quotas::{
    CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, ENTITY_CLIENT_ID, ENTITY_USER,
    PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE,
};
use moldau_metadata::{MetadataImage, QuotaEntity, QuotaEntityPart};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The user of a client that did not authenticate.
pub const ANONYMOUS_USER: &str = moldau_security::principal::ANONYMOUS_NAME;
/// Rates kept at most; beyond this, idle ones are dropped first.
pub const TRACKED_CLIENTS_MAX: usize = 10_000;
/// The longest a client is held back at once: the whole quota window, as Kafka
/// bounds it (a longer wait would outlast the samples it is based on).
pub const THROTTLE_MS_MAX: u64 =
    crate::quota_rate::QUOTA_WINDOW_SAMPLES as u64 * crate::quota_rate::QUOTA_WINDOW_SIZE_MS;
/// The longest a client over its request quota is held back at once: one sample of
/// the window, as Kafka bounds it (`quota.window.size.seconds`).
pub const REQUEST_THROTTLE_MS_MAX: u64 = crate::quota_rate::QUOTA_WINDOW_SIZE_MS;
/// A rate unused this long has left its whole window and is dropped.
pub const IDLE_RATE_MS: u64 = 60_000;
/// Handler nanoseconds per second that one percent of `request_percentage` allows:
/// 100 percent is one thread kept busy the whole time.
pub const REQUEST_NANOS_PER_SEC_PER_PERCENT: f64 = 1e9 / 100.0;

/// Which traffic a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// Bytes appended.
    Produce,
    /// Bytes sent.
    Fetch,
    /// Nanoseconds of request handling.
    Request,
}

impl QuotaKind {
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => CONSUMER_BYTE_RATE,
            QuotaKind::Request => REQUEST_PERCENTAGE,
        }
    }

    /// The stored quota as a rate of this kind's unit per second.
    fn per_sec(self, quota: f64) -> f64 {
        match self {
            QuotaKind::Produce | QuotaKind::Fetch => quota,
            QuotaKind::Request => quota * REQUEST_NANOS_PER_SEC_PER_PERCENT,
        }
    }

    fn throttle_ms_max(self) -> u64 {
        match self {
            QuotaKind::Produce | QuotaKind::Fetch => THROTTLE_MS_MAX,
            QuotaKind::Request => REQUEST_THROTTLE_MS_MAX,
        }
    }
}

struct TrackedRate {
    rate: QuotaRate,
    last_used_ms: u64,
}

/// The byte rates of the clients that have a quota.
#[derive(Default)]
pub struct ClientQuotaManager {
    rates: Mutex<HashMap<(QuotaKind, String, String), TrackedRate>>,
}

fn part(entity_type: &str, name: Option<&str>) -> QuotaEntityPart {
    QuotaEntityPart {
        entity_type: entity_type.to_string(),
        name: name.map(str::to_string),
    }
}

/// The entities that may hold a (user, client id)'s quota, most specific first:
/// Kafka's order (user/client-id, user/default client-id, user, default user/client-id,
/// default user/default client-id, default user, client-id, default client-id).
fn candidate_entities(user: &str, client_id: &str) -> [QuotaEntity; 8] {
    let pair = |u: Option<&str>, c: Option<&str>| {
        // Entities are stored with their parts ordered by type: client-id, user.
        vec![part(ENTITY_CLIENT_ID, c), part(ENTITY_USER, u)]
    };
    [
        pair(Some(user), Some(client_id)),
        pair(Some(user), None),
        vec![part(ENTITY_USER, Some(user))],
        pair(None, Some(client_id)),
        pair(None, None),
        vec![part(ENTITY_USER, None)],
        vec![part(ENTITY_CLIENT_ID, Some(client_id))],
        vec![part(ENTITY_CLIENT_ID, None)],
    ]
}

/// The quota `key` that applies to (user, client id), if any.
pub fn resolve_quota(
    quotas: &BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    user: &str,
    client_id: &str,
    key: &str,
) -> Option<f64> {
    candidate_entities(user, client_id)
        .iter()
        .find_map(|entity| quotas.get(entity).and_then(|values| values.get(key)))
        .copied()
        .filter(|quota| *quota > 0.0)
}

impl ClientQuotaManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `bytes` (nanoseconds for [`QuotaKind::Request`]) of `kind` traffic for
    /// (user, client id) and returns how long (ms) the client must be held back; 0
    /// when no quota applies or it is within it.
    pub fn record(
        &self,
        image: &MetadataImage,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
        bytes: u64,
        now_ms: u64,
    ) -> u64 {
        // The common case, no quota at all, costs one map check and no lock.
        if image.client_quotas().is_empty() {
            return 0;
        }
        let Some(quota) = resolve_quota(image.client_quotas(), user, client_id, kind.key()) else {
            return 0;
        };
        let Ok(mut rates) = self.rates.lock() else {
            return 0;
        };
        let key = (kind, user.to_string(), client_id.to_string());
        if !rates.contains_key(&key) && rates.len() >= TRACKED_CLIENTS_MAX {
            rates.retain(|_, t| now_ms.saturating_sub(t.last_used_ms) < IDLE_RATE_MS);
            if rates.len() >= TRACKED_CLIENTS_MAX {
                // All busy: forget the least recently used one.
                if let Some(oldest) = rates
                    .iter()
                    .min_by_key(|(_, t)| t.last_used_ms)
                    .map(|(k, _)| k.clone())
                {
                    rates.remove(&oldest);
                }
            }
        }
        let tracked = rates.entry(key).or_insert_with(|| TrackedRate {
            rate: QuotaRate::default(),
            last_used_ms: now_ms,
        });
        tracked.last_used_ms = now_ms;
        tracked.rate.record(now_ms, bytes);
        tracked
            .rate
            .throttle_ms(now_ms, kind.per_sec(quota))
            .min(kind.throttle_ms_max())
    }

    /// Takes back `bytes` counted by [`Self::record`] at `now_ms` that were not sent
    /// after all (a throttled Fetch is answered empty, as in Kafka).
    pub fn unrecord(&self, kind: QuotaKind, user: &str, client_id: &str, bytes: u64, now_ms: u64) {
        let Ok(mut rates) = self.rates.lock() else {
            return;
        };
        if let Some(tracked) = rates.get_mut(&(kind, user.to_string(), client_id.to_string())) {
            tracked.rate.unrecord(now_ms, bytes);
        }
    }

    /// [`Self::record`] for a request's client (its principal's name and client id), now.
    pub fn record_request(
        &self,
        image: &MetadataImage,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
        bytes: u64,
    ) -> u64 {
        if image.client_quotas().is_empty() {
            return 0;
        }
        let now_ms = u64::try_from(crate::clock::now_ms()).unwrap_or(0);
        self.record(image, kind, user, client_id, bytes, now_ms)
    }

    /// True when some enforced quota applies to (user, client id): its connection is
    /// then served one request at a time, so a throttle holds back the next request.
    pub fn limits(image: &MetadataImage, user: &str, client_id: &str) -> bool {
        let quotas = image.client_quotas();
        !quotas.is_empty()
            && [
                PRODUCER_BYTE_RATE,
                CONSUMER_BYTE_RATE,
                CONTROLLER_MUTATION_RATE,
                REQUEST_PERCENTAGE,
            ]
            .iter()
            .any(|key| resolve_quota(quotas, user, client_id, key).is_some())
    }

    /// True when a request quota applies to (user, client id): its requests' handler
    /// time is then measured.
    pub fn limits_requests(image: &MetadataImage, user: &str, client_id: &str) -> bool {
        let quotas = image.client_quotas();
        !quotas.is_empty() && resolve_quota(quotas, user, client_id, REQUEST_PERCENTAGE).is_some()
    }

    /// How many rates are kept.
    pub fn tracked(&self) -> usize {
        self.rates.lock().map_or(0, |r| r.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        let mut e = Vec::new();
        if let Some(c) = client {
            e.push(part(ENTITY_CLIENT_ID, c));
        }
        if let Some(u) = user {
            e.push(part(ENTITY_USER, u));
        }
        e
    }

    #[test]
    fn the_most_specific_entity_wins_in_kafkas_order() {
        // Every level set, each with its own value: removing the winner each time
        // must reveal the next one in Kafka's order.
        let levels = [
            entity(Some(Some("u")), Some(Some("c"))),
            entity(Some(Some("u")), Some(None)),
            entity(Some(Some("u")), None),
            entity(Some(None), Some(Some("c"))),
            entity(Some(None), Some(None)),
            entity(Some(None), None),
            entity(None, Some(Some("c"))),
            entity(None, Some(None)),
        ];
        let mut quotas = BTreeMap::new();
        for (i, e) in levels.iter().enumerate() {
            let values = BTreeMap::from([(PRODUCER_BYTE_RATE.to_string(), (i + 1) as f64)]);
            quotas.insert(e.clone(), values);
        }
        for (i, e) in levels.iter().enumerate() {
            assert_eq!(
                resolve_quota(&quotas, "u", "c", PRODUCER_BYTE_RATE),
                Some((i + 1) as f64),
                "level {i}"
            );
            quotas.remove(e);
        }
        assert_eq!(resolve_quota(&quotas, "u", "c", PRODUCER_BYTE_RATE), None);
    }

    #[test]
    fn other_names_and_other_keys_do_not_apply() {
        let mut quotas = BTreeMap::new();
        quotas.insert(
            entity(None, Some(Some("slow"))),
            BTreeMap::from([(PRODUCER_BYTE_RATE.to_string(), 100.0)]),
        );
        assert_eq!(
            resolve_quota(&quotas, ANONYMOUS_USER, "fast", PRODUCER_BYTE_RATE),
            None
        );
        assert_eq!(
            resolve_quota(&quotas, ANONYMOUS_USER, "slow", CONSUMER_BYTE_RATE),
            None
        );
        assert_eq!(
            resolve_quota(&quotas, ANONYMOUS_USER, "slow", PRODUCER_BYTE_RATE),
            Some(100.0)
        );
    }

    #[test]
    fn a_key_missing_at_one_level_falls_through_to_the_next() {
        let mut quotas = BTreeMap::new();
        quotas.insert(
            entity(Some(Some("u")), Some(Some("c"))),
            BTreeMap::from([(CONSUMER_BYTE_RATE.to_string(), 5.0)]),
        );
        quotas.insert(
            entity(None, Some(None)),
            BTreeMap::from([(PRODUCER_BYTE_RATE.to_string(), 7.0)]),
        );
        assert_eq!(
            resolve_quota(&quotas, "u", "c", PRODUCER_BYTE_RATE),
            Some(7.0)
        );
        assert_eq!(
            resolve_quota(&quotas, "u", "c", CONSUMER_BYTE_RATE),
            Some(5.0)
        );
    }

    fn image_with_producer_quota(client: &str, bytes_per_sec: f64) -> MetadataImage {
        let record =
            moldau_metadata::MetadataRecord::ClientQuota(moldau_metadata::ClientQuotaChange {
                entity: entity(None, Some(Some(client))),
                key: PRODUCER_BYTE_RATE.to_string(),
                value: bytes_per_sec,
                remove: false,
            });
        crate::test_images::image_of(&[record])
    }

    #[test]
    fn only_a_client_over_its_quota_is_throttled() {
        let image = image_with_producer_quota("slow", 1000.0);
        let quotas = ClientQuotaManager::new();
        let produce = |client, bytes| {
            quotas.record(&image, QuotaKind::Produce, ANONYMOUS_USER, client, bytes, 0)
        };
        // 20 000 bytes over the 10 s floor is twice the quota: as long again.
        assert_eq!(produce("slow", 20_000), THROTTLE_MS_MAX.min(10_000));
        assert_eq!(produce("fast", 1_000_000), 0);
        let fetch = quotas.record(&image, QuotaKind::Fetch, ANONYMOUS_USER, "slow", 1 << 30, 0);
        assert_eq!(fetch, 0, "no consumer quota is set");
        assert_eq!(
            quotas.tracked(),
            1,
            "clients without a quota are not tracked"
        );
        let none = MetadataImage::new();
        assert_eq!(
            quotas.record(
                &none,
                QuotaKind::Produce,
                ANONYMOUS_USER,
                "slow",
                1 << 30,
                0
            ),
            0
        );
    }

    fn image_with_request_quota(client: &str, percent: f64) -> MetadataImage {
        let record =
            moldau_metadata::MetadataRecord::ClientQuota(moldau_metadata::ClientQuotaChange {
                entity: entity(None, Some(Some(client))),
                key: REQUEST_PERCENTAGE.to_string(),
                value: percent,
                remove: false,
            });
        crate::test_images::image_of(&[record])
    }

    #[test]
    fn handler_time_over_the_request_percentage_is_throttled_at_most_one_sample() {
        // 1 percent of a thread is 10 ms of handling a second: 100 ms over the 10 s
        // floor of the window is within it, 150 ms is half as much again.
        let image = image_with_request_quota("busy", 1.0);
        let quotas = ClientQuotaManager::new();
        let ms = 1_000_000;
        let request = |client, nanos, now| {
            quotas.record(
                &image,
                QuotaKind::Request,
                ANONYMOUS_USER,
                client,
                nanos,
                now,
            )
        };
        assert_eq!(request("busy", 100 * ms, 0), 0);
        // (150 - 100) / 100 of the 10 s window is 5 s, bounded by one sample (1 s).
        assert_eq!(request("busy", 50 * ms, 0), REQUEST_THROTTLE_MS_MAX);
        assert_eq!(request("idle", 1000 * ms, 0), 0, "no quota for this one");
        // Just over: (101 - 100) / 100 of 10 s = 100 ms, not bounded.
        let quotas = ClientQuotaManager::new();
        let throttle = quotas.record(
            &image,
            QuotaKind::Request,
            ANONYMOUS_USER,
            "busy",
            101 * ms,
            0,
        );
        assert!((100..=101).contains(&throttle), "{throttle}");
        assert!(ClientQuotaManager::limits_requests(
            &image,
            ANONYMOUS_USER,
            "busy"
        ));
        assert!(ClientQuotaManager::limits(&image, ANONYMOUS_USER, "busy"));
        assert!(!ClientQuotaManager::limits_requests(
            &image,
            ANONYMOUS_USER,
            "idle"
        ));
        // A produce-only quota does not measure handler time.
        let produce_only = image_with_producer_quota("busy", 1000.0);
        assert!(!ClientQuotaManager::limits_requests(
            &produce_only,
            ANONYMOUS_USER,
            "busy"
        ));
    }

    #[test]
    fn bytes_taken_back_no_longer_count() {
        let image = image_with_producer_quota("slow", 1000.0);
        let record =
            moldau_metadata::MetadataRecord::ClientQuota(moldau_metadata::ClientQuotaChange {
                entity: entity(None, Some(Some("slow"))),
                key: CONSUMER_BYTE_RATE.to_string(),
                value: 1000.0,
                remove: false,
            });
        let image = image.apply_batch(&[record], 1).expect("quota applies").0;
        let quotas = ClientQuotaManager::new();
        let fetch =
            |bytes| quotas.record(&image, QuotaKind::Fetch, ANONYMOUS_USER, "slow", bytes, 5);
        assert!(fetch(20_000) > 0);
        quotas.unrecord(QuotaKind::Fetch, ANONYMOUS_USER, "slow", 20_000, 5);
        assert_eq!(fetch(0), 0, "the bytes not sent are not counted");
        assert_eq!(fetch(10_000), 0, "within the quota again");
    }

    #[test]
    fn only_a_client_with_a_quota_is_served_one_request_at_a_time() {
        let image = image_with_producer_quota("slow", 1000.0);
        assert!(ClientQuotaManager::limits(&image, ANONYMOUS_USER, "slow"));
        assert!(!ClientQuotaManager::limits(&image, ANONYMOUS_USER, "fast"));
        assert!(!ClientQuotaManager::limits(
            &MetadataImage::new(),
            ANONYMOUS_USER,
            "slow"
        ));
    }

    #[test]
    fn the_rates_kept_are_bounded() {
        // A default client-id quota applies to every client, so each one is tracked.
        let image = image_with_producer_quota("c", 1000.0);
        let record =
            moldau_metadata::MetadataRecord::ClientQuota(moldau_metadata::ClientQuotaChange {
                entity: entity(None, Some(None)),
                key: PRODUCER_BYTE_RATE.to_string(),
                value: 1000.0,
                remove: false,
            });
        let image = image.apply_batch(&[record], 1).expect("quota applies").0;
        let manager = ClientQuotaManager::new();
        for i in 0..TRACKED_CLIENTS_MAX + 10 {
            let client = format!("client-{i}");
            manager.record(&image, QuotaKind::Produce, "u", &client, 1, i as u64);
        }
        assert_eq!(manager.tracked(), TRACKED_CLIENTS_MAX);
    }
}
