//! `moldau topic`: create, list, describe, alter and delete topics (what
//! `kafka-topics.sh` does).

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use moldau_client::admin::{AlterConfigOp, ConfigResource, ConfigSource, NewTopic, OffsetSpec};
use moldau_client::cluster::{PartitionInfo, TopicInfo};
use moldau_client::{AdminClient, TopicPartition};
use serde_json::{json, Value};

use crate::context::{broker_error_name, Context};
use crate::output::{self, join_ids, or_dash, Table};

const TOPIC_EXAMPLES: &str = "\
Examples:
  moldau topic create payments --partitions 12 --config retention.ms=86400000
  moldau topic list
  moldau topic describe payments
  moldau topic describe --under-replicated
  moldau topic alter payments --partitions 24
  moldau topic alter payments --config cleanup.policy=compact --delete-config retention.ms
  moldau topic delete payments";

/// `moldau topic …`
#[derive(Args, Debug)]
#[command(after_help = TOPIC_EXAMPLES)]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Subcommand, Debug)]
enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Examples:
  moldau topic create payments --partitions 12
  moldau topic create audit --partitions 3 --replication-factor 3 --config cleanup.policy=compact")]
    Create(CreateArgs),
    /// List topics with their partition count and replication factor.
    #[command(after_help = "Examples:
  moldau topic list
  moldau topic list --internal --json
  moldau topic list --under-replicated")]
    List(ListArgs),
    /// Partitions (leader, replicas, ISR, start and end offsets) and the configs that
    /// differ from the defaults.
    #[command(after_help = "Examples:
  moldau topic describe payments audit
  moldau topic describe            (every topic)
  moldau topic describe --unavailable --json")]
    Describe(DescribeArgs),
    /// Change configs or grow the partition count.
    #[command(after_help = "Examples:
  moldau topic alter payments --partitions 24
  moldau topic alter payments --config retention.ms=3600000 --config cleanup.policy=delete
  moldau topic alter payments --delete-config retention.ms")]
    Alter(AlterArgs),
    /// Delete topics and their data.
    #[command(after_help = "Examples:
  moldau topic delete payments
  moldau topic delete old-1 old-2 --if-exists")]
    Delete(DeleteArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Topic name.
    name: String,
    /// Partition count (the broker's num.partitions when left out).
    #[arg(short, long)]
    partitions: Option<i32>,
    /// Replicas per partition (the broker's default.replication.factor when left out).
    #[arg(short, long)]
    replication_factor: Option<i16>,
    /// A topic config as NAME=VALUE; repeatable.
    #[arg(short, long = "config", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    configs: Vec<(String, String)>,
    /// Succeed quietly when the topic already exists.
    #[arg(long)]
    if_not_exists: bool,
}

/// Which partitions a listing keeps.
#[derive(Args, Debug, Clone, Copy, Default)]
struct PartitionFilter {
    /// Only partitions whose in-sync replicas are fewer than their replicas.
    #[arg(long)]
    under_replicated: bool,
    /// Only partitions without an available leader.
    #[arg(long)]
    unavailable: bool,
}

impl PartitionFilter {
    fn active(self) -> bool {
        self.under_replicated || self.unavailable
    }

    /// True when `p` passes every filter that is on.
    fn keeps(self, p: &PartitionInfo) -> bool {
        (!self.under_replicated || is_under_replicated(p))
            && (!self.unavailable || is_unavailable(p))
    }
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Include internal topics (__consumer_offsets…).
    #[arg(long)]
    internal: bool,
    #[command(flatten)]
    filter: PartitionFilter,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// Topics to describe; every topic when none is named.
    names: Vec<String>,
    /// Include internal topics when describing every topic.
    #[arg(long)]
    internal: bool,
    #[command(flatten)]
    filter: PartitionFilter,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
struct AlterArgs {
    /// Topic name.
    name: String,
    /// Grow the topic to this many partitions (it can only grow).
    #[arg(short, long, group = "change")]
    partitions: Option<i32>,
    /// Set a config as NAME=VALUE; repeatable.
    #[arg(short, long = "config", value_name = "NAME=VALUE", value_parser = parse_key_value, group = "change")]
    configs: Vec<(String, String)>,
    /// Remove a config override (back to the broker default); repeatable.
    #[arg(long = "delete-config", value_name = "NAME", group = "change")]
    delete_configs: Vec<String>,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Topics to delete.
    #[arg(required = true)]
    names: Vec<String>,
    /// Succeed quietly for topics that do not exist.
    #[arg(long)]
    if_exists: bool,
}

/// Parses `NAME=VALUE`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

/// Runs `moldau topic …`.
pub fn run(ctx: &Context, args: TopicArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        match args.command {
            TopicCommand::Create(a) => create(ctx, &admin, a).await,
            TopicCommand::List(a) => list(ctx, &admin, a).await,
            TopicCommand::Describe(a) => describe(ctx, &admin, a).await,
            TopicCommand::Alter(a) => alter(ctx, &admin, a).await,
            TopicCommand::Delete(a) => delete(ctx, &admin, a).await,
        }
    }))
}

