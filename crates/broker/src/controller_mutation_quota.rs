//! Kafka's controller mutation quota (KIP-599): `controller_mutation_rate` limits how
//! many partitions a (user, client id) creates or deletes per second through
//! CreateTopics, CreatePartitions and DeleteTopics. Each client has a token bucket of
//! partitions that refills at the quota and holds at most the quota's whole window; a
//! request may take it below zero, and the client then waits until it is back at zero.
//! Strict request versions (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+)
//! are refused THROTTLING_QUOTA_EXCEEDED while the bucket is below zero; older ones
//! are carried out and only throttled.

use crate::client_quota_manager::{resolve_quota, TRACKED_CLIENTS_MAX};
use moldau_metadata::client_quotas::CONTROLLER_MUTATION_RATE;
use moldau_metadata::MetadataImage;
use std::collections::HashMap;
use std::sync::Mutex;

/// Kafka's `controller.quota.window.num` default.
pub const MUTATION_WINDOW_SAMPLES: u64 = 11;
/// Kafka's `controller.quota.window.size.seconds` default, in milliseconds.
pub const MUTATION_WINDOW_SIZE_MS: u64 = 1000;

/// Partitions a full bucket holds for `quota` partitions per second.
fn burst(quota_per_sec: f64) -> f64 {
    quota_per_sec * (MUTATION_WINDOW_SAMPLES * MUTATION_WINDOW_SIZE_MS) as f64 / 1000.0
}

/// One client's remaining partitions.
#[derive(Debug, Clone, Copy)]
struct MutationCredit {
    tokens: f64,
    last_ms: u64,
}

