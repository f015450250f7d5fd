//! `moldau group`: list, describe (with lag), reset offsets, delete groups and their
//! offsets (what `kafka-consumer-groups.sh` does).

use std::collections::BTreeSet;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use moldau_client::{AdminClient, TopicPartition};
use serde_json::{json, Value};

use crate::context::{broker_error_name, Context};
use crate::group_describe::{self, DescribeArgs};
use crate::group_reset::{self, ResetArgs};
use crate::output::{self, Table};
use crate::topic;

const GROUP_EXAMPLES: &str = "\
Examples:
  moldau group list
  moldau group list --state Empty
  moldau group describe billing
  moldau group reset-offsets billing --topic payments --to-earliest            (prints the plan)
  moldau group reset-offsets billing --topic payments:0,1 --shift-by -100 --execute
  moldau group reset-offsets billing --all-topics --by-duration PT1H --execute
  moldau group delete-offsets billing --topic payments
  moldau group delete billing";

/// `moldau group …`
#[derive(Args, Debug)]
#[command(after_help = GROUP_EXAMPLES)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// List groups with their state.
    #[command(after_help = "Examples:
  moldau group list
  moldau group list --state Stable --json")]
    List(ListArgs),
    /// State, coordinator, assignor, members, and per partition the committed offset,
    /// log end, lag and time lag (age of the oldest unconsumed record).
    #[command(after_help = "Examples:
  moldau group describe billing
  moldau group describe billing --json | jq '.partitions[] | select(.lag > 0)'")]
    Describe(DescribeArgs),
    /// Move a group's committed offsets; prints the plan unless --execute is given.
    #[command(after_help = "Examples:
  moldau group reset-offsets billing --topic payments --to-earliest
  moldau group reset-offsets billing --topic payments --to-earliest --execute
  moldau group reset-offsets billing --topic payments:0,3 --to-offset 1000 --execute
  moldau group reset-offsets billing --all-topics --shift-by -50 --execute
  moldau group reset-offsets billing --all-topics --to-datetime 2024-05-01T12:00:00Z --execute
  moldau group reset-offsets billing --topic payments --by-duration PT30M --execute

The group must have no active members for --execute (stop its consumers first).")]
    ResetOffsets(ResetArgs),
    /// Delete groups that have no members (their committed offsets go with them).
    #[command(after_help = "Examples:
  moldau group delete billing
  moldau group delete old-1 old-2")]
    Delete(DeleteArgs),
    /// Delete a group's committed offsets of a topic (the group must not be subscribed
    /// to it).
    #[command(after_help = "Examples:
  moldau group delete-offsets billing --topic payments
  moldau group delete-offsets billing --topic payments:0,1")]
    DeleteOffsets(DeleteOffsetsArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only groups in this state (Empty, Stable, PreparingRebalance,
    /// CompletingRebalance, Assigning, Reconciling, Dead), case-insensitive.
    #[arg(long, value_parser = parse_group_state)]
    state: Option<String>,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Groups to delete.
    #[arg(required = true)]
    groups: Vec<String>,
}

#[derive(Args, Debug)]
struct DeleteOffsetsArgs {
    /// The group.
    group: String,
    /// Topic, optionally with partitions: `payments` or `payments:0,1`; repeatable.
    #[arg(long = "topic", required = true, value_name = "TOPIC[:P,…]", value_parser = parse_topic_spec)]
    topics: Vec<TopicSpec>,
}

/// The states a group can be in, as Kafka names them (classic and KIP-848 groups).
const GROUP_STATES: [&str; 7] = [
    "Empty",
    "Stable",
    "PreparingRebalance",
    "CompletingRebalance",
    "Assigning",
    "Reconciling",
    "Dead",
];

/// A group state name, case-insensitive, as Kafka spells it.
fn parse_group_state(s: &str) -> Result<String, String> {
    GROUP_STATES
        .iter()
        .find(|state| state.eq_ignore_ascii_case(s))
        .map(|state| state.to_string())
        .ok_or_else(|| {
            format!(
                "not a group state; the states are {}",
                GROUP_STATES.join(", ")
            )
        })
}

/// A topic and, optionally, some of its partitions (`payments:0,1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub topic: String,
    /// The partitions named; `None` means all of them.
    pub partitions: Option<Vec<i32>>,
}

/// Parses `TOPIC` or `TOPIC:P,P,…`.
pub fn parse_topic_spec(s: &str) -> Result<TopicSpec, String> {
    let (topic, parts) = match s.split_once(':') {
        Some((t, p)) => (t, Some(p)),
        None => (s, None),
    };
    if topic.is_empty() {
        return Err(format!("'{s}' names no topic"));
    }
    let partitions = match parts {
        None => None,
        Some(p) => {
            let list: Result<Vec<i32>, String> = p
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|&n| n >= 0)
                        .ok_or_else(|| format!("'{x}' in '{s}' is not a partition number"))
                })
                .collect();
            Some(list?)
        }
    };
    Ok(TopicSpec {
        topic: topic.to_string(),
        partitions,
    })
}

