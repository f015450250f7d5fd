//! `moldau consume`: print a topic's records, kcat-style, alone (chosen partitions
//! and start) or as a member of a consumer group (committing what it printed).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use moldau_client::consumer::ConsumerConfig;
use moldau_client::{Consumer, ConsumerRecord, OffsetReset, SeekTo, TopicPartition};

use crate::context::Context;
use crate::record_format::{record_json, RecordFormat};
use crate::timeparse::parse_timestamp_arg;
use crate::topic::{named_topics, parse_key_value};

/// `after_help` of `moldau consume`.
pub const EXAMPLES: &str = "\
Examples:
  moldau consume events                                  (new records, until Ctrl-C)
  moldau consume events --from-beginning --until-end     (everything there now)
  moldau consume events --group billing --from-beginning (as a group member; commits)
  moldau consume events -p 0 --offset 1000 --max-messages 10
  moldau consume events -p 0 --offset -10                (the last 10 of partition 0)
  moldau consume events --timestamp 2024-05-01T12:00:00Z --until-end
  moldau consume events --format '%p:%o %k=%s %h' --from-beginning -e
  moldau consume events --json --from-beginning -e | jq .value

Format placeholders: %s value, %k key, %t topic, %p partition, %o offset,
%T timestamp (ms), %h headers (k=v,…), %S/%K value/key length, %% percent;
\\n \\t escapes. Every record ends with a line break.
Ctrl-C or SIGTERM stops cleanly; in a group the printed records are committed\nfirst and the member leaves the group.";

/// Longest one poll waits, so Ctrl-C and --until-end are noticed promptly.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Consume as a member of this group (its committed offsets decide the start;
    /// printed records are committed).
    #[arg(short, long)]
    group: Option<String>,
    /// Start at the oldest record (in a group: where it has no committed offset).
    #[arg(long, group = "start")]
    from_beginning: bool,
    /// Start at this offset; negative counts back from the end (-10: the last 10).
    #[arg(short, long, allow_negative_numbers = true, group = "start")]
    offset: Option<i64>,
    /// Start at the first record at or after this time (ms since the epoch, or
    /// ISO-8601 like 2024-05-01T12:00:00Z).
    #[arg(long, value_parser = parse_timestamp_arg, group = "start")]
    timestamp: Option<i64>,
    /// Only these partitions (comma-separated or repeated).
    #[arg(short, long, value_delimiter = ',')]
    partition: Vec<i32>,
    /// Stop after this many records.
    #[arg(short = 'c', long)]
    max_messages: Option<u64>,
    /// Stop once every partition has been read to its end.
    #[arg(short = 'e', long)]
    until_end: bool,
    /// How to print each record (placeholders below); default: the value alone.
    #[arg(short, long)]
    format: Option<String>,
    /// Any consumer property as NAME=VALUE (fetch.max.wait.ms, …); repeatable.
    #[arg(short = 'X', long = "property", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    properties: Vec<(String, String)>,
}

/// Where reading starts when the command line says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Beginning,
    End,
    Offset(i64),
    /// Back from the end by this many records.
    FromEnd(i64),
    Timestamp(i64),
}

impl ConsumeArgs {
    fn start(&self) -> Option<Start> {
        if self.from_beginning {
            Some(Start::Beginning)
        } else if let Some(o) = self.offset {
            Some(if o < 0 {
                Start::FromEnd(o.saturating_neg())
            } else {
                Start::Offset(o)
            })
        } else {
            self.timestamp.map(Start::Timestamp)
        }
    }
}

