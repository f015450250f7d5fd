//! `moldau group describe`: a group's state, coordinator, assignor and members, and
//! per partition its committed offset, log end, lag and time lag.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use moldau_client::admin::{GroupDescription, MemberDescription, OffsetSpec};
use moldau_client::cluster::COORDINATOR_KEY_GROUP;
use moldau_client::consumer::ConsumerConfig;
use moldau_client::{AdminClient, Consumer, OffsetReset, SeekTo, TopicPartition};
use serde_json::{json, Value};

use crate::context::{broker_error_name, Context};
use crate::output::{self, or_dash, Table};
use crate::timeparse::{format_duration, now_ms};

/// How long `describe` waits for the oldest unconsumed records to compute time lag;
/// partitions not answered by then show no time lag.
const TIME_LAG_WAIT: Duration = Duration::from_secs(3);
/// Bytes fetched per partition when reading the oldest unconsumed record (one record
/// is needed; a batch comes whole anyway).
const TIME_LAG_FETCH_BYTES: i32 = 64 * 1024;
/// Pause between polls while waiting for time-lag records.
const TIME_LAG_POLL: Duration = Duration::from_millis(200);

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// The group.
    group: String,
}

/// One partition of the group's offsets view.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionRow {
    tp: TopicPartition,
    committed: Option<i64>,
    end: Option<i64>,
    lag: Option<i64>,
    /// Age of the oldest unconsumed record, ms.
    time_lag_ms: Option<i64>,
    member: Option<String>,
}

/// Runs `moldau group describe`.
pub async fn run(ctx: &Context, admin: &AdminClient, a: DescribeArgs) -> anyhow::Result<()> {
    let desc = match admin.describe_groups(&[a.group.as_str()]).await {
        Ok(found) => found.into_iter().next(),
        Err(e) if broker_error_name(&e) == Some("GROUP_ID_NOT_FOUND") => None,
        Err(e) => return Err(ctx.explain(e)),
    };
    let committed = admin
        .list_group_offsets(&a.group)
        .await
        .map_err(|e| ctx.explain(e))?;
    let desc = match desc {
        Some(d) if !(d.state == "Dead" && d.members.is_empty() && committed.is_empty()) => d,
        _ => bail!("group '{}' does not exist", a.group),
    };
    let coordinator = admin
        .cluster()
        .find_coordinator(&a.group, COORDINATOR_KEY_GROUP)
        .await
        .map_err(|e| ctx.explain(e))?;
    let coordinator_addr = admin
        .cluster()
        .metadata()
        .brokers
        .get(&coordinator)
        .map(|b| b.addr());

    let owner: HashMap<TopicPartition, String> = desc
        .members
        .iter()
        .flat_map(|m| {
            m.assignment
                .iter()
                .map(|tp| (tp.clone(), m.member_id.clone()))
        })
        .collect();
    let tps: BTreeSet<TopicPartition> = committed.keys().chain(owner.keys()).cloned().collect();
    let tps: Vec<TopicPartition> = tps.into_iter().collect();
    let ends: BTreeMap<TopicPartition, i64> = if tps.is_empty() {
        BTreeMap::new()
    } else {
        admin
            .list_offsets(&tps, OffsetSpec::Latest)
            .await
            .map_err(|e| ctx.explain(e))?
            .into_iter()
            .map(|(tp, l)| (tp, l.offset))
            .collect()
    };
    let mut rows: Vec<PartitionRow> = tps
        .iter()
        .map(|tp| {
            let committed = committed.get(tp).map(|o| o.offset);
            let end = ends.get(tp).copied();
            PartitionRow {
                tp: tp.clone(),
                committed,
                end,
                lag: lag(committed, end),
                time_lag_ms: None,
                member: owner.get(tp).cloned(),
            }
        })
        .collect();
    fill_time_lag(ctx, &mut rows).await;

    if ctx.json {
        return output::print_json(&describe_json(
            &desc,
            coordinator,
            coordinator_addr.as_deref(),
            &rows,
        ));
    }
    output::print(&describe_text(
        &desc,
        coordinator,
        coordinator_addr.as_deref(),
        &rows,
    ))
}

/// Records the group has not consumed yet; unknown without a commit (Kafka prints `-`).
fn lag(committed: Option<i64>, end: Option<i64>) -> Option<i64> {
    Some((end? - committed?).max(0))
}

