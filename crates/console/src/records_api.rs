//! `/api/v1/topics/{name}/records`: browse, download one key or value, produce.

use crate::browse::{browse, format_cursor, parse_cursor, Filter, Order, ScanPartition};
use crate::caller::Caller;
use crate::console::{now_ms, Console};
use crate::error::{ApiError, ApiResult};
use crate::extract::{require_confirmation, JsonBody, PathParams, QueryParams};
use crate::json_path::FieldFilter;
use crate::reader::{partition_state, record_at};
use crate::render::{RecordView, RenderMode};
use crate::topics_api::topic;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use moldau_broker::controller::TOPIC_PARTITIONS_MAX;
use moldau_broker::partition::Partition;
use moldau_protocol::acl::AclOperation;
use moldau_protocol::batch::Codec;
use moldau_protocol::batch_builder::{BatchBuilder, BuildError};
use moldau_protocol::batch_header::ProducerStamp;
use moldau_protocol::produce_validation::validate_produce;
use moldau_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Records per page when the request does not say.
pub const PAGE_RECORDS_DEFAULT: usize = 50;
/// Most records one page may hold.
pub const PAGE_RECORDS_MAX: usize = 500;

/// Query of `GET /api/v1/topics/{name}/records`.
#[derive(Debug, Default, Deserialize)]
pub struct BrowseQuery {
    /// Comma-separated partition ids; all partitions when absent.
    pub partitions: Option<String>,
    /// `beginning`, `end`, `offset` or `timestamp` (ignored when `cursor` is given).
    pub seek: Option<String>,
    pub offset: Option<i64>,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// `asc` (oldest first) or `desc` (newest first); `desc` by default for `seek=end`.
    pub order: Option<String>,
    /// Where to continue, from a previous page's `next_cursor` or `tail_cursor`.
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    pub key: Option<String>,
    pub value: Option<String>,
    /// `name` or `name=value-substring`.
    pub header: Option<String>,
    /// A field of the JSON value: `path op value`, e.g. `user.country = "CZ"`.
    pub field: Option<String>,
    /// Offset range kept (inclusive); either end may be left out.
    pub offset_min: Option<i64>,
    pub offset_max: Option<i64>,
    /// Timestamp range kept (ms since the epoch, inclusive); either end may be left out.
    pub time_min: Option<i64>,
    pub time_max: Option<i64>,
    /// `auto`, `text`, `json` or `hex`.
    pub render: Option<RenderMode>,
}

/// Offsets of one partition when the page was read.
#[derive(Debug, Serialize)]
pub struct PartitionBounds {
    pub partition: i32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
}

/// A page of records.
#[derive(Debug, Serialize)]
pub struct RecordsPage {
    pub records: Vec<RecordView>,
    pub order: &'static str,
    /// Continue in the same direction from here.
    pub next_cursor: String,
    pub has_more: bool,
    /// Positions at the high watermarks: follow new records from here (live tail).
    pub tail_cursor: String,
    pub scanned_bytes: usize,
    /// The page stopped at its read budget, not at `limit` or the end.
    pub partial: bool,
    pub partitions: Vec<PartitionBounds>,
}

