//! `moldau topic describe`: partitions with leaders, replicas, ISR and offsets, and the
//! configs set on the topic; also the partition filters `list` shares.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Args;
use moldau_client::admin::{ConfigResource, ConfigSource, OffsetSpec};
use moldau_client::cluster::{PartitionInfo, TopicInfo};
use moldau_client::{AdminClient, TopicPartition};
use serde_json::{json, Value};

use crate::base64::Base64;
use crate::context::Context;
use crate::output::{self, join_ids, or_dash, Table};
use crate::topic::{all_topics, named_topics};

/// Which partitions a listing keeps.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct PartitionFilter {
    /// Only partitions whose in-sync replicas are fewer than their replicas.
    #[arg(long)]
    under_replicated: bool,
    /// Only partitions without an available leader.
    #[arg(long)]
    unavailable: bool,
}

impl PartitionFilter {
    /// True when any filter is on.
    pub fn active(self) -> bool {
        self.under_replicated || self.unavailable
    }

    /// True when `p` passes every filter that is on.
    pub fn keeps(self, p: &PartitionInfo) -> bool {
        (!self.under_replicated || is_under_replicated(p))
            && (!self.unavailable || is_unavailable(p))
    }
}

/// `moldau topic describe` arguments.
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Topics to describe; every topic when none is named.
    names: Vec<String>,
    /// Include internal topics when describing every topic.
    #[arg(long)]
    internal: bool,
    #[command(flatten)]
    filter: PartitionFilter,
}

/// Runs `moldau topic describe`.
pub async fn run(ctx: &Context, admin: &AdminClient, a: DescribeArgs) -> anyhow::Result<()> {
    let topics = if a.names.is_empty() {
        all_topics(ctx, admin, a.internal).await?
    } else {
        named_topics(ctx, admin, &a.names).await?
    };
    let mut docs = Vec::new();
    let mut text = String::new();
    for t in &topics {
        let partitions: Vec<&PartitionInfo> =
            t.partitions.iter().filter(|p| a.filter.keeps(p)).collect();
        if a.filter.active() && partitions.is_empty() {
            continue;
        }
        let (starts, ends) = offsets(ctx, admin, &t.name, &partitions).await?;
        let configs = changed_configs(ctx, admin, &t.name).await?;
        if ctx.json {
            docs.push(topic_json(t, &partitions, &starts, &ends, &configs));
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&topic_text(t, &partitions, &starts, &ends, &configs));
    }
    if ctx.json {
        return output::print_json(&Value::Array(docs));
    }
    output::print(&text)
}

fn topic_json(
    t: &TopicInfo,
    partitions: &[&PartitionInfo],
    starts: &BTreeMap<i32, i64>,
    ends: &BTreeMap<i32, i64>,
    configs: &[(String, Option<String>)],
) -> Value {
    json!({
        "name": t.name,
        "topic_id": topic_id_text(&t.topic_id),
        "internal": t.is_internal,
        "partition_count": t.partitions.len(),
        "replication_factor": replication_factor(t),
        "configs": configs.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "partitions": partitions.iter().map(|p| json!({
            "partition": p.partition,
            "leader": (p.leader >= 0).then_some(p.leader),
            "leader_epoch": p.leader_epoch,
            "replicas": p.replicas,
            "isr": p.isr,
            "offline_replicas": p.offline_replicas,
            "start_offset": starts.get(&p.partition),
            "end_offset": ends.get(&p.partition),
            "under_replicated": is_under_replicated(p),
            "unavailable": is_unavailable(p),
            "offline": is_offline(p),
        })).collect::<Vec<_>>(),
    })
}

fn topic_text(
    t: &TopicInfo,
    partitions: &[&PartitionInfo],
    starts: &BTreeMap<i32, i64>,
    ends: &BTreeMap<i32, i64>,
    configs: &[(String, Option<String>)],
) -> String {
    let mut text = format!(
        "Topic: {}  Partitions: {}  Replication: {}",
        t.name,
        t.partitions.len(),
        replication_factor(t)
    );
    if let Some(id) = topic_id_text(&t.topic_id) {
        text.push_str(&format!("  Id: {id}"));
    }
    text.push('\n');
    let configs: Vec<String> = configs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(sensitive)")))
        .collect();
    if configs.is_empty() {
        text.push_str("Configs: (defaults)\n");
    } else {
        text.push_str(&format!("Configs: {}\n", configs.join(", ")));
    }
    let mut table = Table::new(&[
        "PARTITION",
        "LEADER",
        "REPLICAS",
        "ISR",
        "START-OFFSET",
        "END-OFFSET",
    ]);
    for p in partitions {
        let leader = if is_offline(p) {
            // The leader's copy could not be opened: say so, not just "none".
            "none (offline)".to_string()
        } else if is_unavailable(p) {
            "none".to_string()
        } else {
            p.leader.to_string()
        };
        table.row(vec![
            p.partition.to_string(),
            leader,
            join_ids(&p.replicas),
            join_ids(&p.isr),
            or_dash(starts.get(&p.partition)),
            or_dash(ends.get(&p.partition)),
        ]);
    }
    text.push_str(&table.render());
    text
}