/// Runs `moldau consume`.
pub fn run(ctx: &Context, args: ConsumeArgs) -> anyhow::Result<()> {
    let format = match &args.format {
        Some(f) if ctx.json => bail!("--format and --json do not go together ({f})"),
        Some(f) => RecordFormat::parse(f).map_err(|e| anyhow::anyhow!("--format: {e}"))?,
        None => RecordFormat::default(),
    };
    if args.group.is_some()
        && args.partition.is_empty()
        && (args.offset.is_some() || args.timestamp.is_some())
    {
        bail!(
            "--offset and --timestamp need --partition with --group \
             (a group's members start at its committed offsets)"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let rt = ctx.runtime()?;
    rt.block_on(async {
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                stop_signal().await;
                stop.store(true, Ordering::Release);
            });
        }
        let admin = ctx.admin()?;
        let topic = ctx
            .timed(named_topics(ctx, &admin, std::slice::from_ref(&args.topic)))
            .await?
            .remove(0);
        let count = topic.partitions.len() as i32;
        if let Some(&p) = args.partition.iter().find(|&&p| p < 0 || p >= count) {
            bail!(
                "topic '{}' has no partition {p} (it has {count})",
                args.topic
            );
        }
        let consumer = build_consumer(ctx, &args)?;
        let result = async {
            if args.group.is_some() && args.partition.is_empty() {
                consumer
                    .subscribe(&[args.topic.as_str()])
                    .await
                    .map_err(|e| ctx.explain(e))?;
            } else {
                let tps: Vec<TopicPartition> = if args.partition.is_empty() {
                    (0..count)
                        .map(|p| TopicPartition::new(&args.topic, p))
                        .collect()
                } else {
                    args.partition
                        .iter()
                        .map(|&p| TopicPartition::new(&args.topic, p))
                        .collect()
                };
                consumer.assign(&tps).await.map_err(|e| ctx.explain(e))?;
                let start = args
                    .start()
                    .or((args.group.is_none()).then_some(Start::End));
                if let Some(start) = start {
                    seek_all(ctx, &consumer, &tps, start).await?;
                }
            }
            print_records(ctx, &args, &consumer, &format, &stop).await
        }
        .await;
        // Leaving the group commits what was printed (auto commit is on in groups).
        let closed = consumer.close().await.map_err(|e| ctx.explain(e));
        let printed = result?;
        closed?;
        if std::io::stderr().is_terminal() {
            eprintln!(
                "moldau: {}",
                crate::output::count_of(printed, "record", "records")
            );
        }
        Ok(())
    })
}

/// Returns on SIGINT (Ctrl-C) or SIGTERM (systemd, Kubernetes, `timeout`): both stop
/// the same clean way, committing what was printed and leaving the group.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot handle SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn build_consumer(ctx: &Context, args: &ConsumeArgs) -> anyhow::Result<Consumer> {
    let reset = match args.start() {
        Some(Start::Beginning) | Some(Start::FromEnd(_)) => OffsetReset::Earliest,
        _ => OffsetReset::Latest,
    };
    let mut config = ConsumerConfig {
        client: ctx.client_config(),
        group_id: args.group.clone(),
        enable_auto_commit: args.group.is_some(),
        auto_offset_reset: reset,
        ..ConsumerConfig::default()
    };
    for (k, v) in &args.properties {
        config
            .set(k, v)
            .map_err(|e| anyhow::anyhow!("--property {k}={v}: {e}"))?;
    }
    Consumer::new(config).map_err(|e| ctx.explain(e))
}

async fn seek_all(
    ctx: &Context,
    consumer: &Consumer,
    tps: &[TopicPartition],
    start: Start,
) -> anyhow::Result<()> {
    let ends = match start {
        Start::FromEnd(_) | Start::Offset(_) => consumer
            .end_offsets(tps)
            .await
            .map_err(|e| ctx.explain(e))?,
        _ => Default::default(),
    };
    if let Start::Offset(o) = start {
        // Kafka would silently reset such a position (auto.offset.reset) and print
        // nothing; say so instead.
        if let Some((tp, end)) = tps
            .iter()
            .find_map(|tp| ends.get(tp).filter(|&&end| o > end).map(|&end| (tp, end)))
        {
            bail!(
                "--offset {o} is past the end of '{}' partition {} (its next offset is {end})",
                tp.topic,
                tp.partition
            );
        }
    }
    for tp in tps {
        let to = match start {
            Start::Beginning => SeekTo::Beginning,
            Start::End => SeekTo::End,
            Start::Offset(o) => SeekTo::Offset(o),
            Start::Timestamp(t) => SeekTo::Timestamp(t),
            // Below the log start the consumer resets to the earliest offset.
            Start::FromEnd(n) => SeekTo::Offset(ends.get(tp).map_or(0, |e| (e - n).max(0))),
        };
        consumer.seek(tp, to).await.map_err(|e| ctx.explain(e))?;
    }
    Ok(())
}

