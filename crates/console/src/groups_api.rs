//! `/api/v1/groups`: consumer groups with their lag, one group's members and
//! offsets, and offset resets (previewed, confirmed, and refused while the group has
//! members, as `kafka-consumer-groups.sh --reset-offsets` refuses).

use crate::caller::Caller;
use crate::console::{Console, GroupLag};
use crate::consumer_group_view::ConsumerGroupView;
use crate::error::{ApiError, ApiResult};
use crate::extract::{require_confirmation, JsonBody, PathParams};
use crate::group_admin::{CommittedOffset, GroupDescription, GroupMember};
use crate::history::LagSample;
use crate::lag::PartitionLag;
use crate::reader::partition_state;
use axum::extract::State;
use axum::Json;
use moldau_protocol::acl::AclOperation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One row of the group list.
#[derive(Debug, Serialize)]
pub struct GroupSummary {
    pub group_id: String,
    /// `classic` or `consumer` (KIP-848).
    pub group_type: String,
    pub state: String,
    pub protocol_type: String,
    pub assignor: String,
    pub members: usize,
    pub topics: Vec<String>,
    pub total_lag: i64,
    pub max_time_lag_ms: i64,
}

fn topics_of(lag: &GroupLag) -> Vec<String> {
    let mut topics: Vec<String> = lag.partitions.iter().map(|p| p.topic.clone()).collect();
    topics.dedup();
    topics
}

/// `GET /api/v1/groups`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
) -> ApiResult<Json<Vec<GroupSummary>>> {
    let groups = console.all_group_lags().await?;
    let types: std::collections::HashMap<String, String> = console
        .groups
        .list()
        .await?
        .into_iter()
        .map(|g| (g.group_id, g.group_type))
        .collect();
    Ok(Json(
        groups
            .into_iter()
            // As ListGroups does: groups the caller may not describe are not listed.
            .filter(|(d, _)| caller.may_group(AclOperation::Describe, &d.group_id))
            // As OffsetFetch does: offsets (and so lag) of topics the caller may not
            // describe are left out.
            .map(|(d, lag)| (d, lag.retain_topics(|t| caller.may_describe_topic(t)).0))
            .map(|(d, lag)| GroupSummary {
                group_type: types
                    .get(&d.group_id)
                    .cloned()
                    .unwrap_or_else(|| "classic".into()),
                topics: topics_of(&lag),
                group_id: d.group_id,
                state: d.state,
                protocol_type: d.protocol_type,
                assignor: d.assignor,
                members: d.members.len(),
                total_lag: lag.total_lag,
                max_time_lag_ms: lag.max_time_lag_ms,
            })
            .collect(),
    ))
}

/// A partition of a group's detail page: its lag and who consumes it.
#[derive(Debug, Serialize)]
pub struct GroupPartition {
    #[serde(flatten)]
    pub lag: PartitionLag,
    pub member_id: Option<String>,
    pub client_id: Option<String>,
    pub host: Option<String>,
}

/// `GET /api/v1/groups/{id}`
#[derive(Debug, Serialize)]
pub struct GroupDetail {
    pub group_id: String,
    /// `classic` or `consumer` (KIP-848).
    pub group_type: &'static str,
    pub state: String,
    pub protocol_type: String,
    pub assignor: String,
    pub members: Vec<GroupMember>,
    pub partitions: Vec<GroupPartition>,
    pub total_lag: i64,
    pub max_time_lag_ms: i64,
    /// Total lag over the last hour, oldest first.
    pub lag_history: Vec<LagSample>,
    /// What the members' clients pushed (KIP-714), matched by client id.
    pub client_telemetry: Vec<ClientTelemetry>,
    /// For a KIP-848 consumer group: epochs, and current vs target assignments.
    pub consumer_protocol: Option<ConsumerGroupView>,
}

/// The latest metrics one client instance pushed (KIP-714).
#[derive(Debug, Serialize)]
pub struct ClientTelemetry {
    pub client_id: String,
    pub client_instance_id: String,
    pub metrics: Vec<ClientMetric>,
}

/// One pushed data point.
#[derive(Debug, Serialize)]
pub struct ClientMetric {
    pub name: String,
    /// The point's attributes as `key=value`, comma separated ("" when none).
    pub labels: String,
    pub value: f64,
}

