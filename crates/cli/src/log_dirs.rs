//! `moldau log-dirs describe|move`: each broker's log directories and the partitions
//! in them (DescribeLogDirs, as `kafka-log-dirs.sh --describe`, whose JSON `--json`
//! prints), and moving a partition to another directory of its broker
//! (AlterReplicaLogDirs, the log-dir part of `kafka-reassign-partitions.sh`).

use clap::{Args, Subcommand};
use moldau_client::cluster::Lane;
use moldau_client::{AdminClient, BrokerError};
use moldau_protocol::kafka::messages::alter_replica_log_dirs_request::{
    AlterReplicaLogDir, AlterReplicaLogDirTopic,
};
use moldau_protocol::kafka::messages::describe_log_dirs_request::DescribableLogDirTopic;
use moldau_protocol::kafka::messages::{
    AlterReplicaLogDirsRequest, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use moldau_protocol::kafka::protocol::StrBytes;
use serde_json::json;
use std::time::Duration;

use crate::context::Context;
use crate::output::{self, Table};

/// How often `move --wait` asks whether the move finished.
const MOVE_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// `moldau log-dirs …`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  moldau log-dirs describe
  moldau log-dirs describe --topic payments --json
  moldau log-dirs move payments 3 /mnt/disk2/moldau --wait")]
pub struct LogDirsArgs {
    #[command(subcommand)]
    command: LogDirsCommand,
}

#[derive(Subcommand, Debug)]
enum LogDirsCommand {
    /// Every log directory of each broker: state, disk space, and the partitions in it
    /// (size, lag of a copy being moved in).
    Describe {
        /// Only the partitions of this topic (repeatable).
        #[arg(long)]
        topic: Vec<String>,
        /// Only these brokers (repeatable); every broker by default.
        #[arg(long)]
        broker: Vec<i32>,
    },
    /// Move a partition to another log directory of its broker, online.
    Move {
        topic: String,
        partition: i32,
        /// The destination: one of the broker's log.dirs, as `describe` prints it.
        dir: String,
        /// The broker whose replica moves; every broker holding one by default.
        #[arg(long)]
        broker: Vec<i32>,
        /// Wait until the copy has caught up and replaced the partition.
        #[arg(long)]
        wait: bool,
    },
}

/// Runs `moldau log-dirs …`.
pub fn run(ctx: &Context, args: LogDirsArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        match args.command {
            LogDirsCommand::Describe { topic, broker } => {
                describe(ctx, &admin, &topic, &broker).await
            }
            LogDirsCommand::Move {
                topic,
                partition,
                dir,
                broker,
                wait,
            } => move_partition(ctx, &admin, &topic, partition, &dir, &broker, wait).await,
        }
    }))
}

async fn brokers_or(admin: &AdminClient, chosen: &[i32]) -> anyhow::Result<Vec<i32>> {
    if !chosen.is_empty() {
        return Ok(chosen.to_vec());
    }
    let metadata = admin.cluster().refresh(None).await?;
    let mut ids: Vec<i32> = metadata.brokers.keys().copied().collect();
    ids.sort_unstable();
    Ok(ids)
}

async fn describe_request(
    ctx: &Context,
    admin: &AdminClient,
    topics: &[String],
) -> anyhow::Result<DescribeLogDirsRequest> {
    if topics.is_empty() {
        return Ok(DescribeLogDirsRequest::default().with_topics(None));
    }
    let metadata = admin
        .cluster()
        .metadata_for(topics)
        .await
        .map_err(|e| ctx.explain(e))?;
    let mut wanted = Vec::new();
    for t in topics {
        let count = metadata
            .partition_count(t)
            .ok_or_else(|| anyhow::anyhow!("topic {t} does not exist"))?;
        wanted.push(
            DescribableLogDirTopic::default()
                .with_topic(TopicName(StrBytes::from_string(t.clone())))
                .with_partitions((0..count as i32).collect()),
        );
    }
    Ok(DescribeLogDirsRequest::default().with_topics(Some(wanted)))
}

fn error_name(code: i16) -> Option<String> {
    BrokerError::from_code(code, None).map(|e| e.name)
}

