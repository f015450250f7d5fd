//! `GET /metrics`: Prometheus text format (0.0.4). The broker's own counters and
//! histograms, plus what is read at scrape time: partition sizes and offsets, and
//! every group's committed offsets, lag and time lag; per topic by default, per
//! partition with `metrics.partition.level=true` (a series per partition would be
//! hundreds of thousands of series on a node with that many partitions).

use crate::caller::Caller;
use crate::console::Console;
use crate::metrics_filter::{filter_series, SeriesAccess};
use crate::reader::partition_state;
use crate::replication_metrics::{self, LedPartition};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use moldau_broker::metrics::{escape_label, header as family};
use moldau_protocol::acl::AclOperation;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// Content type of the text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn broker_section(console: &Console, out: &mut String) {
    let b = &console.backend;
    let metadata = b.metadata();
    family(
        out,
        "moldau_broker_info",
        "gauge",
        "Always 1; labels identify the broker.",
    );
    let _ = writeln!(
        out,
        "moldau_broker_info{{cluster_id=\"{}\",node_id=\"{}\",version=\"{}\"}} 1",
        escape_label(metadata.cluster_id()),
        metadata.node_id(),
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
        b.started_at_ms() as f64 / 1000.0
    );
    b.metrics().write_prometheus(out);
    moldau_broker::process_metrics::write_prometheus(out);
    family(
        out,
        "moldau_log_fsyncs_total",
        "counter",
        "fsync calls made by the log flusher.",
    );
    let _ = writeln!(
        out,
        "moldau_log_fsyncs_total {}",
        b.partitions().logs().fsync_count()
    );
    family(
        out,
        "moldau_log_syncfs_total",
        "counter",
        "syncfs calls made by the log flusher, each making many partitions durable at once.",
    );
    let _ = writeln!(
        out,
        "moldau_log_syncfs_total {}",
        b.partitions().logs().syncfs_count()
    );
    let (recovering, recovery_finished) = b.partitions().logs().recovery_progress();
    family(
        out,
        "moldau_log_partitions_recovering",
        "gauge",
        "Partitions still being opened at start (after an unclean shutdown: recovered); each is served once done.",
    );
    let _ = writeln!(out, "moldau_log_partitions_recovering {recovering}");
    family(
        out,
        "moldau_log_partitions_recovery_finished_total",
        "counter",
        "Partitions opened (after an unclean shutdown: recovered) since start (served, or offline if unreadable).",
    );
    let _ = writeln!(
        out,
        "moldau_log_partitions_recovery_finished_total {recovery_finished}"
    );
    family(
        out,
        "moldau_log_flush_rounds_total",
        "counter",
        "Group-commit rounds run by the log flusher (each serves every request queued).",
    );
    let _ = writeln!(
        out,
        "moldau_log_flush_rounds_total {}",
        b.partitions().logs().flush_count()
    );
}

/// Whether partition-level series are asked for (`metrics.partition.level`): off by
/// default, so a node with 100 000 partitions does not publish 400 000 series.
fn partition_level(console: &Console) -> bool {
    console.backend.config().bool(PARTITION_LEVEL_PROPERTY)
}

/// The broker property that turns on one series per partition.
pub const PARTITION_LEVEL_PROPERTY: &str = "metrics.partition.level";

/// The labels of a partition's series: its topic, and its partition number only at
/// partition level (otherwise the partitions of a topic add up to one series).
fn partition_labels(topic: &str, partition: i32, partition_level: bool) -> String {
    if partition_level {
        format!(
            "topic=\"{}\",partition=\"{partition}\"",
            escape_label(topic)
        )
    } else {
        format!("topic=\"{}\"", escape_label(topic))
    }
}

/// Adds `value` to the series of `labels`.
fn accumulate(rows: &mut BTreeMap<String, i64>, labels: String, value: i64) {
    *rows.entry(labels).or_insert(0) += value;
}