/// The pushed metrics of every client instance whose client id a member has; a
/// point about a topic (a `topic` attribute) only if `may_topic` accepts it.
fn client_telemetry(
    console: &Console,
    members: &[GroupMember],
    may_topic: impl Fn(&str) -> bool + Copy,
) -> Vec<ClientTelemetry> {
    let mut ids: Vec<&str> = members.iter().map(|m| m.client_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let store = &console.backend.metrics().client_telemetry;
    ids.into_iter()
        .flat_map(|client_id| {
            store
                .points_of_client(client_id)
                .into_iter()
                .map(move |(instance, points)| ClientTelemetry {
                    client_id: client_id.to_string(),
                    client_instance_id: instance.to_string(),
                    metrics: points
                        .into_iter()
                        .filter(|p| {
                            p.attributes
                                .iter()
                                .all(|(k, v)| k != "topic" || may_topic(v))
                        })
                        .map(|p| ClientMetric {
                            labels: p
                                .attributes
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(","),
                            name: p.name,
                            value: p.value,
                        })
                        .collect(),
                })
        })
        .collect()
}

/// The group's description, or "unknown group" when the coordinator knows nothing of it.
async fn known_group(console: &Console, id: &str) -> ApiResult<(GroupDescription, GroupLag)> {
    if !console.groups.offsets_topic_exists() {
        return Err(ApiError::UnknownGroup(id.to_string()));
    }
    let d = console.groups.describe(id).await?;
    let lag = console.group_lag(&d).await?;
    if d.state == "Dead" && d.members.is_empty() && lag.partitions.is_empty() {
        return Err(ApiError::UnknownGroup(id.to_string()));
    }
    Ok((d, lag))
}

/// `GET /api/v1/groups/{id}`
pub async fn detail(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<GroupDetail>> {
    caller.require_group(AclOperation::Describe, &id)?;
    let (mut d, lag) = known_group(&console, &id).await?;
    // Topics the caller may not describe are left out of the lag, the assignments
    // and the pushed metrics; the lag chart sums every topic, so it is shown only
    // to a caller who may describe them all.
    let may_topic = |t: &str| caller.may_describe_topic(t);
    let (lag, hidden) = lag.retain_topics(may_topic);
    for m in &mut d.members {
        m.assignment.retain(|a| may_topic(&a.topic));
    }
    let owner = |topic: &str, partition: i32| {
        d.members.iter().find(|m| {
            m.assignment
                .iter()
                .any(|a| a.topic == topic && a.partitions.contains(&partition))
        })
    };
    let partitions = lag
        .partitions
        .into_iter()
        .map(|p| {
            let m = owner(&p.topic, p.partition);
            GroupPartition {
                member_id: m.map(|m| m.member_id.clone()),
                client_id: m.map(|m| m.client_id.clone()),
                host: m.map(|m| m.host.clone()),
                lag: p,
            }
        })
        .collect();
    let consumer_protocol = console
        .groups
        .describe_consumer(&id)
        .await?
        .map(|v| v.retain_topics(may_topic));
    Ok(Json(GroupDetail {
        group_type: if consumer_protocol.is_some() {
            "consumer"
        } else {
            "classic"
        },
        consumer_protocol,
        client_telemetry: client_telemetry(&console, &d.members, may_topic),
        lag_history: if hidden {
            Vec::new()
        } else {
            console.history.lag_history(&id)
        },
        group_id: d.group_id,
        state: d.state,
        protocol_type: d.protocol_type,
        assignor: d.assignor,
        members: d.members,
        partitions,
        total_lag: lag.total_lag,
        max_time_lag_ms: lag.max_time_lag_ms,
    }))
}

/// Body of `POST /api/v1/groups/{id}/offsets/reset`.
#[derive(Debug, Deserialize)]
pub struct ResetBody {
    /// Only this topic; default: every topic the group has committed offsets for.
    pub topic: Option<String>,
    /// Only these partitions of `topic`; default: all of them.
    pub partitions: Option<Vec<i32>>,
    /// `earliest`, `latest`, `timestamp`, `offset` or `shift`.
    pub to: String,
    /// For `to = shift`: added to each partition's committed offset (negative moves
    /// back), then clamped into its range, as `--shift-by` does.
    pub shift: Option<i64>,
    /// For `to = timestamp`: milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// For `to = offset`; clamped into each partition's range, as Kafka's tool does.
    pub offset: Option<i64>,
    /// Show the plan only.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub confirm: bool,
}

/// One partition of a reset plan.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResetEntry {
    pub topic: String,
    pub partition: i32,
    // JSON names as `moldau group reset-offsets --json` prints them.
    #[serde(rename = "current_offset")]
    pub current: Option<i64>,
    #[serde(rename = "new_offset")]
    pub target: i64,
    pub log_start_offset: i64,
    #[serde(rename = "log_end_offset")]
    pub end_offset: i64,
    /// Lag once the reset is done.
    pub lag_after: i64,
}

/// What a reset did, or would do.
#[derive(Debug, Serialize)]
pub struct ResetResult {
    pub group_id: String,
    pub applied: bool,
    pub plan: Vec<ResetEntry>,
}

/// Which target rule applies.
#[derive(Debug, Clone, Copy)]
enum Target {
    Earliest,
    Latest,
    Timestamp(i64),
    Offset(i64),
    Shift(i64),
}

fn target_of(body: &ResetBody) -> ApiResult<Target> {
    match body.to.as_str() {
        "earliest" => Ok(Target::Earliest),
        "latest" => Ok(Target::Latest),
        "timestamp" => body.timestamp.map(Target::Timestamp).ok_or_else(|| {
            ApiError::BadRequest("to=timestamp needs a 'timestamp' (ms since the epoch)".into())
        }),
        "offset" => body
            .offset
            .map(Target::Offset)
            .ok_or_else(|| ApiError::BadRequest("to=offset needs an 'offset'".into())),
        "shift" => body
            .shift
            .map(Target::Shift)
            .ok_or_else(|| ApiError::BadRequest("to=shift needs a 'shift' (records, ± )".into())),
        other => Err(ApiError::BadRequest(format!(
            "to must be earliest, latest, timestamp, offset or shift, not '{other}'"
        ))),
    }
}

/// Plans the reset of each (topic, partition, current) (blocking: may read indexes).
fn plan(
    console: &Console,
    scope: Vec<(String, i32, Option<i64>)>,
    target: Target,
) -> ApiResult<Vec<ResetEntry>> {
    let mut out = Vec::with_capacity(scope.len());
    for (topic, partition, current) in scope {
        let hosted = console
            .backend
            .partitions()
            .get_by_name(&topic, partition)
            .ok_or_else(|| ApiError::UnknownPartition {
                topic: topic.clone(),
                partition,
            })?;
        let s = partition_state(&hosted);
        let (start, end) = (s.log_start_offset, s.high_watermark);
        let to = match target {
            Target::Earliest => start,
            Target::Latest => end,
            Target::Offset(o) => o.clamp(start, end.max(start)),
            Target::Shift(by) => {
                let from = current.ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{topic}-{partition} has no committed offset to shift from"
                    ))
                })?;
                from.saturating_add(by).clamp(start, end.max(start))
            }
            Target::Timestamp(ts) => hosted
                .log
                .read()
                .offset_for_timestamp(ts)?
                .map_or(end, |(o, _)| o)
                .clamp(start, end.max(start)),
        };
        out.push(ResetEntry {
            topic,
            partition,
            current,
            target: to,
            log_start_offset: start,
            end_offset: end,
            lag_after: (end - to).max(0),
        });
    }
    Ok(out)
}

