//! Kafka's windowed rate for client quotas (KIP-13): bytes are counted in
//! `quota.window.num` samples of `quota.window.size.seconds` each; the rate is their
//! sum over the time they cover, never less than all samples but one (so a new
//! client is not throttled for its first burst). Over the quota, the throttle time is
//! how long the client must stay silent for the rate to fall back to the quota.

use std::collections::VecDeque;

/// Kafka's `quota.window.num` default.
pub const QUOTA_WINDOW_SAMPLES: usize = 11;
/// Kafka's `quota.window.size.seconds` default, in milliseconds.
pub const QUOTA_WINDOW_SIZE_MS: u64 = 1000;

/// One client's byte rate over the last samples.
#[derive(Debug, Clone)]
pub struct QuotaRate {
    /// (sample start in ms, bytes counted in it), oldest first.
    samples: VecDeque<(u64, u64)>,
    samples_max: usize,
    sample_ms: u64,
}

impl Default for QuotaRate {
    fn default() -> Self {
        QuotaRate::new(QUOTA_WINDOW_SAMPLES, QUOTA_WINDOW_SIZE_MS)
    }
}

impl QuotaRate {
    pub fn new(samples_max: usize, sample_ms: u64) -> Self {
        assert!(
            samples_max >= 2 && sample_ms > 0,
            "a rate needs samples of some length"
        );
        QuotaRate {
            samples: VecDeque::with_capacity(samples_max),
            samples_max,
            sample_ms,
        }
    }

    /// Counts `bytes` at `now_ms`.
    pub fn record(&mut self, now_ms: u64, bytes: u64) {
        self.expire(now_ms);
        match self.samples.back_mut() {
            Some((start, total)) if now_ms < *start + self.sample_ms => {
                *total = total.saturating_add(bytes)
            }
            _ => {
                if self.samples.len() == self.samples_max {
                    self.samples.pop_front();
                }
                self.samples.push_back((now_ms, bytes));
            }
        }
    }

    /// Takes back `amount` counted at `now_ms` (in the sample that covers it).
    pub fn unrecord(&mut self, now_ms: u64, amount: u64) {
        if let Some((start, total)) = self.samples.back_mut() {
            if *start <= now_ms && now_ms < *start + self.sample_ms {
                *total = total.saturating_sub(amount);
            }
        }
    }

    /// Forgets samples older than the whole window.
    fn expire(&mut self, now_ms: u64) {
        let span_ms = self.sample_ms * self.samples_max as u64;
        while let Some((start, _)) = self.samples.front() {
            if now_ms.saturating_sub(*start) >= span_ms {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// The time the rate is measured over, in ms: since the oldest sample began,
    /// but at least `samples_max - 1` whole samples (Kafka's `windowSize`).
    fn window_ms(&self, now_ms: u64) -> u64 {
        let elapsed = self
            .samples
            .front()
            .map_or(0, |(start, _)| now_ms.saturating_sub(*start));
        let floor = (self.samples_max as u64 - 1) * self.sample_ms;
        elapsed.max(floor)
    }

    /// Bytes per second at `now_ms`.
    pub fn rate_per_sec(&mut self, now_ms: u64) -> f64 {
        self.expire(now_ms);
        let total: u64 = self.samples.iter().map(|(_, b)| *b).sum();
        total as f64 * 1000.0 / self.window_ms(now_ms) as f64
    }

    /// How long (ms) the client must be held back for its rate to fall to
    /// `quota_per_sec`; 0 when it is within the quota.
    pub fn throttle_ms(&mut self, now_ms: u64, quota_per_sec: f64) -> u64 {
        assert!(quota_per_sec > 0.0, "a quota is positive");
        let rate = self.rate_per_sec(now_ms);
        if rate <= quota_per_sec {
            return 0;
        }
        let over = (rate - quota_per_sec) / quota_per_sec;
        (over * self.window_ms(now_ms) as f64).ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_quota_is_not_throttled() {
        let mut r = QuotaRate::default();
        // 100 bytes every 100 ms (1000 bytes/s) for 30 s against 1100 bytes/s: the
        // newest sample's bytes arrive before its time has passed, hence the margin.
        for step in 0..300 {
            r.record(step * 100, 100);
            assert_eq!(r.throttle_ms(step * 100, 1100.0), 0, "step {step}");
        }
        assert!(r.throttle_ms(30_000, 900.0) > 0, "but over 900 bytes/s");
    }

    #[test]
    fn a_first_burst_is_measured_over_the_whole_window() {
        let mut r = QuotaRate::default();
        r.record(0, 5000);
        // 5000 bytes over at least 10 s: 500 bytes/s.
        assert_eq!(r.rate_per_sec(0), 500.0);
        assert_eq!(r.throttle_ms(0, 500.0), 0);
    }

    #[test]
    fn over_the_quota_waits_until_the_rate_is_back() {
        let mut r = QuotaRate::default();
        r.record(0, 20_000);
        // 2000 bytes/s over 10 s against 1000: twice the quota, so as long again
        // (Kafka's formula: (rate - quota) / quota * window).
        assert_eq!(r.throttle_ms(0, 1000.0), 10_000);
        // Silent while it is held back, the burst leaves the window.
        assert_eq!(r.throttle_ms(11_000, 1000.0), 0);
    }

    #[test]
    fn what_is_taken_back_no_longer_counts() {
        let mut r = QuotaRate::default();
        r.record(0, 5000);
        r.record(10, 20_000);
        r.unrecord(10, 20_000);
        assert_eq!(r.rate_per_sec(10), 500.0);
        r.unrecord(5000, 1000);
        assert_eq!(r.rate_per_sec(10), 500.0, "no sample covers that time");
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut r = QuotaRate::new(3, 1000);
        r.record(0, 9000);
        r.record(1000, 0);
        r.record(2000, 0);
        assert!(r.rate_per_sec(2000) > 0.0);
        r.record(3000, 0);
        assert_eq!(r.rate_per_sec(3000), 0.0, "the first sample is gone");
    }
}
