//! `moldau group reset-offsets`: works out where each partition's committed offset
//! goes, prints that plan, and commits it with `--execute` when the group is idle.

use std::collections::BTreeMap;

use anyhow::bail;
use clap::Args;
use moldau_client::admin::{AdminClient, OffsetSpec};
use moldau_client::offsets::OffsetAndMetadata;
use moldau_client::TopicPartition;
use serde_json::{json, Value};

use crate::context::{broker_error_name, Context};
use crate::group::{parse_topic_spec, resolve_specs, TopicSpec};
use crate::output::{self, or_dash, Table};
use crate::timeparse::{format_ms_utc, now_ms, parse_datetime_ms, parse_iso_duration};

/// Group states in which no consumer owns partitions, so offsets may be moved.
const IDLE_STATES: [&str; 2] = ["Empty", "Dead"];

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("scope").required(true))]
#[command(group = clap::ArgGroup::new("strategy").required(true))]
pub struct ResetArgs {
    /// The group.
    group: String,
    /// Topic, optionally with partitions: `payments` or `payments:0,1`; repeatable.
    #[arg(long = "topic", value_name = "TOPIC[:P,…]", value_parser = parse_topic_spec, group = "scope")]
    topics: Vec<TopicSpec>,
    /// Every topic the group has committed offsets for.
    #[arg(long, group = "scope")]
    all_topics: bool,
    /// Move to each partition's log start.
    #[arg(long, group = "strategy")]
    to_earliest: bool,
    /// Move to each partition's log end (skip everything unconsumed).
    #[arg(long, group = "strategy")]
    to_latest: bool,
    /// Move to this offset (kept inside the log's range).
    #[arg(long, value_name = "OFFSET", group = "strategy")]
    to_offset: Option<i64>,
    /// Move the committed offset by N (negative goes back), kept inside the log.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        group = "strategy"
    )]
    shift_by: Option<i64>,
    /// Move to the first record at or after this time (ISO-8601; UTC unless it has
    /// an offset like +02:00).
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime_ms, group = "strategy")]
    to_datetime: Option<i64>,
    /// Move to the first record written at most this long ago (ISO-8601 duration,
    /// e.g. PT1H30M or P1DT12H).
    #[arg(long, value_name = "PnDTnHnM", value_parser = parse_iso_duration, group = "strategy")]
    by_duration: Option<std::time::Duration>,
    /// Only print the plan (the default).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    /// Commit the new offsets (refused while the group has active members).
    #[arg(long)]
    execute: bool,
}

/// Where offsets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    /// First record at or after this time, ms.
    Timestamp(i64),
}

impl ResetArgs {
    fn strategy(&self) -> anyhow::Result<Strategy> {
        Ok(if self.to_earliest {
            Strategy::Earliest
        } else if self.to_latest {
            Strategy::Latest
        } else if let Some(o) = self.to_offset {
            Strategy::Offset(o)
        } else if let Some(n) = self.shift_by {
            Strategy::ShiftBy(n)
        } else if let Some(t) = self.to_datetime {
            Strategy::Timestamp(t)
        } else if let Some(d) = self.by_duration {
            let ago = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Strategy::Timestamp(now_ms().saturating_sub(ago))
        } else {
            bail!("choose where to move the offsets (--to-earliest, --to-latest, …)")
        })
    }
}

/// What happens to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlanRow {
    tp: TopicPartition,
    current: Option<i64>,
    new: i64,
}

/// A partition's log range and, for a time strategy, the offset found for the time
/// (`None` when no record is that new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogRange {
    start: i64,
    end: i64,
    at_time: Option<i64>,
}

