//! `moldau transactions find-hanging`: open transactions on a broker's partitions
//! that no coordinator will ever finish. As Kafka's tool: every open transaction
//! (DescribeProducers) whose last write is older than the longest transaction
//! timeout is a candidate; it hangs unless its producer's coordinator still
//! describes an open transaction of that producer that includes the partition.

use std::collections::{BTreeMap, BTreeSet};

use clap::Args;
use moldau_client::admin::{ProducerStateDescription, TransactionFilter};
use moldau_client::{AdminClient, TopicPartition};
use serde_json::{json, Value};

use crate::context::Context;
use crate::output::{self, Table};

/// Kafka's `transaction.max.timeout.ms` default, in minutes: a transaction open
/// longer than any producer may ask for.
const MAX_TRANSACTION_TIMEOUT_MINUTES_DEFAULT: i64 = 15;
/// Milliseconds in a minute.
const MINUTE_MS: i64 = 60_000;
/// The coordinator states in which a transaction is still being finished.
const OPEN_STATES: [&str; 3] = ["Ongoing", "PrepareCommit", "PrepareAbort"];

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["broker_id", "topic"])))]
pub struct FindHangingArgs {
    /// Look at every partition this broker holds a replica of.
    #[arg(long)]
    broker_id: Option<i32>,
    /// Look at this topic only.
    #[arg(long)]
    topic: Option<String>,
    /// With --topic: this partition only.
    #[arg(long, requires = "topic")]
    partition: Option<i32>,
    /// Transactions whose last write is older than this many minutes are candidates
    /// (the cluster's `transaction.max.timeout.ms`).
    #[arg(long, default_value_t = MAX_TRANSACTION_TIMEOUT_MINUTES_DEFAULT, value_name = "MINUTES")]
    max_transaction_timeout: i64,
}

/// One open transaction on one partition.
struct OpenTransaction {
    partition: TopicPartition,
    producer: ProducerStateDescription,
}

pub async fn run(ctx: &Context, admin: &AdminClient, a: FindHangingArgs) -> anyhow::Result<()> {
    let partitions = partitions_to_search(ctx, admin, &a).await?;
    let now = crate::transactions::now_ms();
    let timeout_ms = a.max_transaction_timeout.saturating_mul(MINUTE_MS);
    let mut candidates = Vec::new();
    for tp in partitions {
        let producers = admin
            .describe_producers(&tp, a.broker_id)
            .await
            .map_err(|e| ctx.explain(e))?;
        for p in producers {
            if p.current_txn_start_offset.is_some()
                && now.saturating_sub(p.last_timestamp) > timeout_ms
            {
                candidates.push(OpenTransaction {
                    partition: tp.clone(),
                    producer: p,
                });
            }
        }
    }
    let hanging = hanging_among(ctx, admin, candidates).await?;
    print(ctx, &hanging, now)
}

/// The partitions `a` names: a topic (or one of its partitions), or every partition
/// with a replica on the broker.
async fn partitions_to_search(
    ctx: &Context,
    admin: &AdminClient,
    a: &FindHangingArgs,
) -> anyhow::Result<Vec<TopicPartition>> {
    if let Some(topic) = &a.topic {
        let all = admin
            .partitions_of(&[topic])
            .await
            .map_err(|e| ctx.explain(e))?;
        return Ok(match a.partition {
            Some(p) if !all.iter().any(|tp| tp.partition == p) => {
                anyhow::bail!("topic '{topic}' has no partition {p}")
            }
            Some(p) => vec![TopicPartition::new(topic, p)],
            None => all,
        });
    }
    let broker = a.broker_id.unwrap_or(-1);
    let md = admin
        .cluster()
        .refresh(None)
        .await
        .map_err(|e| ctx.explain(e))?;
    if !md.brokers.contains_key(&broker) {
        anyhow::bail!("broker {broker} is not in the cluster");
    }
    let mut out: Vec<TopicPartition> = md
        .topics
        .values()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.replicas.contains(&broker))
                .map(|p| TopicPartition::new(&t.name, p.partition))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The candidates that no coordinator is finishing.
async fn hanging_among(
    ctx: &Context,
    admin: &AdminClient,
    candidates: Vec<OpenTransaction>,
) -> anyhow::Result<Vec<OpenTransaction>> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let producer_ids: BTreeSet<i64> = candidates.iter().map(|c| c.producer.producer_id).collect();
    let filter = TransactionFilter {
        producer_ids: producer_ids.into_iter().collect(),
        ..TransactionFilter::default()
    };
    let listed = admin
        .list_transactions(&filter)
        .await
        .map_err(|e| ctx.explain(e))?;
    // Per producer id, the partitions its coordinator has in an open transaction.
    let mut open: BTreeMap<i64, BTreeSet<TopicPartition>> = BTreeMap::new();
    for t in listed {
        if !OPEN_STATES.contains(&t.state.as_str()) {
            continue;
        }
        let d = admin
            .describe_transaction(&t.transactional_id)
            .await
            .map_err(|e| ctx.explain(e))?;
        if OPEN_STATES.contains(&d.state.as_str()) {
            open.entry(d.producer_id)
                .or_default()
                .extend(d.partitions.iter().cloned());
        }
    }
    Ok(candidates
        .into_iter()
        .filter(|c| {
            !open
                .get(&c.producer.producer_id)
                .is_some_and(|ps| ps.contains(&c.partition))
        })
        .collect())
}

fn print(ctx: &Context, hanging: &[OpenTransaction], now: i64) -> anyhow::Result<()> {
    let minutes = |t: &OpenTransaction| now.saturating_sub(t.producer.last_timestamp) / MINUTE_MS;
    if ctx.json {
        let rows: Vec<Value> = hanging
            .iter()
            .map(|t| {
                json!({
                    "topic": t.partition.topic,
                    "partition": t.partition.partition,
                    "producer_id": t.producer.producer_id,
                    "producer_epoch": t.producer.producer_epoch,
                    "coordinator_epoch": t.producer.coordinator_epoch,
                    "start_offset": t.producer.current_txn_start_offset,
                    "last_timestamp": t.producer.last_timestamp,
                    "duration_minutes": minutes(t),
                })
            })
            .collect();
        return output::print_json(&Value::Array(rows));
    }
    let mut table = Table::new(&[
        "Topic",
        "Partition",
        "ProducerId",
        "ProducerEpoch",
        "CoordinatorEpoch",
        "StartOffset",
        "LastTimestamp",
        "Duration(min)",
    ]);
    for t in hanging {
        table.row(vec![
            t.partition.topic.clone(),
            t.partition.partition.to_string(),
            t.producer.producer_id.to_string(),
            t.producer.producer_epoch.to_string(),
            t.producer.coordinator_epoch.to_string(),
            output::or_dash(t.producer.current_txn_start_offset),
            t.producer.last_timestamp.to_string(),
            minutes(t).to_string(),
        ]);
    }
    output::print(&table.render())
}
