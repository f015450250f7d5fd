//! `moldau leader-election`: ElectLeaders, as `kafka-leader-election.sh` — moves
//! leadership back to the preferred replicas, or elects a leader outside the ISR for
//! partitions that have none (unclean: records only the old ISR had are lost).

use clap::{Args, ValueEnum};
use moldau_client::BrokerError;
use moldau_protocol::kafka::messages::elect_leaders_request::TopicPartitions;
use moldau_protocol::kafka::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use moldau_protocol::kafka::protocol::StrBytes;
use serde_json::json;

use crate::context::Context;
use crate::output;

/// How long the broker may take, as `kafka-leader-election.sh`'s admin default.
const ELECTION_TIMEOUT_MS: i32 = 30_000;

/// Kafka's ElectionType.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "UPPER")]
enum ElectionType {
    /// The first replica of each partition, if it is in sync.
    Preferred,
    /// For a partition without a leader, any live replica, in sync or not.
    Unclean,
}

/// `moldau leader-election …`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  moldau leader-election --election-type PREFERRED --all-topic-partitions
  moldau leader-election --election-type PREFERRED --topic payments
  moldau leader-election --election-type UNCLEAN --topic payments --partition 3")]
pub struct LeaderElectionArgs {
    /// PREFERRED or UNCLEAN.
    #[arg(long, value_enum, ignore_case = true)]
    election_type: ElectionType,
    /// The topic whose partitions are elected (with --partition, only that one).
    #[arg(long, conflicts_with = "all_topic_partitions")]
    topic: Option<String>,
    /// One partition of --topic.
    #[arg(long, requires = "topic")]
    partition: Option<i32>,
    /// Every partition of the cluster.
    #[arg(long, required_unless_present = "topic")]
    all_topic_partitions: bool,
}

/// Runs `moldau leader-election …`; fails when a partition could not be elected.
pub fn run(ctx: &Context, args: LeaderElectionArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        let targets = match (&args.topic, args.partition) {
            (None, _) => None,
            (Some(topic), Some(p)) => Some(vec![(topic.clone(), vec![p])]),
            (Some(topic), None) => {
                let metadata = admin
                    .cluster()
                    .metadata_for(std::slice::from_ref(topic))
                    .await
                    .map_err(|e| ctx.explain(e))?;
                let count = metadata
                    .partition_count(topic)
                    .ok_or_else(|| anyhow::anyhow!("topic {topic} does not exist"))?;
                Some(vec![(topic.clone(), (0..count as i32).collect())])
            }
        };
        let request = ElectLeadersRequest::default()
            .with_election_type(match args.election_type {
                ElectionType::Preferred => 0,
                ElectionType::Unclean => 1,
            })
            .with_topic_partitions(targets.map(|targets| {
                targets
                    .into_iter()
                    .map(|(topic, partitions)| {
                        TopicPartitions::default()
                            .with_topic(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(partitions)
                    })
                    .collect()
            }))
            .with_timeout_ms(ELECTION_TIMEOUT_MS);
        let response: ElectLeadersResponse = admin
            .cluster()
            .send_any(&request)
            .await
            .map_err(|e| ctx.explain(e))?;
        report(ctx, args.election_type, &response)
    }))
}

fn error_name(code: i16) -> Option<String> {
    BrokerError::from_code(code, None).map(|e| e.name)
}

/// Prints what happened to each partition as `kafka-leader-election.sh` does.
fn report(
    ctx: &Context,
    kind: ElectionType,
    response: &ElectLeadersResponse,
) -> anyhow::Result<()> {
    if let Some(name) = error_name(response.error_code) {
        anyhow::bail!("leader election refused: {name}");
    }
    let kind_name = match kind {
        ElectionType::Preferred => "PREFERRED",
        ElectionType::Unclean => "UNCLEAN",
    };
    let mut elected = Vec::new();
    let mut not_needed = Vec::new();
    let mut failed = Vec::new();
    for t in &response.replica_election_results {
        for p in &t.partition_result {
            let name = format!("{}-{}", t.topic.0.as_str(), p.partition_id);
            match error_name(p.error_code) {
                None => elected.push(name),
                Some(e) if e == "ELECTION_NOT_NEEDED" => not_needed.push(name),
                Some(e) => {
                    let message = p.error_message.as_ref().map(|m| m.to_string());
                    failed.push((name, e, message.unwrap_or_default()));
                }
            }
        }
    }
    if ctx.json {
        let failed_json: Vec<_> = failed
            .iter()
            .map(|(p, e, m)| json!({ "partition": p, "error": e, "message": m }))
            .collect();
        output::print_json(&json!({
            "electionType": kind_name,
            "elected": elected,
            "notNeeded": not_needed,
            "failed": failed_json,
        }))?;
    } else {
        let mut lines = Vec::new();
        if !elected.is_empty() {
            lines.push(format!(
                "Successfully completed leader election ({kind_name}) for partitions {}",
                elected.join(", ")
            ));
        }
        if !not_needed.is_empty() {
            lines.push(format!(
                "Valid replica already elected for partitions {}",
                not_needed.join(", ")
            ));
        }
        for (p, e, m) in &failed {
            lines.push(format!(
                "Error completing leader election ({kind_name}) for partition: {p}: {e}: {m}"
            ));
        }
        if lines.is_empty() {
            lines.push("No partition needed a leader election".into());
        }
        output::print(&format!("{}\n", lines.join("\n")))?;
    }
    if !failed.is_empty() {
        anyhow::bail!("{} replica(s) could not be elected", failed.len());
    }
    Ok(())
}