/// The new offset of every partition; Kafka's rules: targets are kept inside
/// `[start, end]`, a time with no record after it goes to the end, and shifting needs
/// a committed offset to shift from.
fn plan(
    tps: &[TopicPartition],
    committed: &BTreeMap<TopicPartition, i64>,
    ranges: &BTreeMap<TopicPartition, LogRange>,
    strategy: Strategy,
) -> anyhow::Result<Vec<PlanRow>> {
    let mut rows = Vec::with_capacity(tps.len());
    for tp in tps {
        let Some(range) = ranges.get(tp) else {
            bail!("no log offsets for {tp} (is its leader available?)");
        };
        let current = committed.get(tp).copied();
        let wanted = match strategy {
            Strategy::Earliest => range.start,
            Strategy::Latest => range.end,
            Strategy::Offset(o) => o,
            Strategy::ShiftBy(n) => match current {
                Some(c) => c.saturating_add(n),
                None => bail!("cannot shift {tp}: the group has no committed offset there"),
            },
            Strategy::Timestamp(_) => range.at_time.unwrap_or(range.end),
        };
        rows.push(PlanRow {
            tp: tp.clone(),
            current,
            new: wanted.clamp(range.start, range.end.max(range.start)),
        });
    }
    Ok(rows)
}

/// Runs `moldau group reset-offsets`.
pub async fn run(ctx: &Context, admin: &AdminClient, a: ResetArgs) -> anyhow::Result<()> {
    let strategy = a.strategy()?;
    let group_state = match admin.describe_groups(&[a.group.as_str()]).await {
        Ok(found) => found.into_iter().next().map(|d| (d.state, d.members.len())),
        Err(e) if broker_error_name(&e) == Some("GROUP_ID_NOT_FOUND") => None,
        Err(e) => return Err(ctx.explain(e)),
    };
    let active = match &group_state {
        Some((state, members)) => *members > 0 || !IDLE_STATES.contains(&state.as_str()),
        None => false,
    };
    if active && a.execute {
        let (state, members) = group_state.unwrap_or_default();
        bail!(
            "group '{}' has {members} active member(s) (state {state}); offsets can only be \
             reset while no consumer is running in it. Stop its consumers and try again",
            a.group
        );
    }
    let committed: BTreeMap<TopicPartition, i64> = admin
        .list_group_offsets(&a.group)
        .await
        .map_err(|e| ctx.explain(e))?
        .into_iter()
        .map(|(tp, o)| (tp, o.offset))
        .collect();
    let tps: Vec<TopicPartition> = if a.all_topics {
        if committed.is_empty() {
            bail!(
                "group '{}' has no committed offsets; name the topics with --topic",
                a.group
            );
        }
        committed.keys().cloned().collect()
    } else {
        resolve_specs(ctx, admin, &a.topics).await?
    };
    let ranges = log_ranges(ctx, admin, &tps, strategy).await?;
    let rows = plan(&tps, &committed, &ranges, strategy)?;
    if a.execute {
        let commits: BTreeMap<TopicPartition, OffsetAndMetadata> = rows
            .iter()
            .map(|r| (r.tp.clone(), OffsetAndMetadata::new(r.new)))
            .collect();
        if let Err(e) = admin.alter_group_offsets(&a.group, &commits).await {
            if broker_error_name(&e) == Some("UNKNOWN_MEMBER_ID") {
                bail!(
                    "group '{}' gained active members; stop its consumers and try again",
                    a.group
                );
            }
            return Err(ctx.explain(e));
        }
    } else if active {
        eprintln!(
            "moldau: note: group '{}' has active members; --execute will be refused until they stop",
            a.group
        );
    }
    if ctx.json {
        return output::print_json(&plan_json(&a.group, &rows, a.execute));
    }
    let mut text = plan_table(&rows).render();
    if let Strategy::Timestamp(t) = strategy {
        text.push_str(&format!("\nTarget time: {}\n", format_ms_utc(t)));
    }
    if !a.execute {
        text.push_str("\nDry run: nothing changed. Add --execute to commit these offsets.\n");
    }
    output::print(&text)
}