/// Polls and prints until Ctrl-C, `--max-messages` or `--until-end`; returns how
/// many records were printed.
async fn print_records(
    ctx: &Context,
    args: &ConsumeArgs,
    consumer: &Consumer,
    format: &RecordFormat,
    stop: &AtomicBool,
) -> anyhow::Result<u64> {
    let stdout = std::io::stdout();
    let mut printed: u64 = 0;
    let mut buf = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Acquire) {
        if args.max_messages.is_some_and(|m| printed >= m) {
            break;
        }
        if args.until_end && at_end(consumer) {
            break;
        }
        let records = consumer
            .poll(POLL_INTERVAL)
            .await
            .map_err(|e| ctx.explain(e))?;
        let room = args.max_messages.map_or(usize::MAX, |m| {
            usize::try_from(m - printed).unwrap_or(usize::MAX)
        });
        let (shown, unshown) = records.split_at(records.len().min(room));
        buf.clear();
        for r in shown {
            if ctx.json {
                // Serialising a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut buf, &record_json(r));
                buf.push(b'\n');
            } else {
                format.write(r, &mut buf);
            }
        }
        printed += shown.len() as u64;
        rewind(ctx, consumer, unshown).await?;
        let mut out = stdout.lock();
        match out.write_all(&buf).and_then(|_| out.flush()) {
            Ok(()) => {}
            // The reader went away (`| head`): stop like kcat does.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(printed)
}

/// Moves positions back to the first record polled but not printed, so that
/// committing positions commits exactly what was printed.
async fn rewind(
    ctx: &Context,
    consumer: &Consumer,
    unshown: &[ConsumerRecord],
) -> anyhow::Result<()> {
    let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for r in unshown {
        first
            .entry(TopicPartition::new(&*r.topic, r.partition))
            .or_insert(r.offset);
    }
    for (tp, offset) in first {
        consumer
            .seek(&tp, SeekTo::Offset(offset))
            .await
            .map_err(|e| ctx.explain(e))?;
    }
    Ok(())
}

/// True when the consumer has partitions and every one is read up to its high
/// watermark.
fn at_end(consumer: &Consumer) -> bool {
    let assigned = consumer.assignment();
    !assigned.is_empty() && assigned.iter().all(|tp| consumer.lag(tp) == Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: ConsumeArgs,
    }

    fn parse(argv: &[&str]) -> Result<ConsumeArgs, clap::Error> {
        let mut all = vec!["consume", "t"];
        all.extend_from_slice(argv);
        Wrap::try_parse_from(all).map(|w| w.args)
    }

    #[test]
    fn start_options_map_to_positions() {
        let start = |argv: &[&str]| parse(argv).expect("valid").start();
        assert_eq!(start(&[]), None);
        assert_eq!(start(&["--from-beginning"]), Some(Start::Beginning));
        assert_eq!(start(&["--offset", "5"]), Some(Start::Offset(5)));
        assert_eq!(start(&["-o", "-10"]), Some(Start::FromEnd(10)));
        assert_eq!(
            start(&["--timestamp", "1970-01-01T00:00:01Z"]),
            Some(Start::Timestamp(1000))
        );
        assert!(parse(&["--from-beginning", "--offset", "1"]).is_err());
    }

    #[test]
    fn partitions_take_lists_and_repeats() {
        let a = parse(&["-p", "0,2", "-p", "5"]).expect("valid");
        assert_eq!(a.partition, vec![0, 2, 5]);
    }
}