/// Log start and end offsets of the partitions that have a leader.
async fn offsets(
    ctx: &Context,
    admin: &AdminClient,
    topic: &str,
    partitions: &[&PartitionInfo],
) -> anyhow::Result<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
    let tps: Vec<TopicPartition> = partitions
        .iter()
        .filter(|p| !is_unavailable(p))
        .map(|p| TopicPartition::new(topic, p.partition))
        .collect();
    if tps.is_empty() {
        return Ok((BTreeMap::new(), BTreeMap::new()));
    }
    let by_partition = |m: BTreeMap<TopicPartition, moldau_client::offsets::ListedOffset>| {
        m.into_iter()
            .map(|(tp, l)| (tp.partition, l.offset))
            .collect::<BTreeMap<i32, i64>>()
    };
    let starts = admin
        .list_offsets(&tps, OffsetSpec::Earliest)
        .await
        .map_err(|e| ctx.explain(e))?;
    let ends = admin
        .list_offsets(&tps, OffsetSpec::Latest)
        .await
        .map_err(|e| ctx.explain(e))?;
    Ok((by_partition(starts), by_partition(ends)))
}

/// Configs set on the topic itself (what differs from the broker's defaults).
async fn changed_configs(
    ctx: &Context,
    admin: &AdminClient,
    topic: &str,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let resource = ConfigResource::Topic(topic.to_string());
    let configs = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await
        .map_err(|e| ctx.explain(e))
        .with_context(|| format!("cannot read the configs of topic '{topic}'"))?;
    Ok(configs
        .get(&resource)
        .map(|entries| {
            entries
                .iter()
                .filter(|c| c.source == ConfigSource::DynamicTopic)
                .map(|c| (c.name.clone(), c.value.clone().filter(|_| !c.sensitive)))
                .collect()
        })
        .unwrap_or_default())
}

/// The most replicas any partition has (Kafka prints the first partition's count).
pub fn replication_factor(t: &TopicInfo) -> usize {
    t.partitions
        .iter()
        .map(|p| p.replicas.len())
        .max()
        .unwrap_or(0)
}

fn is_under_replicated(p: &PartitionInfo) -> bool {
    p.isr.len() < p.replicas.len()
}

/// Without a leader because a replica's log is offline (could not be opened).
fn is_offline(p: &PartitionInfo) -> bool {
    is_unavailable(p) && !p.offline_replicas.is_empty()
}

fn is_unavailable(p: &PartitionInfo) -> bool {
    p.leader < 0 || p.offline_replicas.contains(&p.leader)
}

/// A topic id the way Kafka prints it (URL-safe base64 without padding); `None` when
/// the broker sent none.
fn topic_id_text(id: &[u8; 16]) -> Option<String> {
    if id.iter().all(|&b| b == 0) {
        return None;
    }
    Some(Base64::UrlSafeUnpadded.encode(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition: 0,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline_replicas: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn filters_pick_under_replicated_and_leaderless_partitions() {
        let healthy = partition(1, &[1, 2], &[1, 2]);
        let lagging = partition(1, &[1, 2], &[1]);
        let leaderless = partition(-1, &[1, 2], &[]);
        let under = PartitionFilter {
            under_replicated: true,
            unavailable: false,
        };
        let unavailable = PartitionFilter {
            under_replicated: false,
            unavailable: true,
        };
        assert!(PartitionFilter::default().keeps(&healthy));
        assert!(!under.keeps(&healthy));
        assert!(under.keeps(&lagging));
        assert!(!unavailable.keeps(&lagging));
        assert!(unavailable.keeps(&leaderless));
    }

    #[test]
    fn topic_ids_print_as_kafka_base64() {
        assert_eq!(topic_id_text(&[0; 16]), None);
        let mut id = [0u8; 16];
        id[15] = 1;
        assert_eq!(
            topic_id_text(&id).as_deref(),
            Some("AAAAAAAAAAAAAAAAAAAAAQ")
        );
        assert_eq!(
            topic_id_text(&[0xff; 16]).as_deref(),
            Some("_____________________w")
        );
    }
}
