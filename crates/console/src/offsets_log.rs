//! `GET /api/v1/groups/{id}/offsets-log`: the group's records in `__consumer_offsets`
//! (commits, group metadata, KIP-848 member and assignment records), decoded, newest
//! first: what `kafka-console-consumer.sh --formatter OffsetsMessageFormatter` shows,
//! for one group.

use crate::caller::Caller;
use crate::console::Console;
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::reader::{partition_state, read_chunk, READ_STEP_BYTES};
use axum::extract::State;
use axum::Json;
use moldau_broker::controller::OFFSETS_TOPIC;
use moldau_client::ConsumerRecord;
use moldau_coordinator::consumer_group::records::describe_consumer_record;
use moldau_coordinator::{partition_for_group, GroupMetadataValue, OffsetCommitValue, RecordKey};
use moldau_protocol::acl::AclOperation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Records shown when the request does not say.
pub const OFFSETS_LOG_RECORDS_DEFAULT: usize = 100;
/// Most records one request may ask for.
pub const OFFSETS_LOG_RECORDS_MAX: usize = 1000;
/// Most bytes of `__consumer_offsets` one request reads.
pub const OFFSETS_LOG_SCAN_BYTES_MAX: usize = 16 << 20;
/// Offsets read per step backwards.
const WINDOW_OFFSETS: i64 = 512;

/// Query of the endpoint.
#[derive(Debug, Deserialize)]
pub struct OffsetsLogQuery {
    pub limit: Option<usize>,
}

/// One decoded record.
#[derive(Debug, Serialize)]
pub struct OffsetsLogRecord {
    pub offset: i64,
    pub timestamp: i64,
    /// `offset_commit`, `group_metadata` or `consumer_group` (KIP-848 records).
    pub kind: &'static str,
    pub key: String,
    /// What the value says; `deleted` for a tombstone.
    pub value: String,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct OffsetsLog {
    pub topic: &'static str,
    pub partition: i32,
    pub records: Vec<OffsetsLogRecord>,
    /// The scan stopped at its byte budget before the log start.
    pub partial: bool,
}

/// What a caller under ACLs may see of a group's records: commits of topics it may
/// describe, and the KIP-848 records (which name topics by name and id) only with
/// cluster DESCRIBE.
pub struct RecordAccess {
    pub topic: Box<dyn Fn(&str) -> bool + Send>,
    pub consumer_records: bool,
}

/// The record, decoded, if it belongs to `group` and `access` shows it.
pub fn decode_for_group(
    group: &str,
    r: &ConsumerRecord,
    access: &RecordAccess,
) -> Option<OffsetsLogRecord> {
    let key = RecordKey::decode(r.key.as_deref()?).ok()?;
    let value = r.value.as_deref();
    let (kind, key_text, value_text) = match key {
        RecordKey::OffsetCommit(k) if k.group == group && (access.topic)(&k.topic) => {
            let text = match value.map(OffsetCommitValue::decode) {
                None => "deleted".to_string(),
                Some(Ok(v)) => format!(
                    "offset {}, leader epoch {}, metadata {:?}, committed at {}",
                    v.offset, v.leader_epoch, v.metadata, v.commit_timestamp_ms
                ),
                Some(Err(e)) => format!("does not decode: {e}"),
            };
            (
                "offset_commit",
                format!("{}-{}", k.topic, k.partition),
                text,
            )
        }
        RecordKey::GroupMetadata(k) if k.group == group => {
            let text = match value.map(GroupMetadataValue::decode) {
                None => "deleted".to_string(),
                Some(Ok(g)) => format!(
                    "generation {}, protocol {}, leader {}, {} member(s)",
                    g.generation,
                    g.protocol.as_deref().unwrap_or("none"),
                    g.leader.as_deref().unwrap_or("none"),
                    g.members.len()
                ),
                Some(Err(e)) => format!("does not decode: {e}"),
            };
            ("group_metadata", format!("group {}", k.group), text)
        }
        RecordKey::Consumer(k) if k.group() == group && access.consumer_records => {
            let text = describe_consumer_record(&k, value);
            let (key_text, value_text) = text
                .split_once(" payload: ")
                .map_or((text.clone(), String::new()), |(a, b)| {
                    (a.trim_start_matches("key: ").to_string(), b.to_string())
                });
            ("consumer_group", key_text, value_text)
        }
        _ => return None,
    };
    Some(OffsetsLogRecord {
        offset: r.offset,
        timestamp: r.timestamp,
        kind,
        key: key_text,
        value: value_text,
    })
}

/// `GET /api/v1/groups/{id}/offsets-log`
pub async fn offsets_log(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<OffsetsLogQuery>,
) -> ApiResult<Json<OffsetsLog>> {
    caller.require_group(AclOperation::Describe, &id)?;
    let access = {
        let caller = caller.clone();
        RecordAccess {
            consumer_records: caller.may_describe_cluster(),
            topic: Box::new(move |t: &str| caller.may_describe_topic(t)),
        }
    };
    let limit = q.limit.unwrap_or(OFFSETS_LOG_RECORDS_DEFAULT);
    if limit == 0 || limit > OFFSETS_LOG_RECORDS_MAX {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {OFFSETS_LOG_RECORDS_MAX}"
        )));
    }
    let image = console.backend.metadata().image();
    let Some(topic) = image.topic(OFFSETS_TOPIC) else {
        return Err(ApiError::UnknownGroup(id));
    };
    let partition = partition_for_group(&id, topic.partitions.len() as i32);
    let hosted = console
        .backend
        .partitions()
        .get_by_name(OFFSETS_TOPIC, partition)
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "{OFFSETS_TOPIC}-{partition} is not hosted by this broker"
            ))
        })?;
    let (records, partial) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let name: Arc<str> = Arc::from(OFFSETS_TOPIC);
        let state = partition_state(&hosted);
        let mut budget = OFFSETS_LOG_SCAN_BYTES_MAX;
        let mut out = Vec::new();
        let mut hi = state.high_watermark;
        while hi > state.log_start_offset && budget > 0 && out.len() < limit {
            let lo = (hi - WINDOW_OFFSETS).max(state.log_start_offset);
            let mut window = Vec::new();
            let mut at = lo;
            loop {
                let chunk = read_chunk(&hosted, &name, at, hi, READ_STEP_BYTES.min(budget))?;
                budget = budget.saturating_sub(chunk.bytes_read.max(1));
                window.extend(
                    chunk
                        .records
                        .iter()
                        .filter_map(|r| decode_for_group(&id, r, &access)),
                );
                if chunk.at_end || chunk.next_offset <= at || budget == 0 {
                    break;
                }
                at = chunk.next_offset;
            }
            out.extend(window.into_iter().rev());
            hi = lo;
        }
        out.truncate(limit);
        Ok((out, hi > state.log_start_offset && budget == 0))
    })
    .await??;
    Ok(Json(OffsetsLog {
        topic: OFFSETS_TOPIC,
        partition,
        records,
        partial,
    }))
}