/// The hosted partitions a request names (all of the topic's when `list` is None).
fn selected_partitions(
    console: &Console,
    name: &str,
    list: Option<&str>,
) -> ApiResult<Vec<Arc<Partition>>> {
    let image = console.backend.metadata().image();
    let t = topic(&image, name)?;
    let ids: Vec<i32> = match list.filter(|s| !s.trim().is_empty()) {
        None => t.partitions.keys().copied().collect(),
        Some(text) => {
            let mut ids = Vec::new();
            for item in text.split(',') {
                let id: i32 = item.trim().parse().map_err(|_| {
                    ApiError::BadRequest(format!("'{item}' is not a partition number"))
                })?;
                if !t.partitions.contains_key(&id) {
                    return Err(ApiError::UnknownPartition {
                        topic: name.to_string(),
                        partition: id,
                    });
                }
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids
        }
    };
    ids.into_iter()
        .map(|id| {
            console
                .backend
                .partitions()
                .get_by_name(name, id)
                .ok_or_else(|| {
                    ApiError::Unavailable(format!(
                        "partition {id} of '{name}' is not hosted by this broker"
                    ))
                })
        })
        .collect()
}

/// Where each partition starts for the request's seek and order.
fn positions(
    q: &BrowseQuery,
    order: Order,
    partitions: Vec<Arc<Partition>>,
) -> ApiResult<Vec<ScanPartition>> {
    let cursor = match &q.cursor {
        Some(c) => Some(parse_cursor(c, TOPIC_PARTITIONS_MAX as usize)?),
        None => None,
    };
    let seek = q.seek.as_deref().unwrap_or("beginning");
    let mut out = Vec::with_capacity(partitions.len());
    for p in partitions {
        let s = partition_state(&p);
        let (start, hw) = (s.log_start_offset, s.high_watermark);
        let id = p.tp.partition;
        let position = if let Some(c) = &cursor {
            match c.get(&id) {
                Some(o) => *o,
                // A partition new to this cursor starts at its beginning or end.
                None if order == Order::OldestFirst => start,
                None => hw,
            }
        } else {
            match (seek, order) {
                ("beginning", Order::OldestFirst) => start,
                ("beginning", Order::NewestFirst) => hw,
                ("end", Order::OldestFirst) => hw,
                ("end", Order::NewestFirst) => hw,
                ("offset", _) => {
                    let o = q.offset.ok_or_else(|| {
                        ApiError::BadRequest("seek=offset needs an 'offset' parameter".into())
                    })?;
                    match order {
                        Order::OldestFirst => o,
                        Order::NewestFirst => o.saturating_add(1),
                    }
                }
                ("timestamp", _) => {
                    let ts = q.timestamp.ok_or_else(|| {
                        ApiError::BadRequest("seek=timestamp needs a 'timestamp' parameter".into())
                    })?;
                    let found = p.log.read().offset_for_timestamp(ts)?;
                    found.map_or(hw, |(o, _)| o)
                }
                (other, _) => {
                    return Err(ApiError::BadRequest(format!(
                        "seek must be beginning, end, offset or timestamp, not '{other}'"
                    )))
                }
            }
        };
        out.push(ScanPartition {
            partition: p,
            position: position.clamp(start, hw.max(start)),
        });
    }
    Ok(out)
}

/// An inclusive range from optional ends; `None` when both are absent.
fn range(what: &str, min: Option<i64>, max: Option<i64>) -> ApiResult<Option<(i64, i64)>> {
    if min.is_none() && max.is_none() {
        return Ok(None);
    }
    let (lo, hi) = (min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX));
    if lo > hi {
        return Err(ApiError::BadRequest(format!(
            "{what}_min ({lo}) is above {what}_max ({hi})"
        )));
    }
    Ok(Some((lo, hi)))
}

fn optional_bytes(s: &Option<String>) -> Option<Vec<u8>> {
    s.as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
}

/// `GET /api/v1/topics/{name}/records`
pub async fn list(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    QueryParams(q): QueryParams<BrowseQuery>,
) -> ApiResult<Json<RecordsPage>> {
    caller.require_topic(AclOperation::Read, &name)?;
    let limit = q.limit.unwrap_or(PAGE_RECORDS_DEFAULT);
    if limit == 0 || limit > PAGE_RECORDS_MAX {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {PAGE_RECORDS_MAX}"
        )));
    }
    let order = match q.order.as_deref() {
        Some("asc") => Order::OldestFirst,
        Some("desc") => Order::NewestFirst,
        None if q.seek.as_deref() == Some("end") && q.cursor.is_none() => Order::NewestFirst,
        None => Order::OldestFirst,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "order must be asc or desc, not '{other}'"
            )))
        }
    };
    let filter = Filter {
        key: optional_bytes(&q.key),
        value: optional_bytes(&q.value),
        header: q
            .header
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(Filter::header_from),
        field: q
            .field
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(FieldFilter::parse)
            .transpose()?,
        offsets: range("offset", q.offset_min, q.offset_max)?,
        timestamps: range("time", q.time_min, q.time_max)?,
    };
    let partitions = selected_partitions(&console, &name, q.partitions.as_deref())?;
    let render = q.render.unwrap_or_default();
    let page = tokio::task::spawn_blocking(move || -> ApiResult<RecordsPage> {
        let mut scan = positions(&q, order, partitions)?;
        // Start inside the offset range rather than filter up to it.
        if let Some((lo, hi)) = filter.offsets {
            for s in &mut scan {
                s.position = match order {
                    Order::OldestFirst => s.position.max(lo),
                    Order::NewestFirst => s.position.min(hi.saturating_add(1)),
                };
            }
        }
        let page = browse(&name, &scan, order, &filter, limit)?;
        let mut tail = std::collections::BTreeMap::new();
        let mut bounds = Vec::with_capacity(scan.len());
        for s in &scan {
            let state = partition_state(&s.partition);
            let id = s.partition.tp.partition;
            tail.insert(id, state.high_watermark);
            bounds.push(PartitionBounds {
                partition: id,
                log_start_offset: state.log_start_offset,
                high_watermark: state.high_watermark,
            });
        }
        Ok(RecordsPage {
            records: page
                .records
                .iter()
                .map(|r| RecordView::new(r, render))
                .collect(),
            order: match order {
                Order::OldestFirst => "asc",
                Order::NewestFirst => "desc",
            },
            next_cursor: format_cursor(&page.next),
            has_more: page.has_more,
            tail_cursor: format_cursor(&tail),
            scanned_bytes: page.scanned_bytes,
            partial: page.budget_exhausted,
            partitions: bounds,
        })
    })
    .await??;
    Ok(Json(page))
}

