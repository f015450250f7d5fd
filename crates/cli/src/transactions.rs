//! `moldau transactions`: list and describe transactional ids, the active producers
//! of a partition, find hanging transactions and abort them (what
//! `kafka-transactions.sh` does, with its column names).

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use moldau_client::admin::{AbortTransactionSpec, TransactionFilter};
use moldau_client::{AdminClient, TopicPartition};
use serde_json::{json, Value};

use crate::context::Context;
use crate::output::{self, Table};
use crate::transactions_hanging::{self, FindHangingArgs};

const TRANSACTIONS_EXAMPLES: &str = "\
Examples:
  moldau transactions list
  moldau transactions describe --transactional-id payments-tx
  moldau transactions describe-producers --topic payments --partition 0
  moldau transactions find-hanging --broker-id 1
  moldau transactions abort --topic payments --partition 0 --start-offset 1200
  moldau transactions abort --topic payments --partition 0 --producer-id 4000 \\
      --producer-epoch 3 --coordinator-epoch 0";

/// `moldau transactions …`
#[derive(Args, Debug)]
#[command(after_help = TRANSACTIONS_EXAMPLES)]
pub struct TransactionsArgs {
    #[command(subcommand)]
    command: TransactionsCommand,
}

#[derive(Subcommand, Debug)]
enum TransactionsCommand {
    /// Every transactional id with its coordinator, producer id and state.
    List(ListArgs),
    /// One transactional id as its coordinator sees it.
    Describe(DescribeArgs),
    /// The active producers of a partition (open transactions show their first
    /// offset).
    DescribeProducers(DescribeProducersArgs),
    /// Open transactions of a broker's partitions that their coordinator does not
    /// know about (or that outlived the longest transaction timeout).
    FindHanging(FindHangingArgs),
    /// Abort an open transaction on one partition by writing an ABORT marker to its
    /// leader (for hanging transactions; a live producer's transaction is aborted by
    /// its coordinator instead).
    Abort(AbortArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only transactions open for at least this many milliseconds.
    #[arg(long, value_name = "MS")]
    duration_filter: Option<i64>,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// The transactional id.
    #[arg(long)]
    transactional_id: String,
}

#[derive(Args, Debug)]
pub struct PartitionArgs {
    /// Topic name.
    #[arg(long)]
    pub topic: String,
    /// Partition index.
    #[arg(long)]
    pub partition: i32,
}

#[derive(Args, Debug)]
struct DescribeProducersArgs {
    #[command(flatten)]
    partition: PartitionArgs,
    /// Ask this broker (a replica) instead of the partition's leader.
    #[arg(long)]
    broker_id: Option<i32>,
}

#[derive(Args, Debug)]
struct AbortArgs {
    #[command(flatten)]
    partition: PartitionArgs,
    /// First offset of the transaction to abort (its producer is looked up).
    #[arg(long, conflicts_with_all = ["producer_id", "producer_epoch", "coordinator_epoch"])]
    start_offset: Option<i64>,
    /// Producer id of the transaction (with --producer-epoch and --coordinator-epoch).
    #[arg(long, requires_all = ["producer_epoch", "coordinator_epoch"])]
    producer_id: Option<i64>,
    /// Producer epoch of the transaction.
    #[arg(long)]
    producer_epoch: Option<i16>,
    /// Coordinator epoch the marker carries.
    #[arg(long)]
    coordinator_epoch: Option<i32>,
}

/// Runs `moldau transactions …`.
pub fn run(ctx: &Context, args: TransactionsArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        match args.command {
            TransactionsCommand::List(a) => list(ctx, &admin, a).await,
            TransactionsCommand::Describe(a) => describe(ctx, &admin, a).await,
            TransactionsCommand::DescribeProducers(a) => describe_producers(ctx, &admin, a).await,
            TransactionsCommand::FindHanging(a) => transactions_hanging::run(ctx, &admin, a).await,
            TransactionsCommand::Abort(a) => abort(ctx, &admin, a).await,
        }
    }))
}

async fn list(ctx: &Context, admin: &AdminClient, a: ListArgs) -> anyhow::Result<()> {
    let filter = TransactionFilter {
        duration_ms: a.duration_filter,
        ..TransactionFilter::default()
    };
    let listed = admin
        .list_transactions(&filter)
        .await
        .map_err(|e| ctx.explain(e))?;
    if ctx.json {
        let rows: Vec<Value> = listed
            .iter()
            .map(|t| {
                json!({
                    "transactional_id": t.transactional_id,
                    "coordinator": t.coordinator_id,
                    "producer_id": t.producer_id,
                    "state": t.state,
                })
            })
            .collect();
        return output::print_json(&Value::Array(rows));
    }
    let mut table = Table::new(&[
        "TransactionalId",
        "Coordinator",
        "ProducerId",
        "TransactionState",
    ]);
    for t in listed {
        table.row(vec![
            t.transactional_id,
            t.coordinator_id.to_string(),
            t.producer_id.to_string(),
            t.state,
        ]);
    }
    output::print(&table.render())
}