/// Reads the record at each lagging partition's committed offset and sets its age.
/// Best effort: a partition that does not answer in [`TIME_LAG_WAIT`] keeps `None`.
async fn fill_time_lag(ctx: &Context, rows: &mut [PartitionRow]) {
    for row in rows.iter_mut() {
        if row.lag == Some(0) {
            row.time_lag_ms = Some(0);
        }
    }
    let wanted: HashMap<TopicPartition, i64> = rows
        .iter()
        .filter(|r| r.lag.is_some_and(|l| l > 0))
        .filter_map(|r| Some((r.tp.clone(), r.committed?)))
        .collect();
    if wanted.is_empty() {
        return;
    }
    match oldest_unconsumed(ctx, &wanted).await {
        Ok(timestamps) => {
            let now = now_ms();
            for row in rows.iter_mut() {
                if let Some(ts) = timestamps.get(&row.tp) {
                    row.time_lag_ms = Some((now - ts).max(0));
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read records for time lag"),
    }
}

/// Timestamps of the first record at or after each partition's offset.
async fn oldest_unconsumed(
    ctx: &Context,
    wanted: &HashMap<TopicPartition, i64>,
) -> moldau_client::Result<HashMap<TopicPartition, i64>> {
    let config = ConsumerConfig {
        client: ctx.client_config(),
        enable_auto_commit: false,
        auto_offset_reset: OffsetReset::Earliest,
        max_partition_fetch_bytes: TIME_LAG_FETCH_BYTES,
        ..ConsumerConfig::default()
    };
    let consumer = Consumer::new(config)?;
    let tps: Vec<TopicPartition> = wanted.keys().cloned().collect();
    consumer.assign(&tps).await?;
    for (tp, &offset) in wanted {
        consumer.seek(tp, SeekTo::Offset(offset)).await?;
    }
    let mut found = HashMap::new();
    let deadline = Instant::now() + TIME_LAG_WAIT;
    while found.len() < wanted.len() && Instant::now() < deadline {
        for r in consumer.poll(TIME_LAG_POLL).await? {
            let tp = TopicPartition::new(&*r.topic, r.partition);
            if wanted.get(&tp).is_some_and(|&o| r.offset >= o) {
                found.entry(tp.clone()).or_insert(r.timestamp);
                consumer.pause(&[tp]);
            }
        }
    }
    let _ = consumer.close().await;
    Ok(found)
}

fn tp_json(tps: &[TopicPartition]) -> Vec<Value> {
    tps.iter()
        .map(|tp| json!({ "topic": tp.topic, "partition": tp.partition }))
        .collect()
}

/// A consumer-group member's partitions on the move (KIP-848): those it is to get
/// (target minus current), the part of them another member still holds (waiting on
/// that member's revocation), and its own it must give up (current minus target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct InFlight {
    assigning: Vec<TopicPartition>,
    waiting_on_revocation: Vec<TopicPartition>,
    revoking: Vec<TopicPartition>,
}

fn in_flight(desc: &GroupDescription, member: &MemberDescription) -> InFlight {
    let Some(target) = &member.target_assignment else {
        return InFlight::default();
    };
    let held_elsewhere: BTreeSet<&TopicPartition> = desc
        .members
        .iter()
        .filter(|m| m.member_id != member.member_id)
        .flat_map(|m| m.assignment.iter())
        .collect();
    let assigning: Vec<TopicPartition> = target
        .iter()
        .filter(|tp| !member.assignment.contains(tp))
        .cloned()
        .collect();
    InFlight {
        waiting_on_revocation: assigning
            .iter()
            .filter(|tp| held_elsewhere.contains(tp))
            .cloned()
            .collect(),
        assigning,
        revoking: member
            .assignment
            .iter()
            .filter(|tp| !target.contains(tp))
            .cloned()
            .collect(),
    }
}

fn describe_json(
    desc: &GroupDescription,
    coordinator: i32,
    coordinator_addr: Option<&str>,
    rows: &[PartitionRow],
) -> Value {
    json!({
        "group_id": desc.group_id,
        "group_type": desc.group_type,
        "group_epoch": desc.group_epoch,
        "assignment_epoch": desc.assignment_epoch,
        "state": desc.state,
        "protocol_type": desc.protocol_type,
        "assignor": desc.protocol,
        "coordinator": { "id": coordinator, "address": coordinator_addr },
        "members": desc.members.iter().map(|m| {
            let moving = in_flight(desc, m);
            json!({
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "member_type": m.member_type,
                "member_epoch": m.member_epoch,
                "subscribed_topic_names": m.member_epoch.map(|_| &m.subscribed_topics),
                "subscribed_topic_regex": m.subscribed_topic_regex,
                "assignment": tp_json(&m.assignment),
                "target_assignment": m.target_assignment.as_deref().map(tp_json),
                "assigning": m.target_assignment.as_ref().map(|_| tp_json(&moving.assigning)),
                "waiting_on_revocation": m.target_assignment.as_ref()
                    .map(|_| tp_json(&moving.waiting_on_revocation)),
                "revoking": m.target_assignment.as_ref().map(|_| tp_json(&moving.revoking)),
            })
        }).collect::<Vec<_>>(),
        "partitions": rows.iter().map(|r| json!({
            "topic": r.tp.topic,
            "partition": r.tp.partition,
            "committed_offset": r.committed,
            "log_end_offset": r.end,
            "lag": r.lag,
            "time_lag_ms": r.time_lag_ms,
            "member_id": r.member,
        })).collect::<Vec<_>>(),
        "total_lag": rows.iter().filter_map(|r| r.lag).sum::<i64>(),
    })
}

fn tp_list(tps: &[TopicPartition]) -> String {
    if tps.is_empty() {
        "-".to_string()
    } else {
        tps.iter()
            .map(TopicPartition::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Members of a consumer group with their epochs, subscriptions and the partitions
/// in flight: ASSIGNING is target minus current (WAITING the part another member
/// still has to revoke), REVOKING what the member itself must give up.
fn consumer_members_table(desc: &GroupDescription) -> String {
    let mut members = Table::new(&[
        "MEMBER-ID",
        "INSTANCE-ID",
        "CLIENT-ID",
        "HOST",
        "TYPE",
        "EPOCH",
        "SUBSCRIPTION",
        "PARTITIONS",
        "TARGET",
        "ASSIGNING",
        "WAITING",
        "REVOKING",
    ]);
    for m in &desc.members {
        let moving = in_flight(desc, m);
        let subscription = match &m.subscribed_topic_regex {
            Some(regex) if m.subscribed_topics.is_empty() => format!("/{regex}/"),
            Some(regex) => format!("{},/{regex}/", m.subscribed_topics.join(",")),
            None if m.subscribed_topics.is_empty() => "-".to_string(),
            None => m.subscribed_topics.join(","),
        };
        members.row(vec![
            m.member_id.clone(),
            or_dash(m.group_instance_id.as_deref()),
            m.client_id.clone(),
            m.host.clone(),
            or_dash(m.member_type.as_deref()),
            or_dash(m.member_epoch),
            subscription,
            tp_list(&m.assignment),
            tp_list(m.target_assignment.as_deref().unwrap_or_default()),
            tp_list(&moving.assigning),
            tp_list(&moving.waiting_on_revocation),
            tp_list(&moving.revoking),
        ]);
    }
    members.render()
}

fn describe_text(
    desc: &GroupDescription,
    coordinator: i32,
    coordinator_addr: Option<&str>,
    rows: &[PartitionRow],
) -> String {
    let assignor = if desc.protocol.is_empty() {
        "-"
    } else {
        &desc.protocol
    };
    let mut text = format!(
        "Group: {}  State: {}  Coordinator: {} ({})  Assignor: {}  Members: {}\n",
        desc.group_id,
        desc.state,
        coordinator,
        coordinator_addr.unwrap_or("?"),
        assignor,
        desc.members.len()
    );
    if let (Some(group_epoch), Some(assignment_epoch)) = (desc.group_epoch, desc.assignment_epoch) {
        // KIP-848: the broker assigns; members move to the target one at a time.
        text.push_str(&format!(
            "Type: {}  Group epoch: {group_epoch}  Assignment epoch: {assignment_epoch}\n",
            desc.group_type
        ));
    }
    if desc.members.iter().any(|m| m.member_epoch.is_some()) {
        text.push('\n');
        text.push_str(&consumer_members_table(desc));
    } else if !desc.members.is_empty() {
        let mut members = Table::new(&["MEMBER-ID", "CLIENT-ID", "HOST", "PARTITIONS"]);
        for m in &desc.members {
            let parts: Vec<String> = m.assignment.iter().map(|tp| tp.to_string()).collect();
            members.row(vec![
                m.member_id.clone(),
                m.client_id.clone(),
                m.host.clone(),
                if parts.is_empty() {
                    "-".into()
                } else {
                    parts.join(",")
                },
            ]);
        }
        text.push('\n');
        text.push_str(&members.render());
    }
    let mut table = Table::new(&[
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "LOG-END",
        "LAG",
        "TIME-LAG",
        "MEMBER-ID",
    ]);
    for r in rows {
        table.row(vec![
            r.tp.topic.clone(),
            r.tp.partition.to_string(),
            or_dash(r.committed),
            or_dash(r.end),
            or_dash(r.lag),
            or_dash(
                r.time_lag_ms
                    .map(|ms| format_duration(Duration::from_millis(ms as u64))),
            ),
            or_dash(r.member.as_deref()),
        ]);
    }
    text.push('\n');
    if rows.is_empty() {
        text.push_str("(no committed offsets)\n");
    } else {
        text.push_str(&table.render());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_needs_a_commit_and_never_goes_negative() {
        assert_eq!(lag(Some(10), Some(15)), Some(5));
        assert_eq!(lag(Some(20), Some(15)), Some(0));
        assert_eq!(lag(None, Some(15)), None);
        assert_eq!(lag(Some(1), None), None);
    }

    #[test]
    fn text_shows_members_and_partition_lag() {
        let desc = GroupDescription {
            group_id: "billing".into(),
            group_type: "classic".into(),
            group_epoch: None,
            assignment_epoch: None,
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members: vec![MemberDescription {
                member_id: "m-1".into(),
                group_instance_id: None,
                client_id: "app".into(),
                host: "/127.0.0.1".into(),
                assignment: vec![TopicPartition::new("payments", 0)],
                ..MemberDescription::default()
            }],
        };
        let rows = vec![PartitionRow {
            tp: TopicPartition::new("payments", 0),
            committed: Some(10),
            end: Some(15),
            lag: Some(5),
            time_lag_ms: Some(192_000),
            member: Some("m-1".into()),
        }];
        let text = describe_text(&desc, 1, Some("127.0.0.1:9092"), &rows);
        assert!(text.starts_with(
            "Group: billing  State: Stable  Coordinator: 1 (127.0.0.1:9092)  Assignor: range  Members: 1\n"
        ));
        assert!(
            text.contains("m-1        app        /127.0.0.1  payments-0\n"),
            "{text}"
        );
        assert!(
            text.contains("payments  0          10         15       5    3m12s     m-1\n"),
            "{text}"
        );
        let doc = describe_json(&desc, 1, None, &rows);
        assert_eq!(doc["total_lag"], 5);
        assert_eq!(doc["partitions"][0]["time_lag_ms"], 192_000);
    }

    #[test]
    fn text_shows_a_consumer_groups_epochs_and_partitions_in_flight() {
        let tp = |p| TopicPartition::new("t", p);
        let desc = GroupDescription {
            group_id: "g".into(),
            group_type: "consumer".into(),
            group_epoch: Some(7),
            assignment_epoch: Some(7),
            state: "Reconciling".into(),
            protocol_type: "consumer".into(),
            protocol: "uniform".into(),
            members: vec![
                MemberDescription {
                    member_id: "m-1".into(),
                    group_instance_id: Some("i-1".into()),
                    client_id: "app".into(),
                    host: "/h".into(),
                    assignment: vec![tp(0), tp(1)],
                    member_epoch: Some(6),
                    target_assignment: Some(vec![tp(0), tp(2), tp(3)]),
                    member_type: Some("consumer".into()),
                    subscribed_topics: vec!["t".into()],
                    ..MemberDescription::default()
                },
                MemberDescription {
                    member_id: "m-2".into(),
                    client_id: "old".into(),
                    host: "/h".into(),
                    assignment: vec![tp(2)],
                    member_epoch: Some(7),
                    target_assignment: Some(vec![tp(1)]),
                    member_type: Some("classic".into()),
                    subscribed_topic_regex: Some("t.*".into()),
                    ..MemberDescription::default()
                },
            ],
        };
        let moving = in_flight(&desc, &desc.members[0]);
        assert_eq!(moving.assigning, vec![tp(2), tp(3)]);
        assert_eq!(moving.waiting_on_revocation, vec![tp(2)], "m-2 holds t-2");
        assert_eq!(moving.revoking, vec![tp(1)]);
        let text = describe_text(&desc, 1, None, &[]);
        assert!(
            text.contains("Type: consumer  Group epoch: 7  Assignment epoch: 7\n"),
            "{text}"
        );
        for header in [
            "INSTANCE-ID",
            "TYPE",
            "EPOCH",
            "SUBSCRIPTION",
            "TARGET",
            "WAITING",
        ] {
            assert!(text.contains(header), "{header}: {text}");
        }
        let line = |id: &str| {
            text.lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            line("m-1"),
            "m-1 i-1 app /h consumer 6 t t-0,t-1 t-0,t-2,t-3 t-2,t-3 t-2 t-1"
        );
        assert_eq!(
            line("m-2"),
            "m-2 - old /h classic 7 /t.*/ t-2 t-1 t-1 t-1 t-2"
        );
        let doc = describe_json(&desc, 1, None, &[]);
        let m1 = &doc["members"][0];
        assert_eq!(m1["member_type"], "consumer");
        assert_eq!(m1["group_instance_id"], "i-1");
        assert_eq!(m1["subscribed_topic_names"], json!(["t"]));
        assert_eq!(
            m1["waiting_on_revocation"],
            json!([{"topic": "t", "partition": 2}])
        );
        assert_eq!(m1["revoking"], json!([{"topic": "t", "partition": 1}]));
        assert_eq!(doc["members"][1]["subscribed_topic_regex"], "t.*");
    }
}