/// `GET /api/v1/topics/{name}/partitions/{partition}/records/{offset}/{part}` with
/// part `key` or `value`: the raw bytes, as a download.
pub async fn download(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams((name, partition, offset, part)): PathParams<(String, i32, i64, String)>,
) -> ApiResult<Response> {
    caller.require_topic(AclOperation::Read, &name)?;
    if part != "key" && part != "value" {
        return Err(ApiError::BadRequest(format!(
            "download 'key' or 'value', not '{part}'"
        )));
    }
    let hosted = selected_partitions(&console, &name, Some(&partition.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("no partition selected".into()))?;
    let topic_name: Arc<str> = Arc::from(name.as_str());
    let record =
        tokio::task::spawn_blocking(move || record_at(&hosted, &topic_name, offset)).await??;
    let unknown = || ApiError::UnknownRecord {
        topic: name.clone(),
        partition,
        offset,
    };
    let record = record.ok_or_else(unknown)?;
    let bytes = if part == "key" {
        record.key
    } else {
        record.value
    }
    .ok_or_else(|| ApiError::BadRequest(format!("the record's {part} is null")))?;
    let filename = format!("{name}-{partition}-{offset}.{part}.bin");
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// A header of a record to produce.
#[derive(Debug, Deserialize)]
pub struct ProduceHeader {
    pub key: String,
    pub value: Option<String>,
}

/// Body of `POST /api/v1/topics/{name}/records`.
#[derive(Debug, Deserialize)]
pub struct ProduceBody {
    /// Default: by key hash (as the Java client), or random for keyless records.
    pub partition: Option<i32>,
    pub key: Option<String>,
    /// `None` produces a tombstone.
    pub value: Option<String>,
    #[serde(default)]
    pub headers: Vec<ProduceHeader>,
    /// `text` (UTF-8, default) or `hex` for key, value and header values.
    pub encoding: Option<String>,
    #[serde(default)]
    pub confirm: bool,
}

/// Where a produced record landed.
#[derive(Debug, Serialize)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

fn decode_hex(text: &str) -> ApiResult<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let pairs = digits.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(ApiError::BadRequest(
            "hex needs an even number of digits".into(),
        ));
    }
    pairs
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| ApiError::BadRequest("not a hex digit pair".into()))
        })
        .collect()
}

/// One record as a magic-2 batch, uncompressed (the topic's `compression.type`
/// applies when it is stored). Headers go in as given, repeated names included, as
/// Kafka's record format allows.
pub fn encode_record(
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    timestamp: i64,
) -> ApiResult<BytesMut> {
    let mut builder = BatchBuilder::new(Codec::None, 0);
    builder
        .push(timestamp, key.as_deref(), value.as_deref(), &headers)
        .map_err(|e| match e {
            BuildError::TooLarge { .. } => ApiError::TooLarge(format!("the record: {e}")),
            e => ApiError::BadRequest(format!("the record: {e}")),
        })?;
    builder
        .build(ProducerStamp::default())
        .map_err(|e| ApiError::Internal(format!("encoding the record: {e}")))
}