/// Log start, end and (for time strategies) the offset at the time, per partition.
async fn log_ranges(
    ctx: &Context,
    admin: &AdminClient,
    tps: &[TopicPartition],
    strategy: Strategy,
) -> anyhow::Result<BTreeMap<TopicPartition, LogRange>> {
    let starts = admin
        .list_offsets(tps, OffsetSpec::Earliest)
        .await
        .map_err(|e| ctx.explain(e))?;
    let ends = admin
        .list_offsets(tps, OffsetSpec::Latest)
        .await
        .map_err(|e| ctx.explain(e))?;
    let at_time = match strategy {
        Strategy::Timestamp(t) => Some(
            admin
                .list_offsets(tps, OffsetSpec::Timestamp(t))
                .await
                .map_err(|e| ctx.explain(e))?,
        ),
        _ => None,
    };
    Ok(tps
        .iter()
        .filter_map(|tp| {
            let range = LogRange {
                start: starts.get(tp)?.offset,
                end: ends.get(tp)?.offset,
                at_time: at_time
                    .as_ref()
                    .and_then(|m| m.get(tp))
                    .map(|l| l.offset)
                    .filter(|&o| o >= 0),
            };
            Some((tp.clone(), range))
        })
        .collect())
}

fn plan_table(rows: &[PlanRow]) -> Table {
    let mut table = Table::new(&["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"]);
    for r in rows {
        table.row(vec![
            r.tp.topic.clone(),
            r.tp.partition.to_string(),
            or_dash(r.current),
            r.new.to_string(),
        ]);
    }
    table
}

fn plan_json(group: &str, rows: &[PlanRow], executed: bool) -> Value {
    json!({
        "group_id": group,
        "executed": executed,
        "partitions": rows.iter().map(|r| json!({
            "topic": r.tp.topic,
            "partition": r.tp.partition,
            "current_offset": r.current,
            "new_offset": r.new,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (
        Vec<TopicPartition>,
        BTreeMap<TopicPartition, i64>,
        BTreeMap<TopicPartition, LogRange>,
    ) {
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        let committed = BTreeMap::from([(a.clone(), 40)]);
        let ranges = BTreeMap::from([
            (
                a.clone(),
                LogRange {
                    start: 10,
                    end: 100,
                    at_time: Some(70),
                },
            ),
            (
                b.clone(),
                LogRange {
                    start: 0,
                    end: 5,
                    at_time: None,
                },
            ),
        ]);
        (vec![a, b], committed, ranges)
    }

    fn new_offsets(rows: &[PlanRow]) -> Vec<i64> {
        rows.iter().map(|r| r.new).collect()
    }

    #[test]
    fn strategies_pick_offsets_inside_the_log() {
        let (tps, committed, ranges) = setup();
        let run = |s| plan(&tps, &committed, &ranges, s).expect("plan");
        assert_eq!(new_offsets(&run(Strategy::Earliest)), vec![10, 0]);
        assert_eq!(new_offsets(&run(Strategy::Latest)), vec![100, 5]);
        assert_eq!(new_offsets(&run(Strategy::Offset(3))), vec![10, 3]);
        assert_eq!(new_offsets(&run(Strategy::Offset(1000))), vec![100, 5]);
        assert_eq!(new_offsets(&run(Strategy::Timestamp(1))), vec![70, 5]);
        let rows = run(Strategy::Earliest);
        assert_eq!(rows[0].current, Some(40));
        assert_eq!(rows[1].current, None);
    }

    #[test]
    fn shifting_moves_from_the_commit_and_needs_one() {
        let (tps, committed, ranges) = setup();
        let rows = plan(&tps[..1], &committed, &ranges, Strategy::ShiftBy(-25)).expect("plan");
        assert_eq!(new_offsets(&rows), vec![15]);
        let rows = plan(&tps[..1], &committed, &ranges, Strategy::ShiftBy(-100)).expect("plan");
        assert_eq!(new_offsets(&rows), vec![10], "clamped to the log start");
        let err = plan(&tps, &committed, &ranges, Strategy::ShiftBy(1)).unwrap_err();
        assert!(err.to_string().contains("no committed offset"), "{err}");
    }

    #[test]
    fn plans_print_current_and_new_offsets() {
        let (tps, committed, ranges) = setup();
        let rows = plan(&tps, &committed, &ranges, Strategy::Earliest).expect("plan");
        assert_eq!(
            plan_table(&rows).render(),
            "TOPIC  PARTITION  CURRENT-OFFSET  NEW-OFFSET\n\
             t      0          40              10\n\
             t      1          -               0\n"
        );
        let doc = plan_json("g", &rows, false);
        assert_eq!(doc["partitions"][1]["current_offset"], Value::Null);
        assert_eq!(doc["executed"], false);
    }
}
