//! `GET /metrics`: Prometheus text format (0.0.4). The broker's own counters and
//! histograms, plus what is read at scrape time: partition sizes and offsets, and
//! every group's committed offsets, lag and time lag per partition.

use crate::console::Console;
use crate::reader::partition_state;
use crate::replication_metrics::{self, LedPartition};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use moldau_broker::metrics::{escape_label, header as family};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// Content type of the text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn broker_section(console: &Console, out: &mut String) {
    let b = &console.broker;
    family(
        out,
        "moldau_broker_info",
        "gauge",
        "Always 1; labels identify the broker.",
    );
    let _ = writeln!(
        out,
        "moldau_broker_info{{cluster_id=\"{}\",node_id=\"{}\",version=\"{}\"}} 1",
        escape_label(&b.cluster_id),
        b.node_id,
        env!("CARGO_PKG_VERSION")
    );
    family(
        out,
        "moldau_broker_start_time_seconds",
        "gauge",
        "When the broker started, in seconds since the epoch.",
    );
    let _ = writeln!(
        out,
        "moldau_broker_start_time_seconds {}",
        b.started_at_ms as f64 / 1000.0
    );
    b.metrics.write_prometheus(out);
    moldau_broker::process_metrics::write_prometheus(out);
    let gc = b.logs.group_commit();
    family(
        out,
        "moldau_log_fsyncs_total",
        "counter",
        "fsync calls made by the log flusher.",
    );
    let _ = writeln!(out, "moldau_log_fsyncs_total {}", gc.fsync_count());
    family(
        out,
        "moldau_log_flush_rounds_total",
        "counter",
        "Group-commit rounds run by the log flusher (each serves every request queued).",
    );
    let _ = writeln!(out, "moldau_log_flush_rounds_total {}", gc.round_count());
}

fn partition_section(console: &Console, out: &mut String) {
    let mut hosted = console.broker.replicas.all();
    hosted.sort_by(|a, b| (&a.tp.topic, a.tp.partition).cmp(&(&b.tp.topic, b.tp.partition)));
    let states: Vec<(String, _)> = hosted
        .iter()
        .map(|p| {
            (
                format!(
                    "topic=\"{}\",partition=\"{}\"",
                    escape_label(&p.tp.topic),
                    p.tp.partition
                ),
                partition_state(p),
            )
        })
        .collect();
    type Field = fn(&crate::reader::PartitionState) -> String;
    let families: [(&str, &str, Field); 4] = [
        (
            "moldau_partition_size_bytes",
            "Bytes of the partition's log segments.",
            |s| s.size_bytes.to_string(),
        ),
        (
            "moldau_partition_log_start_offset",
            "First offset still in the log.",
            |s| s.log_start_offset.to_string(),
        ),
        (
            "moldau_partition_log_end_offset",
            "Offset the next appended record gets.",
            |s| s.log_end_offset.to_string(),
        ),
        (
            "moldau_partition_high_watermark",
            "Offset up to which consumers can read.",
            |s| s.high_watermark.to_string(),
        ),
    ];
    for (name, help, get) in families {
        family(out, name, "gauge", help);
        for (labels, s) in &states {
            let _ = writeln!(out, "{name}{{{labels}}} {}", get(s));
        }
    }
}

/// Replication as this broker's led partitions see it (see [`replication_metrics`]).
fn replication_section(console: &Console, out: &mut String) {
    let b = &console.broker;
    let image = b.metadata.image();
    let mut led: Vec<LedPartition> = b
        .replicas
        .all()
        .into_iter()
        .filter(|p| p.is_leader())
        .filter_map(|p| {
            let assigned = image.topic(&p.tp.topic)?.partitions.get(&p.tp.partition)?;
            let progress = p.progress();
            let followers = assigned
                .replicas
                .iter()
                .filter(|id| **id != b.node_id)
                .map(|id| (*id, progress.follower(*id).map_or(-1, |f| f.log_end_offset)))
                .collect();
            Some(LedPartition {
                topic: p.tp.topic.clone(),
                partition: p.tp.partition,
                replicas: assigned.replicas.clone(),
                isr: assigned.isr.clone(),
                log_end_offset: partition_state(&p).log_end_offset,
                followers,
            })
        })
        .collect();
    led.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let offline = if b.quorum_view().leader_id == b.node_id {
        image
            .topics()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.leader < 0)
            .count()
    } else {
        0
    };
    replication_metrics::write(out, &led, offline);
}

