//! The broker's own metrics: request counts and latencies per API, bytes and records
//! in and out per topic, connections, flush latency and group rebalances.
//!
//! Plain atomics and fixed-bucket histograms, so recording costs a few relaxed adds
//! on the request path and nothing allocates after a topic's first record. The
//! console renders them in Prometheus text format ([`Metrics::write_prometheus`]) and
//! adds what it computes at scrape time (partition sizes, group lag).

use crate::request::Deferred;
use moldau_coordinator::GroupResponse;
use moldau_protocol::kafka::messages::ApiKey;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bounds of the latency histogram buckets, in microseconds (Prometheus `le`,
/// printed in seconds). Fetch long-polls wait up to 30 s, hence the long tail.
pub const LATENCY_BUCKET_BOUNDS_MICROS: [u64; 16] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000,
];
/// One slot per API key; Kafka's keys are small integers (below 100 today).
pub const API_KEY_SLOTS: usize = 128;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A latency histogram with the fixed buckets of [`LATENCY_BUCKET_BOUNDS_MICROS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Non-cumulative counts; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKET_BOUNDS_MICROS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A consistent-enough copy of a histogram for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, cumulative count); the last bound is infinity.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BUCKET_BOUNDS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(LATENCY_BUCKET_BOUNDS_MICROS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let bound = LATENCY_BUCKET_BOUNDS_MICROS
                .get(i)
                .map_or(f64::INFINITY, |m| *m as f64 / 1e6);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            // The +Inf bucket is the count, by definition of the format.
            count: cumulative,
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Traffic of one topic through Produce and Fetch.
#[derive(Debug, Default)]
pub struct TopicCounters {
    pub bytes_in: Counter,
    pub records_in: Counter,
    pub bytes_out: Counter,
    pub records_out: Counter,
}

/// Plain numbers of a [`TopicCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    pub bytes_in: u64,
    pub records_in: u64,
    pub bytes_out: u64,
    pub records_out: u64,
}

impl TopicCounters {
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            bytes_in: self.bytes_in.get(),
            records_in: self.records_in.get(),
            bytes_out: self.bytes_out.get(),
            records_out: self.records_out.get(),
        }
    }
}

#[derive(Debug, Default)]
struct ApiMetrics {
    /// Requests that ended with the connection being closed instead of answered.
    failed: Counter,
    latency: Histogram,
}

/// Every metric the broker records itself. One per broker, shared by all tasks.
#[derive(Debug)]
pub struct Metrics {
    apis: Vec<ApiMetrics>,
    topics: RwLock<HashMap<String, Arc<TopicCounters>>>,
    connections_open: AtomicI64,
    pub connections_accepted: Counter,
    /// Connections closed at once for being over `max.connections.per.ip`.
    pub connections_refused: Counter,
    /// From an append to its fsync being done (group-commit queueing included).
    pub flush_latency: Histogram,
    /// Rebalances completed: one per generation whose join phase finished.
    pub group_rebalances: Counter,
    /// Metrics clients pushed (KIP-714).
    pub client_telemetry: crate::client_telemetry::ClientTelemetry,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            apis: (0..API_KEY_SLOTS).map(|_| ApiMetrics::default()).collect(),
            topics: RwLock::new(HashMap::new()),
            connections_open: AtomicI64::new(0),
            connections_accepted: Counter::default(),
            connections_refused: Counter::default(),
            flush_latency: Histogram::default(),
            group_rebalances: Counter::default(),
            client_telemetry: Default::default(),
        }
    }
}

