//! `moldau reassign-partitions`: AlterPartitionReassignments and
//! ListPartitionReassignments, as `kafka-reassign-partitions.sh` — executes, verifies
//! or cancels the moves of a JSON plan (`{"version":1,"partitions":[{"topic":"t",
//! "partition":0,"replicas":[1,2,4]}]}`), or lists the moves in progress.

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use moldau_client::BrokerError;
use moldau_protocol::kafka::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use moldau_protocol::kafka::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::context::Context;
use crate::output;

/// How long the broker may take, as the tool's admin default.
const REASSIGNMENT_TIMEOUT_MS: i32 = 30_000;
/// Largest plan file read, in bytes.
const PLAN_FILE_BYTES_MAX: u64 = 16 << 20;

/// `moldau reassign-partitions …`
#[derive(Args, Debug)]
#[command(
    group(ArgGroup::new("action").required(true).args(["execute", "verify", "cancel", "list"])),
    after_help = "Examples:
  moldau reassign-partitions --execute --reassignment-json-file plan.json
  moldau reassign-partitions --verify --reassignment-json-file plan.json
  moldau reassign-partitions --cancel --reassignment-json-file plan.json
  moldau reassign-partitions --list

plan.json: {\"version\":1,\"partitions\":[{\"topic\":\"payments\",\"partition\":0,\"replicas\":[1,2,4]}]}"
)]
pub struct ReassignPartitionsArgs {
    /// Start the moves of the plan.
    #[arg(long, requires = "reassignment_json_file")]
    execute: bool,
    /// Say of each partition of the plan whether its move is done.
    #[arg(long, requires = "reassignment_json_file")]
    verify: bool,
    /// Cancel the moves of the plan still in progress.
    #[arg(long, requires = "reassignment_json_file")]
    cancel: bool,
    /// List every move in progress.
    #[arg(long)]
    list: bool,
    /// The plan, as kafka-reassign-partitions.sh reads it.
    #[arg(long)]
    reassignment_json_file: Option<PathBuf>,
    /// With --execute: start even though other moves are in progress.
    #[arg(long)]
    additional: bool,
}

#[derive(Debug, Deserialize)]
struct Plan {
    version: i32,
    partitions: Vec<PlannedPartition>,
}

#[derive(Debug, Deserialize)]
struct PlannedPartition {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    /// Kafka's plan may name log dirs; only "any" (the default) is served.
    #[serde(default)]
    log_dirs: Option<Vec<String>>,
}

/// Runs `moldau reassign-partitions …`; fails when a partition's move was refused.
pub fn run(ctx: &Context, args: ReassignPartitionsArgs) -> anyhow::Result<()> {
    let plan = match &args.reassignment_json_file {
        Some(path) => Some(read_plan(path)?),
        None => None,
    };
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        let cluster = admin.cluster();
        let list = |request: ListPartitionReassignmentsRequest| async move {
            let response: ListPartitionReassignmentsResponse = cluster
                .send_any(&request)
                .await
                .map_err(|e| ctx.explain(e))?;
            if let Some(name) = error_name(response.error_code) {
                anyhow::bail!("listing reassignments refused: {name}");
            }
            Ok(ongoing(&response))
        };
        let all = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(REASSIGNMENT_TIMEOUT_MS)
            .with_topics(None);
        match plan {
            None => report_list(ctx, &list(all).await?),
            Some(plan) if args.verify => {
                let in_progress = list(all).await?;
                let topics: Vec<String> = plan.partitions.iter().map(|p| p.topic.clone()).collect();
                let metadata = cluster
                    .metadata_for(&topics)
                    .await
                    .map_err(|e| ctx.explain(e))?;
                let mut states = Vec::new();
                for p in &plan.partitions {
                    let key = (p.topic.clone(), p.partition);
                    let current = metadata
                        .topics
                        .get(&p.topic)
                        .and_then(|t| t.partitions.iter().find(|q| q.partition == p.partition))
                        .map(|q| q.replicas.clone());
                    let state = if in_progress.contains_key(&key) {
                        "in_progress"
                    } else if current.as_ref() == Some(&p.replicas) {
                        "completed"
                    } else {
                        "other"
                    };
                    states.push((p, state, current));
                }
                report_verify(ctx, &states)
            }
            Some(plan) => {
                if args.execute && !args.additional {
                    let in_progress = list(all).await?;
                    if !in_progress.is_empty() {
                        anyhow::bail!(
                            "Cannot execute because there is an existing partition assignment. Use --additional to override this and create a new partition assignment in addition to the existing one."
                        );
                    }
                }
                let cancel = args.cancel;
                let request = alter_request(&plan, cancel);
                let response: AlterPartitionReassignmentsResponse = cluster
                    .send_any(&request)
                    .await
                    .map_err(|e| ctx.explain(e))?;
                report_alter(ctx, cancel, &response)
            }
        }
    }))
}