/// `POST /api/v1/topics/{name}/records`
pub async fn produce(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<ProduceBody>,
) -> ApiResult<Json<Produced>> {
    caller.require_topic(AclOperation::Write, &name)?;
    let image = console.backend.metadata().image();
    let t = topic(&image, &name)?;
    if t.internal {
        return Err(ApiError::Forbidden(format!(
            "'{name}' is an internal topic; the console does not write to it"
        )));
    }
    let as_bytes = |s: &Option<String>| -> ApiResult<Option<Bytes>> {
        match (s, body.encoding.as_deref().unwrap_or("text")) {
            (None, _) => Ok(None),
            (Some(s), "text") => Ok(Some(Bytes::copy_from_slice(s.as_bytes()))),
            (Some(s), "hex") => Ok(Some(Bytes::from(decode_hex(s)?))),
            (_, other) => Err(ApiError::BadRequest(format!(
                "encoding must be text or hex, not '{other}'"
            ))),
        }
    };
    let key = as_bytes(&body.key)?;
    let value = as_bytes(&body.value)?;
    let mut headers = Vec::with_capacity(body.headers.len());
    for h in &body.headers {
        headers.push((h.key.clone(), as_bytes(&h.value)?));
    }
    let count = t.partitions.len();
    let partition = match (body.partition, &key) {
        (Some(p), _) => {
            if !t.partitions.contains_key(&p) {
                return Err(ApiError::UnknownPartition {
                    topic: name.clone(),
                    partition: p,
                });
            }
            p
        }
        (None, Some(k)) => moldau_client::partitioner::partition_for_key(k, count),
        (None, None) => (rand::random::<u32>() % count.max(1) as u32) as i32,
    };
    let hosted = console
        .backend
        .partitions()
        .get_by_name(&name, partition)
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "partition {partition} of '{name}' is not hosted by this broker"
            ))
        })?;
    let timestamp = now_ms();
    let batch = encode_record(key, value, headers, timestamp)?;
    // The same checks a Kafka client's produce gets (size, key on compacted topics,
    // timestamps).
    let limits = hosted.limits();
    let validation = limits.validation;
    if let Err(rejection) = validate_produce(&batch, &validation, timestamp) {
        return Err(if rejection.error == ResponseError::MessageTooLarge {
            ApiError::TooLarge(format!(
                "the record takes {} bytes; '{name}' accepts at most {} (max.message.bytes)",
                batch.len(),
                validation.max_message_bytes
            ))
        } else {
            ApiError::BadRequest(format!(
                "'{name}' refuses the record: {}",
                rejection.message
            ))
        });
    }
    require_confirmation(
        body.confirm,
        &format!("producing a record to '{name}' partition {partition} adds data"),
    )?;
    // Stored with the topic's compression.type, as a Kafka client's batch would be.
    let mut batch = limits
        .stored_form(batch.freeze())
        .map_err(|e| ApiError::Internal(format!("recompressing the record: {e}")))?;
    let size = batch.len();
    let (appended, durable) = hosted.append(&mut batch, timestamp, true)?;
    if let Some(rx) = durable {
        match rx.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(ApiError::from(e)),
            Err(_) => return Err(ApiError::Unavailable("the broker is shutting down".into())),
        }
    }
    console
        .backend
        .metrics()
        .record_produced(&name, size, appended.info.record_count);
    Ok(Json(Produced {
        partition,
        offset: appended.info.first_offset,
        timestamp: if appended.info.log_append_time >= 0 {
            appended.info.log_append_time
        } else {
            timestamp
        },
    }))
}

/// Body of `POST /api/v1/topics/{name}/partitions/{partition}/delete-records`.
#[derive(Debug, Deserialize)]
pub struct DeleteRecordsBody {
    /// Records below this offset go; -1 means up to the high watermark (as Kafka's
    /// DeleteRecords).
    pub before_offset: i64,
    #[serde(default)]
    pub confirm: bool,
}

/// The partition's new log start.
#[derive(Debug, Serialize)]
pub struct RecordsDeleted {
    pub partition: i32,
    pub log_start_offset: i64,
}

/// `POST /api/v1/topics/{name}/partitions/{partition}/delete-records`: moves the log
/// start forward, as DeleteRecords (`kafka-delete-records.sh`) does.
pub async fn delete_records(
    State(console): State<Arc<Console>>,
    caller: Caller,
    PathParams((name, partition)): PathParams<(String, i32)>,
    JsonBody(body): JsonBody<DeleteRecordsBody>,
) -> ApiResult<Json<RecordsDeleted>> {
    caller.require_topic(AclOperation::Delete, &name)?;
    if let Err(e) = moldau_broker::internal_topics::check_client_delete_records(&name) {
        return Err(ApiError::Forbidden(format!(
            "records of '{name}' cannot be deleted: {e:?}"
        )));
    }
    let hosted = selected_partitions(&console, &name, Some(&partition.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("no partition selected".into()))?;
    let image = console.backend.metadata().image();
    if let Err(not_served) = moldau_broker::leadership::check_leader(
        &image,
        console.backend.metadata().node_id(),
        &name,
        partition,
        -1,
    ) {
        return Err(ApiError::Unavailable(format!(
            "this broker does not lead {name}-{partition} ({:?})",
            not_served.error
        )));
    }
    let state = partition_state(&hosted);
    let target = if body.before_offset == -1 {
        state.high_watermark
    } else {
        body.before_offset
    };
    if target < 0 || target > state.high_watermark {
        return Err(ApiError::BadRequest(format!(
            "before_offset must be between 0 and the high watermark {} (or -1 for all), not {}",
            state.high_watermark, body.before_offset
        )));
    }
    require_confirmation(
        body.confirm,
        &format!(
            "deleting the records of {name}-{partition} below offset {target} cannot be undone"
        ),
    )?;
    let start =
        tokio::task::spawn_blocking(move || hosted.log.write().delete_records_before(target))
            .await??;
    tracing::info!(topic = %name, partition, log_start_offset = start, "records deleted from the console");
    Ok(Json(RecordsDeleted {
        partition,
        log_start_offset: start,
    }))
}
