//! `/metrics` families for replication, as a partition's leader sees it: replicas,
//! in-sync replicas and under-replication per partition, the broker's count of
//! under-replicated and offline partitions, and how far each follower trails, at
//! its worst over the partitions led here. Every series is written, zero included,
//! so none vanishes when a problem goes away.

use moldau_broker::metrics::{escape_label, header as family};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A partition this broker leads, as the scrape found it.
#[derive(Debug, Clone)]
pub struct LedPartition {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub log_end_offset: i64,
    /// Each follower's log end offset as its last Fetch showed; -1 before one.
    pub followers: BTreeMap<i32, i64>,
}

/// Writes the families; `offline` is the cluster's count of partitions without a
/// leader when this broker is the active controller (Kafka's controller metric),
/// else 0.
/// Per partition when `per_partition`, else one series per topic over its partitions
/// led here: the fewest replicas and in-sync replicas (the weakest partition), and the
/// count of under-replicated ones.
pub fn write(out: &mut String, led: &[LedPartition], offline: usize, per_partition: bool) {
    let labels = |p: &LedPartition| {
        if per_partition {
            format!(
                "topic=\"{}\",partition=\"{}\"",
                escape_label(&p.topic),
                p.partition
            )
        } else {
            format!("topic=\"{}\"", escape_label(&p.topic))
        }
    };
    type Field = fn(&LedPartition) -> usize;
    /// How a topic's partitions make its one series.
    type Combine = fn(usize, usize) -> usize;
    let families: [(&str, &str, Field, Combine); 3] = [
        (
            "moldau_partition_replicas",
            "Replicas assigned to a partition this broker leads (per topic: the fewest).",
            |p| p.replicas.len(),
            usize::min,
        ),
        (
            "moldau_partition_in_sync_replicas",
            "In-sync replicas of a partition this broker leads (per topic: the fewest).",
            |p| p.isr.len(),
            usize::min,
        ),
        (
            "moldau_partition_under_replicated",
            "1 when a partition this broker leads has fewer in-sync replicas than replicas (per topic: how many).",
            |p| usize::from(p.isr.len() < p.replicas.len()),
            |a, b| a + b,
        ),
    ];
    for (name, help, get, combine) in families {
        family(out, name, "gauge", help);
        let mut rows: BTreeMap<String, usize> = BTreeMap::new();
        for p in led {
            let value = get(p);
            rows.entry(labels(p))
                .and_modify(|v| *v = combine(*v, value))
                .or_insert(value);
        }
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    family(
        out,
        "moldau_under_replicated_partitions",
        "gauge",
        "Partitions led by this broker with fewer in-sync replicas than replicas.",
    );
    let under = led
        .iter()
        .filter(|p| p.isr.len() < p.replicas.len())
        .count();
    let _ = writeln!(out, "moldau_under_replicated_partitions {under}");
    family(
        out,
        "moldau_offline_partitions",
        "gauge",
        "Partitions without a leader (reported by the active controller; 0 elsewhere).",
    );
    let _ = writeln!(out, "moldau_offline_partitions {offline}");
    family(
        out,
        "moldau_replica_lag_max_records",
        "gauge",
        "Records the follower trails this leader by, at its worst over the partitions led here.",
    );
    let mut worst: BTreeMap<i32, i64> = BTreeMap::new();
    for p in led {
        for (id, end) in &p.followers {
            let lag = if *end < 0 {
                p.log_end_offset
            } else {
                (p.log_end_offset - end).max(0)
            };
            let w = worst.entry(*id).or_insert(0);
            *w = (*w).max(lag);
        }
    }
    for (id, lag) in worst {
        let _ = writeln!(
            out,
            "moldau_replica_lag_max_records{{replica=\"{id}\"}} {lag}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn led(partition: i32, isr: &[i32], end: i64, followers: &[(i32, i64)]) -> LedPartition {
        LedPartition {
            topic: "t".into(),
            partition,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            log_end_offset: end,
            followers: followers.iter().copied().collect(),
        }
    }

    #[test]
    fn under_replication_and_follower_lag_with_zeros_written() {
        let mut out = String::new();
        let parts = [
            led(0, &[1, 2, 3], 100, &[(2, 100), (3, 100)]),
            led(1, &[1, 2], 50, &[(2, 48), (3, -1)]),
        ];
        write(&mut out, &parts, 0, true);
        for line in [
            "moldau_partition_in_sync_replicas{topic=\"t\",partition=\"1\"} 2",
            "moldau_partition_under_replicated{topic=\"t\",partition=\"0\"} 0",
            "moldau_partition_under_replicated{topic=\"t\",partition=\"1\"} 1",
            "moldau_partition_replicas{topic=\"t\",partition=\"0\"} 3",
            "moldau_under_replicated_partitions 1",
            "moldau_offline_partitions 0",
            "moldau_replica_lag_max_records{replica=\"2\"} 2",
            "moldau_replica_lag_max_records{replica=\"3\"} 50",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }

    #[test]
    fn per_topic_by_default_the_weakest_partition_and_the_under_replicated_count() {
        let mut out = String::new();
        let parts = [
            led(0, &[1, 2, 3], 100, &[(2, 100), (3, 100)]),
            led(1, &[1, 2], 50, &[(2, 48), (3, -1)]),
        ];
        write(&mut out, &parts, 0, false);
        for line in [
            "moldau_partition_replicas{topic=\"t\"} 3",
            "moldau_partition_in_sync_replicas{topic=\"t\"} 2",
            "moldau_partition_under_replicated{topic=\"t\"} 1",
            "moldau_under_replicated_partitions 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
        assert!(!out.contains("partition=\""), "no partition label:\n{out}");
    }
}