async fn describe(ctx: &Context, admin: &AdminClient, a: DescribeArgs) -> anyhow::Result<()> {
    let d = admin
        .describe_transaction(&a.transactional_id)
        .await
        .map_err(|e| ctx.explain(e))
        .with_context(|| format!("cannot describe transactional id '{}'", a.transactional_id))?;
    let now = now_ms();
    let duration = (d.start_time_ms >= 0).then(|| now.saturating_sub(d.start_time_ms));
    let partitions: Vec<String> = d.partitions.iter().map(|p| p.to_string()).collect();
    if ctx.json {
        return output::print_json(&json!({
            "coordinator_id": d.coordinator_id,
            "transactional_id": d.transactional_id,
            "producer_id": d.producer_id,
            "producer_epoch": d.producer_epoch,
            "state": d.state,
            "timeout_ms": d.timeout_ms,
            "start_time_ms": (d.start_time_ms >= 0).then_some(d.start_time_ms),
            "duration_ms": duration,
            "partitions": partitions,
        }));
    }
    let mut table = Table::new(&[
        "CoordinatorId",
        "TransactionalId",
        "ProducerId",
        "ProducerEpoch",
        "TransactionState",
        "TransactionTimeoutMs",
        "CurrentTransactionStartTimeMs",
        "TransactionDurationMs",
        "TopicPartitions",
    ]);
    table.row(vec![
        d.coordinator_id.to_string(),
        d.transactional_id,
        d.producer_id.to_string(),
        d.producer_epoch.to_string(),
        d.state,
        d.timeout_ms.to_string(),
        output::or_dash((d.start_time_ms >= 0).then_some(d.start_time_ms)),
        output::or_dash(duration),
        partitions.join(","),
    ]);
    output::print(&table.render())
}

async fn describe_producers(
    ctx: &Context,
    admin: &AdminClient,
    a: DescribeProducersArgs,
) -> anyhow::Result<()> {
    let tp = TopicPartition::new(&a.partition.topic, a.partition.partition);
    let producers = admin
        .describe_producers(&tp, a.broker_id)
        .await
        .map_err(|e| ctx.explain(e))
        .with_context(|| format!("cannot describe the producers of {tp}"))?;
    if ctx.json {
        let rows: Vec<Value> = producers
            .iter()
            .map(|p| {
                json!({
                    "producer_id": p.producer_id,
                    "producer_epoch": p.producer_epoch,
                    "coordinator_epoch": p.coordinator_epoch,
                    "last_sequence": p.last_sequence,
                    "last_timestamp": p.last_timestamp,
                    "current_transaction_start_offset": p.current_txn_start_offset,
                })
            })
            .collect();
        return output::print_json(&Value::Array(rows));
    }
    let mut table = Table::new(&[
        "ProducerId",
        "ProducerEpoch",
        "LatestCoordinatorEpoch",
        "LastSequence",
        "LastTimestamp",
        "CurrentTransactionStartOffset",
    ]);
    for p in producers {
        table.row(vec![
            p.producer_id.to_string(),
            p.producer_epoch.to_string(),
            p.coordinator_epoch.to_string(),
            p.last_sequence.to_string(),
            p.last_timestamp.to_string(),
            output::or_dash(p.current_txn_start_offset),
        ]);
    }
    output::print(&table.render())
}

async fn abort(ctx: &Context, admin: &AdminClient, a: AbortArgs) -> anyhow::Result<()> {
    let tp = TopicPartition::new(&a.partition.topic, a.partition.partition);
    let spec = match (
        a.start_offset,
        a.producer_id,
        a.producer_epoch,
        a.coordinator_epoch,
    ) {
        (Some(start), _, _, _) => {
            let producers = admin
                .describe_producers(&tp, None)
                .await
                .map_err(|e| ctx.explain(e))
                .with_context(|| format!("cannot describe the producers of {tp}"))?;
            let Some(p) = producers
                .iter()
                .find(|p| p.current_txn_start_offset == Some(start))
            else {
                bail!("no open transaction starts at offset {start} of {tp}");
            };
            let Ok(producer_epoch) = i16::try_from(p.producer_epoch) else {
                bail!(
                    "producer {} has epoch {}, not a valid epoch",
                    p.producer_id,
                    p.producer_epoch
                );
            };
            AbortTransactionSpec {
                partition: tp.clone(),
                producer_id: p.producer_id,
                producer_epoch,
                // A partition that never saw a marker has no coordinator epoch yet.
                coordinator_epoch: p.coordinator_epoch.max(0),
            }
        }
        (None, Some(producer_id), Some(producer_epoch), Some(coordinator_epoch)) => {
            AbortTransactionSpec {
                partition: tp.clone(),
                producer_id,
                producer_epoch,
                coordinator_epoch,
            }
        }
        _ => bail!(
            "name the transaction with --start-offset, or with --producer-id, \
             --producer-epoch and --coordinator-epoch"
        ),
    };
    admin
        .abort_transaction(&spec)
        .await
        .map_err(|e| ctx.explain(e))
        .with_context(|| {
            format!(
                "cannot abort the transaction of producer {} on {tp}",
                spec.producer_id
            )
        })?;
    if ctx.json {
        return output::print_json(&json!({
            "aborted": { "topic": tp.topic, "partition": tp.partition,
                         "producer_id": spec.producer_id,
                         "producer_epoch": spec.producer_epoch,
                         "coordinator_epoch": spec.coordinator_epoch },
        }));
    }
    output::print(&format!(
        "Aborted the transaction of producer {} (epoch {}) on {tp}\n",
        spec.producer_id, spec.producer_epoch
    ))
}

/// Now, in ms since the epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