async fn create(ctx: &Context, admin: &AdminClient, a: CreateArgs) -> anyhow::Result<()> {
    let mut topic = NewTopic::new(&a.name, a.partitions.unwrap_or(-1));
    if let Some(rf) = a.replication_factor {
        topic = topic.replication_factor(rf);
    }
    for (k, v) in &a.configs {
        topic = topic.config(k, v);
    }
    let existed = match admin.create_topic(topic).await {
        Ok(()) => false,
        Err(e) if broker_error_name(&e) == Some("TOPIC_ALREADY_EXISTS") => {
            if !a.if_not_exists {
                bail!("topic '{}' already exists", a.name);
            }
            true
        }
        Err(e) => {
            return Err(ctx.explain(e)).with_context(|| format!("cannot create topic '{}'", a.name))
        }
    };
    if ctx.json {
        return output::print_json(&json!({ "topic": a.name, "created": !existed }));
    }
    let text = if existed {
        format!("topic '{}' already exists\n", a.name)
    } else {
        match a.partitions {
            Some(n) => format!("created topic '{}' with {n} partitions\n", a.name),
            None => format!("created topic '{}'\n", a.name),
        }
    };
    output::print(&text)
}

async fn list(ctx: &Context, admin: &AdminClient, a: ListArgs) -> anyhow::Result<()> {
    let topics = all_topics(ctx, admin, a.internal).await?;
    let topics: Vec<&TopicInfo> = topics
        .iter()
        .filter(|t| !a.filter.active() || t.partitions.iter().any(|p| a.filter.keeps(p)))
        .collect();
    if ctx.json {
        let rows: Vec<Value> = topics
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "partitions": t.partitions.len(),
                    "replication_factor": replication_factor(t),
                    "internal": t.is_internal,
                })
            })
            .collect();
        return output::print_json(&Value::Array(rows));
    }
    let mut table = Table::new(&["TOPIC", "PARTITIONS", "REPLICATION"]);
    for t in topics {
        table.row(vec![
            t.name.clone(),
            t.partitions.len().to_string(),
            replication_factor(t).to_string(),
        ]);
    }
    output::print(&table.render())
}