fn partition_section(console: &Console, out: &mut String) {
    let per_partition = partition_level(console);
    let mut hosted = console.backend.partitions().all();
    hosted.sort_by(|a, b| (&a.tp.topic, a.tp.partition).cmp(&(&b.tp.topic, b.tp.partition)));
    type Field = fn(&crate::reader::PartitionState) -> i64;
    let families: [(&str, &str, Field); 4] = [
        (
            "moldau_partition_size_bytes",
            "Bytes of the partition's log segments (summed over a topic's partitions unless metrics.partition.level=true).",
            |s| s.size_bytes as i64,
        ),
        (
            "moldau_partition_log_start_offset",
            "First offset still in the log (summed over a topic's partitions unless metrics.partition.level=true).",
            |s| s.log_start_offset,
        ),
        (
            "moldau_partition_log_end_offset",
            "Offset the next appended record gets (summed over a topic's partitions unless metrics.partition.level=true).",
            |s| s.log_end_offset,
        ),
        (
            "moldau_partition_high_watermark",
            "Offset up to which consumers can read (summed over a topic's partitions unless metrics.partition.level=true).",
            |s| s.high_watermark,
        ),
    ];
    let mut rows: Vec<BTreeMap<String, i64>> = vec![BTreeMap::new(); families.len()];
    for p in &hosted {
        let state = partition_state(p);
        let labels = partition_labels(&p.tp.topic, p.tp.partition, per_partition);
        for (i, (_, _, get)) in families.iter().enumerate() {
            accumulate(&mut rows[i], labels.clone(), get(&state));
        }
    }
    for ((name, help, _), rows) in families.iter().zip(&rows) {
        family(out, name, "gauge", help);
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Replication as this broker's led partitions see it (see [`replication_metrics`]).
fn replication_section(console: &Console, out: &mut String) {
    let metadata = console.backend.metadata();
    let node_id = metadata.node_id();
    let image = metadata.image();
    let mut led: Vec<LedPartition> = console
        .backend
        .partitions()
        .all()
        .into_iter()
        .filter(|p| p.is_leader())
        .filter_map(|p| {
            let assigned = image.topic(&p.tp.topic)?.partitions.get(&p.tp.partition)?;
            let progress = p.progress();
            let followers = assigned
                .replicas
                .iter()
                .filter(|id| **id != node_id)
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
    let offline = if metadata.quorum_view().leader_id == node_id {
        image
            .topics()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.leader < 0)
            .count()
    } else {
        0
    };
    replication_metrics::write(out, &led, offline, partition_level(console));
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
    // (committed, lag, time lag) per series: per partition, or per topic summed
    // (the time lag is the topic's largest) unless metrics.partition.level=true.
    let per_partition = partition_level(console);
    let mut rows: BTreeMap<String, (i64, i64, Option<i64>)> = BTreeMap::new();
    for (d, lag) in &groups {
        for p in &lag.partitions {
            let (Some(committed), Some(l)) = (p.committed, p.lag) else {
                continue;
            };
            let labels = format!(
                "group=\"{}\",{}",
                escape_label(&d.group_id),
                partition_labels(&p.topic, p.partition, per_partition)
            );
            let row = rows.entry(labels).or_insert((0, 0, None));
            row.0 += committed;
            row.1 += l;
            row.2 = row.2.max(p.time_lag_ms);
        }
    }
    family(
        out,
        "moldau_consumer_group_committed_offset",
        "gauge",
        "Committed offset of a group on a partition.",
    );
    for (labels, (committed, _, _)) in &rows {
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
    for (labels, (_, lag, _)) in &rows {
        let _ = writeln!(out, "moldau_consumer_group_lag{{{labels}}} {lag}");
    }
    family(
        out,
        "moldau_consumer_group_lag_seconds",
        "gauge",
        "Age of the next record a group would consume on a partition; 0 when caught up.",
    );
    for (labels, (_, _, time_lag)) in &rows {
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

/// `GET /metrics`: a logged-in user under ACLs sees the series it may describe
/// (metrics_filter.rs).
pub async fn metrics(State(console): State<Arc<Console>>, caller: Caller) -> Response {
    let mut text = render(&console).await;
    if caller.checked() {
        let topic = |t: &str| caller.may_describe_topic(t);
        let group = |g: &str| caller.may_group(AclOperation::Describe, g);
        text = filter_series(
            &text,
            &SeriesAccess {
                cluster: caller.may_describe_cluster(),
                topic: &topic,
                group: &group,
            },
        );
    }
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