/// Keeps the open-connection gauge up while alive.
pub struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn api_slot(api_key: ApiKey) -> usize {
    (api_key as i16).max(0) as usize
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps a request's deferred part so its latency, from `started` (when its frame
    /// was decoded) to its response being ready, lands in the API's histogram.
    pub fn time_request(
        self: &Arc<Self>,
        api_key: ApiKey,
        started: Instant,
        deferred: Deferred,
    ) -> Deferred {
        let metrics = Arc::clone(self);
        Box::pin(async move {
            let result = deferred.await;
            if let Some(api) = metrics.apis.get(api_slot(api_key)) {
                api.latency.observe(started.elapsed());
                if result.is_err() {
                    api.failed.add(1);
                }
            }
            result
        })
    }

    /// Requests of `api_key` answered or failed so far.
    pub fn request_count(&self, api_key: ApiKey) -> u64 {
        self.apis
            .get(api_slot(api_key))
            .map_or(0, |a| a.latency.count())
    }

    /// Counts a new connection until the guard drops.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_accepted.add(1);
        ConnectionGuard(Arc::clone(self))
    }

    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// The counters of `topic`, created on first use.
    pub fn topic(&self, topic: &str) -> Arc<TopicCounters> {
        if let Some(c) = self.topics.read().get(topic) {
            return Arc::clone(c);
        }
        Arc::clone(self.topics.write().entry(topic.to_string()).or_default())
    }

    /// A produce appended `records` records in `bytes` bytes to `topic`.
    pub fn record_produced(&self, topic: &str, bytes: usize, records: i64) {
        let c = self.topic(topic);
        c.bytes_in.add(bytes as u64);
        c.records_in.add(records.max(0) as u64);
    }

    /// A fetch response carries `bytes` of `topic`'s batches holding `records` records
    /// (counted by offsets: the batches are sent from the file, unread).
    pub fn record_fetched(&self, topic: &str, bytes: u64, records: u64) {
        let c = self.topic(topic);
        c.bytes_out.add(bytes);
        c.records_out.add(records);
    }

    /// Drops a deleted topic's counters.
    pub fn forget_topic(&self, topic: &str) {
        self.topics.write().remove(topic);
    }

    /// Per-topic traffic so far, sorted by topic name.
    pub fn topic_totals(&self) -> Vec<(String, TrafficTotals)> {
        let mut out: Vec<(String, TrafficTotals)> = self
            .topics
            .read()
            .iter()
            .map(|(name, c)| (name.clone(), c.totals()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Traffic of every topic added up.
    pub fn traffic_totals(&self) -> TrafficTotals {
        self.topics
            .read()
            .values()
            .map(|c| c.totals())
            .fold(TrafficTotals::default(), |a, b| TrafficTotals {
                bytes_in: a.bytes_in + b.bytes_in,
                records_in: a.records_in + b.records_in,
                bytes_out: a.bytes_out + b.bytes_out,
                records_out: a.records_out + b.records_out,
            })
    }

    /// Sees every reply of the group coordinator: a successful JoinGroup answer to
    /// the leader marks the end of one rebalance's join phase.
    pub fn observe_group_response(&self, response: &GroupResponse) {
        if let GroupResponse::JoinGroup(r) = response {
            if r.error_code == 0 && !r.member_id.is_empty() && r.leader == r.member_id {
                self.group_rebalances.add(1);
            }
        }
    }

    /// Appends the broker's metrics in Prometheus text format (version 0.0.4).
    pub fn write_prometheus(&self, out: &mut String) {
        header(
            out,
            "moldau_requests_total",
            "counter",
            "Kafka requests handled, by API.",
        );
        let used: Vec<(ApiKey, &ApiMetrics)> = ApiKey::iter()
            .filter_map(|k| self.apis.get(api_slot(k)).map(|a| (k, a)))
            .filter(|(_, a)| a.latency.count() > 0)
            .collect();
        for (key, api) in &used {
            let _ = writeln!(
                out,
                "moldau_requests_total{{api=\"{key:?}\"}} {}",
                api.latency.count()
            );
        }
        header(
            out,
            "moldau_request_failures_total",
            "counter",
            "Kafka requests that closed the connection instead of being answered, by API.",
        );
        for (key, api) in &used {
            let _ = writeln!(
                out,
                "moldau_request_failures_total{{api=\"{key:?}\"}} {}",
                api.failed.get()
            );
        }
        header(
            out,
            "moldau_request_duration_seconds",
            "histogram",
            "Time from a request being read to its response being ready, by API.",
        );
        for (key, api) in &used {
            write_histogram(
                out,
                "moldau_request_duration_seconds",
                &format!("api=\"{key:?}\""),
                &api.latency.snapshot(),
            );
        }
        let topics = self.topic_totals();
        let per_topic: [TopicFamily; 4] = [
            (
                "moldau_topic_bytes_in_total",
                "Record batch bytes appended by Produce, by topic.",
                |t| t.bytes_in,
            ),
            (
                "moldau_topic_records_in_total",
                "Records appended by Produce, by topic.",
                |t| t.records_in,
            ),
            (
                "moldau_topic_bytes_out_total",
                "Record batch bytes returned by Fetch, by topic.",
                |t| t.bytes_out,
            ),
            (
                "moldau_topic_records_out_total",
                "Records in the batches returned by Fetch, by topic.",
                |t| t.records_out,
            ),
        ];
        for (name, help, get) in per_topic {
            header(out, name, "counter", help);
            for (topic, totals) in &topics {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\"}} {}",
                    escape_label(topic),
                    get(totals)
                );
            }
        }
        header(
            out,
            "moldau_connections",
            "gauge",
            "Kafka client connections open now.",
        );
        let _ = writeln!(out, "moldau_connections {}", self.connections_open());
        header(
            out,
            "moldau_connections_accepted_total",
            "counter",
            "Kafka client connections accepted since start.",
        );
        let _ = writeln!(
            out,
            "moldau_connections_accepted_total {}",
            self.connections_accepted.get()
        );
        header(
            out,
            "moldau_connections_refused_total",
            "counter",
            "Kafka client connections closed at once for being over max.connections.per.ip.",
        );
        let _ = writeln!(
            out,
            "moldau_connections_refused_total {}",
            self.connections_refused.get()
        );
        header(
            out,
            "moldau_log_flush_duration_seconds",
            "histogram",
            "Time from an append to its fsync being done (group-commit queueing included).",
        );
        write_histogram(
            out,
            "moldau_log_flush_duration_seconds",
            "",
            &self.flush_latency.snapshot(),
        );
        header(
            out,
            "moldau_group_rebalances_total",
            "counter",
            "Consumer group rebalances whose join phase completed.",
        );
        let _ = writeln!(
            out,
            "moldau_group_rebalances_total {}",
            self.group_rebalances.get()
        );
        self.client_telemetry.write_prometheus(out);
    }
}

/// A per-topic metric family: name, help, and which total it shows.
type TopicFamily = (&'static str, &'static str, fn(&TrafficTotals) -> u64);

/// `# HELP` and `# TYPE` lines of a metric family.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The `_bucket`, `_sum` and `_count` lines of one histogram; `labels` is either
/// empty or `a="b",c="d"` without braces.
pub fn write_histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, count) in &h.buckets {
        let le = if bound.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{bound}")
        };
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {count}");
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum_seconds);
    let _ = writeln!(out, "{name}_count{braces} {}", h.count);
}

