//! `moldau topic`: create, list, describe, alter and delete topics (what
//! `kafka-topics.sh` does).

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use moldau_client::admin::{AlterConfigOp, ConfigResource, NewTopic};
use moldau_client::cluster::TopicInfo;
use moldau_client::AdminClient;
use serde_json::{json, Value};

use crate::context::{broker_error_name, Context};
use crate::output::{self, Table};
use crate::topic_describe::{self, replication_factor, DescribeArgs, PartitionFilter};

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

#[derive(Args, Debug)]
struct ListArgs {
    /// Include internal topics (__consumer_offsets…).
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
            TopicCommand::Describe(a) => topic_describe::run(ctx, &admin, a).await,
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
            Some(1) => format!("created topic '{}' with 1 partition\n", a.name),
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
pub async fn all_topics(
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn missing_topics_are_named() {
        assert_eq!(does_not_exist(&["x".into()]), "topic 'x' does not exist");
        assert_eq!(
            does_not_exist(&["x".into(), "y".into()]),
            "topics 'x', 'y' do not exist"
        );
    }
}