/// `POST /api/v1/groups/{id}/offsets/reset`
pub async fn reset_offsets(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ResetBody>,
) -> ApiResult<Json<ResetResult>> {
    // AlterConsumerGroupOffsets / OffsetCommit: READ on the group (and on each
    // topic, below).
    caller.require_group(AclOperation::Read, &id)?;
    let target = target_of(&body)?;
    console.groups.ensure_coordinator().await?;
    let described = console.groups.describe(&id).await?;
    if !described.is_inactive() {
        return Err(ApiError::GroupActive(format!(
            "Offsets of group '{id}' can only be reset while it is inactive, but its state is {} \
             with {} member(s); stop its consumers first.",
            described.state,
            described.members.len()
        )));
    }
    let committed = console.groups.committed(&id).await?;
    let current = |t: &str, p: i32| {
        committed
            .iter()
            .find(|c| c.topic == t && c.partition == p)
            .map(|c| c.offset)
    };
    let scope: Vec<(String, i32, Option<i64>)> = match &body.topic {
        Some(t) => {
            // OffsetCommit: READ on each topic too (checked before the topic is
            // looked up, so a refusal says nothing of whether it exists).
            caller.require_topic(AclOperation::Read, t)?;
            let image = console.backend.metadata().image();
            let topic = crate::topics_api::topic(&image, t)?;
            let ids: Vec<i32> = match &body.partitions {
                Some(ps) => ps.clone(),
                None => topic.partitions.keys().copied().collect(),
            };
            for p in &ids {
                if !topic.partitions.contains_key(p) {
                    return Err(ApiError::UnknownPartition {
                        topic: t.clone(),
                        partition: *p,
                    });
                }
            }
            ids.into_iter()
                .map(|p| (t.clone(), p, current(t, p)))
                .collect()
        }
        None if committed.is_empty() => {
            return Err(ApiError::UnknownGroup(id));
        }
        None => {
            // As OffsetFetch of all topics: topics the caller may not describe are
            // not part of it; every other one needs READ, as OffsetCommit does.
            let scope: Vec<(String, i32, Option<i64>)> = committed
                .iter()
                .filter(|c| caller.may_describe_topic(&c.topic))
                .map(|c| (c.topic.clone(), c.partition, Some(c.offset)))
                .collect();
            if scope.is_empty() {
                return Err(ApiError::UnknownGroup(id));
            }
            for (topic, _, _) in &scope {
                caller.require_topic(AclOperation::Read, topic)?;
            }
            scope
        }
    };
    let planner = Arc::clone(&console);
    let entries = tokio::task::spawn_blocking(move || plan(&planner, scope, target)).await??;
    if body.dry_run {
        return Ok(Json(ResetResult {
            group_id: id,
            applied: false,
            plan: entries,
        }));
    }
    require_confirmation(
        body.confirm,
        &format!("resetting offsets of group '{id}' changes what its consumers read next"),
    )?;
    let offsets: Vec<CommittedOffset> = entries
        .iter()
        .map(|e| CommittedOffset {
            topic: e.topic.clone(),
            partition: e.partition,
            offset: e.target,
        })
        .collect();
    let failed = console.groups.commit(&id, &offsets).await?;
    if let Some((topic, partition, code)) = failed.first() {
        return Err(ApiError::from_code(
            *code,
            &format!("committing the reset offset of {topic}-{partition} for group '{id}'"),
        ));
    }
    tracing::info!(group = %id, partitions = entries.len(), "offsets reset from the console");
    Ok(Json(ResetResult {
        group_id: id,
        applied: true,
        plan: entries,
    }))
}