/// Escapes a label value: backslash, double quote and newline, as the format requires.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inf_is_the_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.00025, 1));
        assert_eq!(s.buckets[1], (0.0005, 2));
        assert_eq!(s.buckets[LATENCY_BUCKET_BOUNDS_MICROS.len() - 1].1, 2);
        assert_eq!(s.buckets.last().map(|b| b.1), Some(3));
        assert!(s.buckets.last().is_some_and(|b| b.0.is_infinite()));
        assert!((s.sum_seconds - 60.0004).abs() < 1e-9);
    }

    #[test]
    fn timed_requests_are_counted_per_api() {
        let m = Arc::new(Metrics::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let d = m.time_request(
                ApiKey::Produce,
                Instant::now(),
                crate::request::ready_frame(None),
            );
            assert!(d.await.is_ok());
            let failing: Deferred =
                Box::pin(async { Err(crate::request::CloseConnection("bad".into())) });
            assert!(m
                .time_request(ApiKey::Produce, Instant::now(), failing)
                .await
                .is_err());
        });
        assert_eq!(m.request_count(ApiKey::Produce), 2);
        assert_eq!(m.request_count(ApiKey::Fetch), 0);
        let mut text = String::new();
        m.write_prometheus(&mut text);
        assert!(text.contains("moldau_requests_total{api=\"Produce\"} 2\n"));
        assert!(text.contains("moldau_request_failures_total{api=\"Produce\"} 1\n"));
        assert!(text.contains("moldau_request_duration_seconds_count{api=\"Produce\"} 2\n"));
        assert!(!text.contains("api=\"Fetch\""));
    }

    #[test]
    fn topic_traffic_and_connections() {
        let m = Arc::new(Metrics::new());
        m.record_produced("a\"b", 100, 3);
        m.record_produced("a\"b", 50, 2);
        m.record_fetched("a\"b", 4096, 4);
        assert_eq!(
            m.traffic_totals(),
            TrafficTotals {
                bytes_in: 150,
                records_in: 5,
                bytes_out: 4096,
                records_out: 4
            }
        );
        let g1 = m.connection_opened();
        let g2 = m.connection_opened();
        drop(g1);
        assert_eq!(m.connections_open(), 1);
        drop(g2);
        assert_eq!(m.connections_open(), 0);
        assert_eq!(m.connections_accepted.get(), 2);
        let mut text = String::new();
        m.write_prometheus(&mut text);
        assert!(text.contains("moldau_topic_bytes_in_total{topic=\"a\\\"b\"} 150\n"));
        assert!(text.contains("moldau_connections_accepted_total 2\n"));
        m.forget_topic("a\"b");
        assert!(m.topic_totals().is_empty());
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