/// The partitions `specs` name, checked against the cluster: unknown topics and
/// partitions are errors.
pub async fn resolve_specs(
    ctx: &Context,
    admin: &AdminClient,
    specs: &[TopicSpec],
) -> anyhow::Result<Vec<TopicPartition>> {
    let names: Vec<String> = specs.iter().map(|s| s.topic.clone()).collect();
    let topics = topic::named_topics(ctx, admin, &names).await?;
    let mut out = BTreeSet::new();
    for (spec, info) in specs.iter().zip(&topics) {
        let count = info.partitions.len() as i32;
        match &spec.partitions {
            None => out.extend((0..count).map(|p| TopicPartition::new(&spec.topic, p))),
            Some(ps) => {
                for &p in ps {
                    if p >= count {
                        bail!(
                            "topic '{}' has no partition {p} (it has {count})",
                            spec.topic
                        );
                    }
                    out.insert(TopicPartition::new(&spec.topic, p));
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Runs `moldau group …`.
pub fn run(ctx: &Context, args: GroupArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        match args.command {
            GroupCommand::List(a) => list(ctx, &admin, a).await,
            GroupCommand::Describe(a) => group_describe::run(ctx, &admin, a).await,
            GroupCommand::ResetOffsets(a) => group_reset::run(ctx, &admin, a).await,
            GroupCommand::Delete(a) => delete(ctx, &admin, a).await,
            GroupCommand::DeleteOffsets(a) => delete_offsets(ctx, &admin, a).await,
        }
    }))
}

async fn list(ctx: &Context, admin: &AdminClient, a: ListArgs) -> anyhow::Result<()> {
    let mut groups = admin.list_groups().await.map_err(|e| ctx.explain(e))?;
    if let Some(state) = &a.state {
        groups.retain(|g| g.state.eq_ignore_ascii_case(state));
    }
    if ctx.json {
        let rows: Vec<Value> = groups
            .iter()
            .map(|g| json!({ "group_id": g.group_id, "state": g.state, "protocol_type": g.protocol_type }))
            .collect();
        return output::print_json(&Value::Array(rows));
    }
    let mut table = Table::new(&["GROUP", "STATE", "TYPE"]);
    for g in groups {
        let kind = if g.protocol_type.is_empty() {
            "-".to_string()
        } else {
            g.protocol_type
        };
        table.row(vec![g.group_id, g.state, kind]);
    }
    output::print(&table.render())
}

async fn delete(ctx: &Context, admin: &AdminClient, a: DeleteArgs) -> anyhow::Result<()> {
    let names: Vec<&str> = a.groups.iter().map(String::as_str).collect();
    let results = admin
        .delete_groups(&names)
        .await
        .map_err(|e| ctx.explain(e))?;
    for g in &a.groups {
        match results.get(g) {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                let why = match broker_error_name(e) {
                    Some("GROUP_ID_NOT_FOUND") => format!("group '{g}' does not exist"),
                    Some("NON_EMPTY_GROUP") => {
                        format!("group '{g}' still has active members; stop its consumers first")
                    }
                    _ => {
                        return Err(ctx.explain(e.clone()))
                            .with_context(|| format!("cannot delete group '{g}'"))
                    }
                };
                bail!("{why}");
            }
            None => bail!("the broker did not answer for group '{g}'"),
        }
    }
    if ctx.json {
        return output::print_json(&json!({ "deleted": a.groups }));
    }
    let text: String = a
        .groups
        .iter()
        .map(|g| format!("deleted group '{g}'\n"))
        .collect();
    output::print(&text)
}

async fn delete_offsets(
    ctx: &Context,
    admin: &AdminClient,
    a: DeleteOffsetsArgs,
) -> anyhow::Result<()> {
    let wanted = resolve_specs(ctx, admin, &a.topics).await?;
    let committed = admin
        .list_group_offsets(&a.group)
        .await
        .map_err(|e| ctx.explain(e))?;
    // Sent for every named partition, so the broker decides (and reports a group
    // that is still subscribed); the table says which ones had an offset.
    let partitions = wanted;
    if let Err(e) = admin.delete_group_offsets(&a.group, &partitions).await {
        let why = match broker_error_name(&e) {
            Some("GROUP_SUBSCRIBED_TO_TOPIC") => format!(
                "group '{}' is still subscribed to the topic; stop its consumers or \
                 unsubscribe them first",
                a.group
            ),
            Some("GROUP_ID_NOT_FOUND") => format!("group '{}' does not exist", a.group),
            _ => {
                return Err(ctx.explain(e))
                    .with_context(|| format!("cannot delete offsets of group '{}'", a.group))
            }
        };
        bail!("{why}");
    }
    if ctx.json {
        let rows: Vec<Value> = partitions
            .iter()
            .map(|tp| {
                json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "had_offset": committed.contains_key(tp),
                })
            })
            .collect();
        return output::print_json(&json!({ "group_id": a.group, "deleted": rows }));
    }
    let mut table = Table::new(&["TOPIC", "PARTITION", "STATUS"]);
    for tp in &partitions {
        let status = if committed.contains_key(tp) {
            "deleted"
        } else {
            "no offset"
        };
        table.row(vec![
            tp.topic.clone(),
            tp.partition.to_string(),
            status.into(),
        ]);
    }
    output::print(&table.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_specs_take_optional_partition_lists() {
        assert_eq!(
            parse_topic_spec("payments"),
            Ok(TopicSpec {
                topic: "payments".into(),
                partitions: None
            })
        );
        assert_eq!(
            parse_topic_spec("payments:0, 3"),
            Ok(TopicSpec {
                topic: "payments".into(),
                partitions: Some(vec![0, 3])
            })
        );
        assert!(parse_topic_spec("payments:x").is_err());
        assert!(parse_topic_spec("payments:-1").is_err());
        assert!(parse_topic_spec(":1").is_err());
    }
}