impl MutationCredit {
    fn full(quota_per_sec: f64, now_ms: u64) -> Self {
        MutationCredit {
            tokens: burst(quota_per_sec),
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, quota_per_sec: f64, now_ms: u64) {
        let elapsed_ms = now_ms.saturating_sub(self.last_ms);
        self.tokens =
            (self.tokens + quota_per_sec * elapsed_ms as f64 / 1000.0).min(burst(quota_per_sec));
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// How long (ms) until the bucket is back at zero.
    fn throttle_ms(&self, quota_per_sec: f64) -> u64 {
        if self.tokens >= 0.0 {
            return 0;
        }
        (-self.tokens / quota_per_sec * 1000.0).ceil() as u64
    }
}

/// The controller mutation credit of the clients that have such a quota.
#[derive(Default)]
pub struct ControllerMutationQuotas {
    credits: Mutex<HashMap<(String, String), MutationCredit>>,
}

impl ControllerMutationQuotas {
    pub fn new() -> Self {
        Self::default()
    }

    /// The quota that applies to (user, client id), partitions per second.
    fn quota(image: &MetadataImage, user: &str, client_id: &str) -> Option<f64> {
        if image.client_quotas().is_empty() {
            return None;
        }
        resolve_quota(
            image.client_quotas(),
            user,
            client_id,
            CONTROLLER_MUTATION_RATE,
        )
    }

    /// Runs `f` on the client's refilled credit; None when no quota applies.
    fn with_credit<T>(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        now_ms: u64,
        f: impl FnOnce(&mut MutationCredit, f64) -> T,
    ) -> Option<T> {
        let quota = Self::quota(image, user, client_id)?;
        let mut credits = self.credits.lock().ok()?;
        let key = (user.to_string(), client_id.to_string());
        if !credits.contains_key(&key) && credits.len() >= TRACKED_CLIENTS_MAX {
            // A client whose bucket has refilled is the same as one never seen.
            credits.retain(|_, c| {
                let mut c = *c;
                c.refill(quota, now_ms);
                c.tokens < burst(quota)
            });
            if credits.len() >= TRACKED_CLIENTS_MAX {
                if let Some(oldest) = credits
                    .iter()
                    .min_by_key(|(_, c)| c.last_ms)
                    .map(|(k, _)| k.clone())
                {
                    credits.remove(&oldest);
                }
            }
        }
        let credit = credits
            .entry(key)
            .or_insert_with(|| MutationCredit::full(quota, now_ms));
        credit.refill(quota, now_ms);
        Some(f(credit, quota))
    }

    /// For a strict request: Err(throttle time in ms) while the client's credit is
    /// below zero, when its mutations are refused.
    pub fn check(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        now_ms: u64,
    ) -> Result<(), u64> {
        match self.with_credit(image, user, client_id, now_ms, |c, q| c.throttle_ms(q)) {
            Some(throttle_ms) if throttle_ms > 0 => Err(throttle_ms),
            _ => Ok(()),
        }
    }

    /// Counts `partitions` created or deleted by the client.
    pub fn record(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        partitions: u64,
        now_ms: u64,
    ) {
        self.with_credit(image, user, client_id, now_ms, |c, _| {
            c.tokens -= partitions as f64;
        });
    }

    /// How long (ms) the client must wait for its credit to be back at zero; 0 when
    /// it is not over its quota or has none.
    pub fn throttle_ms(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        now_ms: u64,
    ) -> u64 {
        self.with_credit(image, user, client_id, now_ms, |c, q| c.throttle_ms(q))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_quota_manager::ANONYMOUS_USER;
    use moldau_metadata::client_quotas::ENTITY_CLIENT_ID;
    use moldau_metadata::{ClientQuotaChange, MetadataRecord, QuotaEntityPart};

    fn image_with_quota(client: &str, partitions_per_sec: f64) -> MetadataImage {
        crate::test_images::image_of(&[MetadataRecord::ClientQuota(ClientQuotaChange {
            entity: vec![QuotaEntityPart {
                entity_type: ENTITY_CLIENT_ID.to_string(),
                name: Some(client.to_string()),
            }],
            key: CONTROLLER_MUTATION_RATE.to_string(),
            value: partitions_per_sec,
            remove: false,
        })])
    }

    #[test]
    fn a_request_may_go_over_and_the_next_waits_until_the_credit_is_back() {
        let image = image_with_quota("admin", 2.0);
        let quotas = ControllerMutationQuotas::new();
        let u = ANONYMOUS_USER;
        // A full bucket holds 22 partitions (2/s over 11 s); 30 take it to -8.
        assert_eq!(quotas.check(&image, u, "admin", 0), Ok(()));
        quotas.record(&image, u, "admin", 30, 0);
        assert_eq!(quotas.throttle_ms(&image, u, "admin", 0), 4000);
        assert_eq!(quotas.check(&image, u, "admin", 1000), Err(3000));
        // Refilled at 2 per second, it is back at zero after 4 s.
        assert_eq!(quotas.check(&image, u, "admin", 4000), Ok(()));
        assert_eq!(quotas.throttle_ms(&image, u, "admin", 4000), 0);
    }

    #[test]
    fn clients_without_the_quota_are_never_throttled() {
        let image = image_with_quota("admin", 1.0);
        let quotas = ControllerMutationQuotas::new();
        quotas.record(&image, ANONYMOUS_USER, "other", 1000, 0);
        assert_eq!(quotas.check(&image, ANONYMOUS_USER, "other", 0), Ok(()));
        assert_eq!(quotas.throttle_ms(&image, ANONYMOUS_USER, "other", 0), 0);
        let none = MetadataImage::new();
        quotas.record(&none, ANONYMOUS_USER, "admin", 1000, 0);
        assert_eq!(quotas.throttle_ms(&none, ANONYMOUS_USER, "admin", 0), 0);
    }

    #[test]
    fn a_bucket_never_holds_more_than_the_window() {
        let image = image_with_quota("admin", 1.0);
        let quotas = ControllerMutationQuotas::new();
        // Idle for an hour: still only 11 partitions of credit.
        quotas.record(&image, ANONYMOUS_USER, "admin", 0, 0);
        quotas.record(&image, ANONYMOUS_USER, "admin", 12, 3_600_000);
        assert_eq!(
            quotas.throttle_ms(&image, ANONYMOUS_USER, "admin", 3_600_000),
            1000
        );
    }
}
