//! What the console remembers between requests: throughput rates for the overview's
//! live chart (the last [`THROUGHPUT_SAMPLES_MAX`] samples) and each group's total
//! lag for its lag chart (the last hour). Kept in memory by the broker process: a
//! restart starts the charts afresh, as Kafka's JMX rates do.

use moldau_broker::metrics::TrafficTotals;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// How often traffic counters are sampled into rates.
pub const THROUGHPUT_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Throughput samples kept: ten minutes at one per five seconds.
pub const THROUGHPUT_SAMPLES_MAX: usize = 120;
/// How often every group's lag is sampled.
pub const LAG_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
/// Lag samples kept per group: one hour at one per ten seconds.
pub const LAG_SAMPLES_MAX: usize = 360;

/// Per-second rates over one sampling interval.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Rates {
    pub bytes_in_per_sec: f64,
    pub bytes_out_per_sec: f64,
    pub records_in_per_sec: f64,
    pub records_out_per_sec: f64,
}

impl Rates {
    /// Rates between two readings `elapsed_ms` apart; counters that went down (a
    /// deleted topic's) count as zero.
    fn between(before: &TrafficTotals, after: &TrafficTotals, elapsed_ms: i64) -> Rates {
        if elapsed_ms <= 0 {
            return Rates::default();
        }
        let per_sec = |a: u64, b: u64| b.saturating_sub(a) as f64 * 1000.0 / elapsed_ms as f64;
        Rates {
            bytes_in_per_sec: per_sec(before.bytes_in, after.bytes_in),
            bytes_out_per_sec: per_sec(before.bytes_out, after.bytes_out),
            records_in_per_sec: per_sec(before.records_in, after.records_in),
            records_out_per_sec: per_sec(before.records_out, after.records_out),
        }
    }
}

/// Rates over the interval ending at `t` (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct RateSample {
    pub t: i64,
    #[serde(flatten)]
    pub rates: Rates,
}

/// A group's total lag at `t`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct LagSample {
    pub t: i64,
    pub lag: i64,
    pub time_lag_ms: i64,
}

#[derive(Default)]
struct Traffic {
    last: Option<(i64, TrafficTotals)>,
    last_topics: HashMap<String, TrafficTotals>,
    samples: VecDeque<RateSample>,
    topic_rates: HashMap<String, Rates>,
}

/// The console's memory.
#[derive(Default)]
pub struct History {
    traffic: Mutex<Traffic>,
    lag: Mutex<HashMap<String, VecDeque<LagSample>>>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a reading of the traffic counters at `now_ms`.
    pub fn record_traffic(
        &self,
        now_ms: i64,
        totals: TrafficTotals,
        per_topic: Vec<(String, TrafficTotals)>,
    ) {
        let mut t = self.traffic.lock();
        if let Some((then, before)) = t.last {
            let elapsed = now_ms - then;
            let rates = Rates::between(&before, &totals, elapsed);
            t.samples.push_back(RateSample { t: now_ms, rates });
            while t.samples.len() > THROUGHPUT_SAMPLES_MAX {
                t.samples.pop_front();
            }
            let mut topic_rates = HashMap::with_capacity(per_topic.len());
            for (name, after) in &per_topic {
                let before = t.last_topics.get(name).copied().unwrap_or_default();
                topic_rates.insert(name.clone(), Rates::between(&before, after, elapsed));
            }
            t.topic_rates = topic_rates;
        }
        t.last = Some((now_ms, totals));
        t.last_topics = per_topic.into_iter().collect();
    }

    /// Every rate sample kept, oldest first.
    pub fn throughput(&self) -> Vec<RateSample> {
        self.traffic.lock().samples.iter().copied().collect()
    }

    /// The latest cluster-wide rates (zero before two readings).
    pub fn current_rates(&self) -> Rates {
        self.traffic
            .lock()
            .samples
            .back()
            .map(|s| s.rates)
            .unwrap_or_default()
    }

    /// The latest rates of one topic.
    pub fn topic_rates(&self, topic: &str) -> Rates {
        self.traffic
            .lock()
            .topic_rates
            .get(topic)
            .copied()
            .unwrap_or_default()
    }

    /// Adds a lag reading for `group`.
    pub fn record_lag(&self, group: &str, sample: LagSample) {
        let mut lag = self.lag.lock();
        let series = lag.entry(group.to_string()).or_default();
        series.push_back(sample);
        while series.len() > LAG_SAMPLES_MAX {
            series.pop_front();
        }
    }

    /// Drops the lag history of groups that no longer exist.
    pub fn retain_groups(&self, live: &HashSet<String>) {
        self.lag.lock().retain(|g, _| live.contains(g));
    }

    /// The lag history of `group`, oldest first.
    pub fn lag_history(&self, group: &str) -> Vec<LagSample> {
        self.lag
            .lock()
            .get(group)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(bytes_in: u64, records_in: u64) -> TrafficTotals {
        TrafficTotals {
            bytes_in,
            records_in,
            bytes_out: 0,
            records_out: 0,
        }
    }

    #[test]
    fn rates_come_from_consecutive_readings() {
        let h = History::new();
        h.record_traffic(1_000, totals(0, 0), vec![("a".into(), totals(0, 0))]);
        assert!(h.throughput().is_empty());
        assert_eq!(h.current_rates(), Rates::default());
        h.record_traffic(
            3_000,
            totals(2_000, 10),
            vec![("a".into(), totals(2_000, 10))],
        );
        let r = h.current_rates();
        assert_eq!(r.bytes_in_per_sec, 1_000.0);
        assert_eq!(r.records_in_per_sec, 5.0);
        assert_eq!(h.topic_rates("a").bytes_in_per_sec, 1_000.0);
        assert_eq!(h.topic_rates("nope"), Rates::default());
        // A deleted topic's counters vanish: the total goes down, the rate is zero.
        h.record_traffic(4_000, totals(500, 2), vec![]);
        assert_eq!(h.current_rates().bytes_in_per_sec, 0.0);
        assert_eq!(h.throughput().len(), 2);
    }

    #[test]
    fn throughput_keeps_a_bounded_window() {
        let h = History::new();
        for i in 0..(THROUGHPUT_SAMPLES_MAX as i64 + 10) {
            h.record_traffic(i * 1000, totals(i as u64, 0), vec![]);
        }
        let samples = h.throughput();
        assert_eq!(samples.len(), THROUGHPUT_SAMPLES_MAX);
        assert_eq!(
            samples.last().map(|s| s.t),
            Some((THROUGHPUT_SAMPLES_MAX as i64 + 9) * 1000)
        );
    }

    #[test]
    fn lag_history_is_bounded_and_forgets_dead_groups() {
        let h = History::new();
        for i in 0..(LAG_SAMPLES_MAX as i64 + 5) {
            h.record_lag(
                "g",
                LagSample {
                    t: i,
                    lag: 100 - i,
                    time_lag_ms: 0,
                },
            );
        }
        h.record_lag(
            "old",
            LagSample {
                t: 0,
                lag: 1,
                time_lag_ms: 0,
            },
        );
        let g = h.lag_history("g");
        assert_eq!(g.len(), LAG_SAMPLES_MAX);
        assert_eq!(g[0].t, 5);
        h.retain_groups(&HashSet::from(["g".to_string()]));
        assert!(h.lag_history("old").is_empty());
        assert_eq!(h.lag_history("g").len(), LAG_SAMPLES_MAX);
    }
}