/// Query of `DELETE /api/v1/groups/{id}`.
#[derive(Debug, Deserialize)]
pub struct DeleteGroupQuery {
    /// Must repeat the group id.
    pub confirm: Option<String>,
}

/// `DELETE /api/v1/groups/{id}?confirm={id}`: the group and its committed offsets,
/// refused while it has members (as Kafka's DeleteGroups is).
pub async fn delete(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    crate::extract::QueryParams(q): crate::extract::QueryParams<DeleteGroupQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_group(AclOperation::Delete, &id)?;
    console.groups.ensure_coordinator().await?;
    let described = console.groups.describe(&id).await?;
    if described.state == "Dead" {
        return Err(ApiError::UnknownGroup(id));
    }
    if !described.is_inactive() {
        return Err(ApiError::GroupActive(format!(
            "Group '{id}' can only be deleted while it is inactive, but its state is {} with {} \
             member(s); stop its consumers first.",
            described.state,
            described.members.len()
        )));
    }
    if q.confirm.as_deref() != Some(id.as_str()) {
        return Err(ApiError::ConfirmationRequired(format!(
            "deleting group '{id}' forgets its committed offsets; repeat the request with ?confirm={id}"
        )));
    }
    console.groups.delete(&id).await?;
    tracing::info!(group = %id, "group deleted from the console");
    Ok(Json(serde_json::json!({ "group_id": id, "deleted": true })))
}