async fn describe(
    ctx: &Context,
    admin: &AdminClient,
    topics: &[String],
    brokers: &[i32],
) -> anyhow::Result<()> {
    let request = describe_request(ctx, admin, topics).await?;
    let mut answers: Vec<(i32, DescribeLogDirsResponse)> = Vec::new();
    for id in brokers_or(admin, brokers).await? {
        let response = admin
            .cluster()
            .send_to(id, Lane::Data, &request)
            .await
            .map_err(|e| ctx.explain(e))?;
        if let Some(name) = error_name(response.error_code) {
            anyhow::bail!("broker {id} refused DescribeLogDirs: {name}");
        }
        answers.push((id, response));
    }
    if ctx.json {
        // kafka-log-dirs.sh --describe's output.
        let brokers: Vec<serde_json::Value> = answers
            .iter()
            .map(|(id, r)| {
                json!({
                    "broker": id,
                    "logDirs": r.results.iter().map(|d| json!({
                        "logDir": d.log_dir.as_str(),
                        "error": error_name(d.error_code),
                        "totalBytes": d.total_bytes,
                        "usableBytes": d.usable_bytes,
                        "partitions": d.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| json!({
                            "partition": format!("{}-{}", t.name.0.as_str(), p.partition_index),
                            "size": p.partition_size,
                            "offsetLag": p.offset_lag,
                            "isFuture": p.is_future_key,
                        }))).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return output::print_json(&json!({ "version": 1, "brokers": brokers }));
    }
    let mut dirs = Table::new(&[
        "BROKER",
        "LOG-DIR",
        "STATE",
        "PARTITIONS",
        "SIZE",
        "FREE",
        "DISK",
    ]);
    let mut partitions = Table::new(&[
        "BROKER",
        "LOG-DIR",
        "PARTITION",
        "SIZE",
        "OFFSET-LAG",
        "FUTURE",
    ]);
    let bytes = |n: i64| u64::try_from(n).map_or_else(|_| "-".to_string(), output::human_bytes);
    for (id, r) in &answers {
        for d in &r.results {
            let count: usize = d.topics.iter().map(|t| t.partitions.len()).sum();
            let size: i64 = d
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.partition_size))
                .sum();
            dirs.row(vec![
                id.to_string(),
                d.log_dir.to_string(),
                error_name(d.error_code).unwrap_or_else(|| "online".into()),
                count.to_string(),
                bytes(size),
                bytes(d.usable_bytes),
                bytes(d.total_bytes),
            ]);
            for t in &d.topics {
                for p in &t.partitions {
                    partitions.row(vec![
                        id.to_string(),
                        d.log_dir.to_string(),
                        format!("{}-{}", t.name.0.as_str(), p.partition_index),
                        bytes(p.partition_size),
                        p.offset_lag.to_string(),
                        if p.is_future_key { "yes" } else { "no" }.into(),
                    ]);
                }
            }
        }
    }
    output::print(&format!("{}\n{}", dirs.render(), partitions.render()))
}

/// True when broker `id` holds `topic-partition` in `dir` and no copy of it is
/// being built.
async fn moved(
    admin: &AdminClient,
    id: i32,
    topic: &str,
    partition: i32,
    dir: &str,
) -> anyhow::Result<bool> {
    let request =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![partition])]));
    let response = admin.cluster().send_to(id, Lane::Data, &request).await?;
    let replicas: Vec<(&str, bool)> = response
        .results
        .iter()
        .flat_map(|d| {
            d.topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(move |p| (d.log_dir.as_str(), p.is_future_key))
        })
        .collect();
    let same_dir = |found: &str| {
        found == dir || std::path::absolute(dir).is_ok_and(|d| d == std::path::Path::new(found))
    };
    Ok(matches!(replicas.as_slice(), [(found, false)] if same_dir(found)))
}

async fn move_partition(
    ctx: &Context,
    admin: &AdminClient,
    topic: &str,
    partition: i32,
    dir: &str,
    brokers: &[i32],
    wait: bool,
) -> anyhow::Result<()> {
    let brokers = if brokers.is_empty() {
        let metadata = admin
            .cluster()
            .metadata_for(&[topic.to_string()])
            .await
            .map_err(|e| ctx.explain(e))?;
        let info = metadata
            .topics
            .get(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .ok_or_else(|| anyhow::anyhow!("partition {topic}-{partition} does not exist"))?;
        info.replicas.clone()
    } else {
        brokers.to_vec()
    };
    let request =
        AlterReplicaLogDirsRequest::default().with_dirs(vec![AlterReplicaLogDir::default()
            .with_path(StrBytes::from_string(dir.to_string()))
            .with_topics(vec![AlterReplicaLogDirTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![partition])])]);
    for &id in &brokers {
        let response = admin
            .cluster()
            .send_to(id, Lane::Data, &request)
            .await
            .map_err(|e| ctx.explain(e))?;
        let code = response
            .results
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .map_or(0, |p| p.error_code);
        if let Some(name) = error_name(code) {
            anyhow::bail!("broker {id} refused to move {topic}-{partition} to {dir}: {name}");
        }
    }
    if wait {
        for &id in &brokers {
            while !moved(admin, id, topic, partition, dir)
                .await
                .map_err(|e| anyhow::anyhow!("asking broker {id} about the move: {e}"))?
            {
                tokio::time::sleep(MOVE_POLL_INTERVAL).await;
            }
        }
        return output::print(&format!("{topic}-{partition} moved to {dir}"));
    }
    output::print(&format!(
        "moving {topic}-{partition} to {dir} (follow it with `moldau log-dirs describe --topic {topic}`)"
    ))
}