fn read_plan(path: &PathBuf) -> anyhow::Result<Plan> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= PLAN_FILE_BYTES_MAX,
        "{} is larger than {PLAN_FILE_BYTES_MAX} bytes",
        path.display()
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a reassignment plan", path.display()))?;
    anyhow::ensure!(plan.version == 1, "plan version {} is not 1", plan.version);
    anyhow::ensure!(!plan.partitions.is_empty(), "the plan moves no partition");
    let mut seen = std::collections::BTreeSet::new();
    for p in &plan.partitions {
        anyhow::ensure!(
            seen.insert((&p.topic, p.partition)),
            "the plan names {}-{} twice",
            p.topic,
            p.partition
        );
        if let Some(dirs) = &p.log_dirs {
            anyhow::ensure!(
                dirs.iter().all(|d| d == "any"),
                "{}-{}: moving replicas to named log dirs is not supported; use `moldau log-dirs` after the move",
                p.topic,
                p.partition
            );
        }
    }
    Ok(plan)
}

/// The request starting (or, with `cancel`, cancelling) the plan's moves.
fn alter_request(plan: &Plan, cancel: bool) -> AlterPartitionReassignmentsRequest {
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for p in &plan.partitions {
        let replicas = (!cancel).then(|| p.replicas.iter().map(|b| BrokerId(*b)).collect());
        by_topic.entry(&p.topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(p.partition)
                .with_replicas(replicas),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(REASSIGNMENT_TIMEOUT_MS)
        .with_allow_replication_factor_change(true)
        .with_topics(topics)
}

/// A move in progress: (replicas, adding, removing), by (topic, partition).
type Ongoing = BTreeMap<(String, i32), (Vec<i32>, Vec<i32>, Vec<i32>)>;

fn ongoing(response: &ListPartitionReassignmentsResponse) -> Ongoing {
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
    let mut out = BTreeMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            out.insert(
                (t.name.0.to_string(), p.partition_index),
                (
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                ),
            );
        }
    }
    out
}

fn error_name(code: i16) -> Option<String> {
    BrokerError::from_code(code, None).map(|e| e.name)
}

fn joined(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn report_list(ctx: &Context, ongoing: &Ongoing) -> anyhow::Result<()> {
    if ctx.json {
        let items: Vec<_> = ongoing
            .iter()
            .map(|((topic, partition), (replicas, adding, removing))| {
                json!({
                    "topic": topic,
                    "partition": partition,
                    "replicas": replicas,
                    "addingReplicas": adding,
                    "removingReplicas": removing,
                })
            })
            .collect();
        return output::print_json(&json!({ "reassignments": items }));
    }
    if ongoing.is_empty() {
        return output::print("No partition reassignments found.\n");
    }
    let mut text = String::from("Current partition reassignments:\n");
    for ((topic, partition), (replicas, adding, removing)) in ongoing {
        text.push_str(&format!(
            "{topic}-{partition}: replicas: {}. adding: {}. removing: {}.\n",
            joined(replicas),
            joined(adding),
            joined(removing)
        ));
    }
    output::print(&text)
}

fn report_verify(
    ctx: &Context,
    states: &[(&PlannedPartition, &str, Option<Vec<i32>>)],
) -> anyhow::Result<()> {
    if ctx.json {
        let items: Vec<_> = states
            .iter()
            .map(|(p, state, current)| {
                json!({
                    "topic": p.topic,
                    "partition": p.partition,
                    "state": state,
                    "targetReplicas": p.replicas,
                    "currentReplicas": current,
                })
            })
            .collect();
        return output::print_json(&json!({ "partitions": items }));
    }
    let mut text = String::from("Status of partition reassignment:\n");
    for (p, state, current) in states {
        let name = format!("{}-{}", p.topic, p.partition);
        text.push_str(&match *state {
            "in_progress" => format!("Reassignment of partition {name} is still in progress.\n"),
            "completed" => format!("Reassignment of partition {name} is completed.\n"),
            _ => format!(
                "There is no active reassignment of partition {name}, but replica set is {} rather than {}.\n",
                current.as_deref().map_or_else(|| "unknown".into(), joined),
                joined(&p.replicas)
            ),
        });
    }
    output::print(&text)
}

fn report_alter(
    ctx: &Context,
    cancel: bool,
    response: &AlterPartitionReassignmentsResponse,
) -> anyhow::Result<()> {
    if let Some(name) = error_name(response.error_code) {
        let message = response
            .error_message
            .as_ref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        anyhow::bail!("partition reassignment refused: {name}{message}");
    }
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for t in &response.responses {
        for p in &t.partitions {
            let name = format!("{}-{}", t.name.0.as_str(), p.partition_index);
            match error_name(p.error_code) {
                None => done.push(name),
                Some(e) => {
                    let message = p.error_message.as_ref().map(|m| m.to_string());
                    failed.push((name, e, message.unwrap_or_default()));
                }
            }
        }
    }
    let verb = if cancel { "cancelled" } else { "started" };
    if ctx.json {
        let failed_json: Vec<_> = failed
            .iter()
            .map(|(p, e, m)| json!({ "partition": p, "error": e, "message": m }))
            .collect();
        output::print_json(&json!({ verb: done, "failed": failed_json }))?;
    } else {
        let mut lines = Vec::new();
        if !done.is_empty() {
            lines.push(format!(
                "Successfully {verb} partition reassignments for {}",
                done.join(",")
            ));
        }
        for (p, e, m) in &failed {
            lines.push(format!("Error reassigning partition(s) {p}: {e}: {m}"));
        }
        output::print(&format!("{}\n", lines.join("\n")))?;
    }
    if !failed.is_empty() {
        anyhow::bail!("{} partition reassignment(s) failed", failed.len());
    }
    Ok(())
}