async fn group_section(console: &Console, out: &mut String) {
    let groups = match console.all_group_lags().await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("metrics scrape without group lag: {e}");
            return;
        }
    };
    let by_state = groups_by_state(groups.iter().map(|(d, _)| d.state.as_str()));
    family(
        out,
        "moldau_consumer_groups",
        "gauge",
        "Consumer groups by state.",
    );
    for (state, n) in &by_state {
        let _ = writeln!(
            out,
            "moldau_consumer_groups{{state=\"{}\"}} {n}",
            escape_label(state)
        );
    }
    family(
        out,
        "moldau_consumer_group_members",
        "gauge",
        "Members of each group.",
    );
    for (d, _) in &groups {
        let _ = writeln!(
            out,
            "moldau_consumer_group_members{{group=\"{}\"}} {}",
            escape_label(&d.group_id),
            d.members.len()
        );
    }
    let mut rows = Vec::new();
    for (d, lag) in &groups {
        for p in &lag.partitions {
            let (Some(committed), Some(l)) = (p.committed, p.lag) else {
                continue;
            };
            let labels = format!(
                "group=\"{}\",topic=\"{}\",partition=\"{}\"",
                escape_label(&d.group_id),
                escape_label(&p.topic),
                p.partition
            );
            rows.push((labels, committed, l, p.time_lag_ms));
        }
    }
    family(
        out,
        "moldau_consumer_group_committed_offset",
        "gauge",
        "Committed offset of a group on a partition.",
    );
    for (labels, committed, _, _) in &rows {
        let _ = writeln!(
            out,
            "moldau_consumer_group_committed_offset{{{labels}}} {committed}"
        );
    }
    family(
        out,
        "moldau_consumer_group_lag",
        "gauge",
        "Records a group has yet to consume on a partition (counted from the log start \
         after retention, records actually present on compacted topics).",
    );
    for (labels, _, lag, _) in &rows {
        let _ = writeln!(out, "moldau_consumer_group_lag{{{labels}}} {lag}");
    }
    family(
        out,
        "moldau_consumer_group_lag_seconds",
        "gauge",
        "Age of the next record a group would consume on a partition; 0 when caught up.",
    );
    for (labels, _, _, time_lag) in &rows {
        if let Some(ms) = time_lag {
            let _ = writeln!(
                out,
                "moldau_consumer_group_lag_seconds{{{labels}}} {}",
                *ms as f64 / 1000.0
            );
        }
    }
}

/// The states a group can be in (classic and KIP-848 groups), each always emitted
/// so that a state's series does not vanish when no group is in it.
const GROUP_STATES: [&str; 7] = [
    "Empty",
    "Stable",
    "PreparingRebalance",
    "CompletingRebalance",
    "Assigning",
    "Reconciling",
    "Dead",
];

/// Groups counted by state: every known state (zero included), plus any other state
/// a group reports.
fn groups_by_state<'a>(states: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut by_state: BTreeMap<&str, usize> = GROUP_STATES.iter().map(|s| (*s, 0)).collect();
    for state in states {
        *by_state.entry(state).or_insert(0) += 1;
    }
    by_state
}

/// Renders every metric.
pub async fn render(console: &Console) -> String {
    let mut out = String::with_capacity(16 * 1024);
    broker_section(console, &mut out);
    partition_section(console, &mut out);
    replication_section(console, &mut out);
    group_section(console, &mut out).await;
    out
}

/// `GET /metrics`
pub async fn metrics(State(console): State<Arc<Console>>) -> Response {
    let text = render(&console).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_state_is_counted_zero_included() {
        let by_state = groups_by_state(["Stable", "Stable", "Empty", "Weird"].into_iter());
        assert_eq!(by_state.get("Stable"), Some(&2));
        assert_eq!(by_state.get("Empty"), Some(&1));
        assert_eq!(by_state.get("Dead"), Some(&0));
        assert_eq!(by_state.get("PreparingRebalance"), Some(&0));
        assert_eq!(by_state.get("Weird"), Some(&1));
        assert_eq!(by_state.len(), GROUP_STATES.len() + 1);
    }
}