async fn describe(ctx: &Context, admin: &AdminClient, a: DescribeArgs) -> anyhow::Result<()> {
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
        let leader = if is_unavailable(p) {
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

async fn alter(ctx: &Context, admin: &AdminClient, a: AlterArgs) -> anyhow::Result<()> {
    let topic = named_topics(ctx, admin, std::slice::from_ref(&a.name))
        .await?
        .remove(0);
    let mut done = Vec::new();
    if let Some(n) = a.partitions {
        let before = topic.partitions.len();
        if n as usize != before {
            admin
                .create_partitions(&a.name, n)
                .await
                .map_err(|e| ctx.explain(e))
                .with_context(|| {
                    format!(
                        "cannot change topic '{}' from {before} to {n} partitions",
                        a.name
                    )
                })?;
        }
        done.push(format!("partitions {before} -> {n}"));
    }
    let mut ops: Vec<AlterConfigOp> = a
        .configs
        .iter()
        .map(|(k, v)| AlterConfigOp::Set(k.clone(), v.clone()))
        .collect();
    ops.extend(
        a.delete_configs
            .iter()
            .map(|k| AlterConfigOp::Delete(k.clone())),
    );
    if !ops.is_empty() {
        admin
            .alter_configs(&ConfigResource::Topic(a.name.clone()), &ops)
            .await
            .map_err(|e| ctx.explain(e))
            .with_context(|| format!("cannot change the configs of topic '{}'", a.name))?;
        done.extend(a.configs.iter().map(|(k, v)| format!("set {k}={v}")));
        done.extend(a.delete_configs.iter().map(|k| format!("removed {k}")));
    }
    if ctx.json {
        return output::print_json(&json!({ "topic": a.name, "changes": done }));
    }
    output::print(&format!(
        "altered topic '{}': {}\n",
        a.name,
        done.join(", ")
    ))
}

async fn delete(ctx: &Context, admin: &AdminClient, a: DeleteArgs) -> anyhow::Result<()> {
    let names: Vec<&str> = a.names.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(&names)
        .await
        .map_err(|e| ctx.explain(e))?;
    let mut deleted = Vec::new();
    let mut missing = Vec::new();
    for name in &a.names {
        match results.get(name) {
            Some(Ok(())) => deleted.push(name.clone()),
            Some(Err(e)) if broker_error_name(e) == Some("UNKNOWN_TOPIC_OR_PARTITION") => {
                missing.push(name.clone())
            }
            Some(Err(e)) => {
                return Err(ctx.explain(e.clone()))
                    .with_context(|| format!("cannot delete topic '{name}'"))
            }
            None => bail!("the broker did not answer for topic '{name}'"),
        }
    }
    if !missing.is_empty() && !a.if_exists {
        bail!("{}", does_not_exist(&missing));
    }
    if ctx.json {
        return output::print_json(&json!({ "deleted": deleted, "missing": missing }));
    }
    let mut text = String::new();
    for name in &deleted {
        text.push_str(&format!("deleted topic '{name}'\n"));
    }
    output::print(&text)
}

/// Every topic, sorted by name.
async fn all_topics(
    ctx: &Context,
    admin: &AdminClient,
    internal: bool,
) -> anyhow::Result<Vec<TopicInfo>> {
    let md = admin
        .cluster()
        .refresh(None)
        .await
        .map_err(|e| ctx.explain(e))?;
    let mut topics: Vec<TopicInfo> = md
        .topics
        .values()
        .filter(|t| internal || !t.is_internal)
        .cloned()
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

/// The named topics, in the order given; fails naming every one that is missing.
pub async fn named_topics(
    ctx: &Context,
    admin: &AdminClient,
    names: &[String],
) -> anyhow::Result<Vec<TopicInfo>> {
    let md = admin
        .cluster()
        .refresh(Some(names))
        .await
        .map_err(|e| ctx.explain(e))?;
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !md.topics.contains_key(*n))
        .cloned()
        .collect();
    if !missing.is_empty() {
        bail!("{}", does_not_exist(&missing));
    }
    Ok(names
        .iter()
        .filter_map(|n| md.topics.get(n).cloned())
        .collect())
}

/// "topic 'a' does not exist" / "topics 'a', 'b' do not exist".
pub fn does_not_exist(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    if quoted.len() == 1 {
        format!("topic {} does not exist", quoted[0])
    } else {
        format!("topics {} do not exist", quoted.join(", "))
    }
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
fn replication_factor(t: &TopicInfo) -> usize {
    t.partitions
        .iter()
        .map(|p| p.replicas.len())
        .max()
        .unwrap_or(0)
}

fn is_under_replicated(p: &PartitionInfo) -> bool {
    p.isr.len() < p.replicas.len()
}

fn is_unavailable(p: &PartitionInfo) -> bool {
    p.leader < 0 || p.offline_replicas.contains(&p.leader)
}

/// A topic id the way Kafka prints it (URL-safe base64 without padding); `None` when
/// the broker sent none.
fn topic_id_text(id: &[u8; 16]) -> Option<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if id.iter().all(|&b| b == 0) {
        return None;
    }
    let mut out = String::with_capacity(22);
    for chunk in id.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    Some(out)
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
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_key_value("a.b=c=d"),
            Ok(("a.b".to_string(), "c=d".to_string()))
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
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

    #[test]
    fn missing_topics_are_named() {
        assert_eq!(does_not_exist(&["x".into()]), "topic 'x' does not exist");
        assert_eq!(
            does_not_exist(&["x".into(), "y".into()]),
            "topics 'x', 'y' do not exist"
        );
    }
}
