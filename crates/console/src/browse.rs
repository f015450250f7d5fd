//! The message browser's scan: pages of records from one or more partitions, oldest
//! first from a position or newest first below one, filtered by key, value or header.
//!
//! A page stops at `limit` records or after [`BROWSE_SCAN_BYTES_MAX`] bytes of log
//! read, whichever comes first, so a filter that matches nothing cannot make one
//! request read a whole topic. The returned cursor says where each partition goes on.
//! Blocking: runs on tokio's blocking pool.

use crate::error::{ApiError, ApiResult};
use crate::json_path::FieldFilter;
use crate::reader::{read_chunk, READ_STEP_BYTES};
use crate::render::{render, RenderMode};
use moldau_broker::partition::Partition;
use moldau_client::ConsumerRecord;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most log bytes one page may read, across all its partitions.
pub const BROWSE_SCAN_BYTES_MAX: usize = 32 << 20;
/// Offsets in the first window of a newest-first scan; windows double from there.
const BACKWARD_WINDOW_OFFSETS_MIN: i64 = 64;
/// Largest window of a newest-first scan, in offsets.
const BACKWARD_WINDOW_OFFSETS_MAX: i64 = 1 << 20;

/// Which records a page keeps. Substrings match case-sensitively: keys and headers
/// their raw bytes, values their raw bytes or the pretty JSON the browser shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Header name, and optionally a substring of its value (`name=value`).
    pub header: Option<(String, Option<Vec<u8>>)>,
    /// A field of the JSON value (`user.country = "CZ"`).
    pub field: Option<FieldFilter>,
    /// Offsets kept, both ends included.
    pub offsets: Option<(i64, i64)>,
    /// Timestamps kept (ms since the epoch), both ends included.
    pub timestamps: Option<(i64, i64)>,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

impl Filter {
    /// Parses the `header` query form: `name` or `name=value`.
    pub fn header_from(text: &str) -> (String, Option<Vec<u8>>) {
        match text.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.as_bytes().to_vec())),
            None => (text.to_string(), None),
        }
    }

    /// Whether the value contains `want` as stored, or as the browser shows it.
    fn value_contains(want: &[u8], value: Option<&[u8]>) -> bool {
        let Some(v) = value else { return false };
        if contains(v, want) {
            return true;
        }
        let shown = render(v, RenderMode::Auto);
        shown.format == "json" && contains(shown.data.as_bytes(), want)
    }

    pub fn matches(&self, r: &ConsumerRecord) -> bool {
        if self
            .offsets
            .is_some_and(|(lo, hi)| r.offset < lo || r.offset > hi)
            || self
                .timestamps
                .is_some_and(|(lo, hi)| r.timestamp < lo || r.timestamp > hi)
        {
            return false;
        }
        let key_ok = match &self.key {
            None => true,
            Some(w) => r.key.as_deref().is_some_and(|h| contains(h, w)),
        };
        let value_ok = match &self.value {
            None => true,
            Some(w) => Self::value_contains(w, r.value.as_deref()),
        };
        if !key_ok
            || !value_ok
            || self
                .field
                .as_ref()
                .is_some_and(|f| !f.matches(r.value.as_deref()))
        {
            return false;
        }
        match &self.header {
            None => true,
            Some((name, value)) => r.headers.iter().any(|h| {
                h.key == *name
                    && value
                        .as_deref()
                        .is_none_or(|v| h.value.as_deref().is_some_and(|hv| contains(hv, v)))
            }),
        }
    }
}

/// Direction of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// From each partition's position upward.
    OldestFirst,
    /// From below each partition's bound downward.
    NewestFirst,
}

/// A hosted partition to scan, from `position`: the first offset to read (oldest
/// first) or the exclusive upper bound (newest first).
pub struct ScanPartition {
    pub partition: Arc<Partition>,
    pub position: i64,
}

/// One page.
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<ConsumerRecord>,
    /// Where each partition continues.
    pub next: BTreeMap<i32, i64>,
    /// Some partition still has records beyond this page.
    pub has_more: bool,
    pub scanned_bytes: usize,
    /// The byte budget ran out before `limit` records were found.
    pub budget_exhausted: bool,
}

struct Scanned {
    records: Vec<ConsumerRecord>,
    next: i64,
    exhausted: bool,
}

fn scan_forward(
    p: &ScanPartition,
    topic: &Arc<str>,
    filter: &Filter,
    want: usize,
    budget: &mut usize,
) -> ApiResult<Scanned> {
    let mut at = p.position;
    let mut records = Vec::new();
    while *budget > 0 {
        let chunk = read_chunk(
            &p.partition,
            topic,
            at,
            i64::MAX,
            READ_STEP_BYTES.min(*budget),
        )?;
        *budget = budget.saturating_sub(chunk.bytes_read.max(1));
        let past_range = filter.offsets.is_some_and(|(_, hi)| chunk.next_offset > hi);
        for r in chunk.records {
            if filter.matches(&r) {
                let next = r.offset + 1;
                records.push(r);
                if records.len() == want {
                    return Ok(Scanned {
                        records,
                        next,
                        exhausted: false,
                    });
                }
            }
        }
        if chunk.at_end || chunk.next_offset <= at || past_range {
            return Ok(Scanned {
                records,
                next: chunk.next_offset.max(at),
                exhausted: true,
            });
        }
        at = chunk.next_offset;
    }
    Ok(Scanned {
        records,
        next: at,
        exhausted: false,
    })
}

fn scan_backward(
    p: &ScanPartition,
    topic: &Arc<str>,
    filter: &Filter,
    want: usize,
    budget: &mut usize,
) -> ApiResult<Scanned> {
    // Nothing below the offset range is wanted.
    let log_start = p
        .partition
        .log_start_offset()
        .max(filter.offsets.map_or(i64::MIN, |(lo, _)| lo));
    let mut hi = p.position;
    let mut window = (want as i64).max(BACKWARD_WINDOW_OFFSETS_MIN);
    let mut out: Vec<ConsumerRecord> = Vec::new();
    'windows: while hi > log_start && *budget > 0 {
        let lo = (hi - window).max(log_start);
        let mut found = Vec::new();
        let mut at = lo;
        loop {
            if *budget == 0 {
                // An incomplete window cannot be shown newest-first: resume at `hi`.
                break 'windows;
            }
            let chunk = read_chunk(&p.partition, topic, at, hi, READ_STEP_BYTES.min(*budget))?;
            *budget = budget.saturating_sub(chunk.bytes_read.max(1));
            found.extend(chunk.records.into_iter().filter(|r| filter.matches(r)));
            if chunk.at_end || chunk.next_offset <= at {
                break;
            }
            at = chunk.next_offset;
        }
        for r in found.into_iter().rev() {
            let bound = r.offset;
            out.push(r);
            if out.len() == want {
                return Ok(Scanned {
                    records: out,
                    next: bound,
                    exhausted: false,
                });
            }
        }
        hi = lo;
        window = (window * 2).min(BACKWARD_WINDOW_OFFSETS_MAX);
    }
    Ok(Scanned {
        records: out,
        next: hi,
        exhausted: hi <= log_start,
    })
}

/// Scans every partition, then merges by timestamp (oldest or newest first) and keeps
/// `limit` records; a partition whose records did not all fit continues after the
/// last one shown.
pub fn browse(
    topic: &str,
    partitions: &[ScanPartition],
    order: Order,
    filter: &Filter,
    limit: usize,
) -> ApiResult<Page> {
    if limit == 0 {
        return Err(ApiError::BadRequest("limit must be at least 1".into()));
    }
    let name: Arc<str> = Arc::from(topic);
    let mut budget = BROWSE_SCAN_BYTES_MAX;
    let mut scans = Vec::with_capacity(partitions.len());
    for p in partitions {
        let s = match order {
            Order::OldestFirst => scan_forward(p, &name, filter, limit, &mut budget)?,
            Order::NewestFirst => scan_backward(p, &name, filter, limit, &mut budget)?,
        };
        scans.push(s);
    }
    let mut all: Vec<ConsumerRecord> = scans.iter().flat_map(|s| s.records.clone()).collect();
    match order {
        Order::OldestFirst => all.sort_by_key(|r| (r.timestamp, r.partition, r.offset)),
        Order::NewestFirst => all.sort_by_key(|r| {
            (
                std::cmp::Reverse(r.timestamp),
                r.partition,
                std::cmp::Reverse(r.offset),
            )
        }),
    }
    all.truncate(limit);
    let mut page = Page {
        scanned_bytes: BROWSE_SCAN_BYTES_MAX - budget,
        budget_exhausted: budget == 0 && all.len() < limit,
        ..Page::default()
    };
    for (p, s) in partitions.iter().zip(&scans) {
        let id = p.partition.tp.partition;
        let shown: Vec<i64> = all
            .iter()
            .filter(|r| r.partition == id)
            .map(|r| r.offset)
            .collect();
        let (next, more) = if shown.len() == s.records.len() {
            (s.next, !s.exhausted)
        } else {
            let next = match order {
                Order::OldestFirst => shown.iter().max().map_or(p.position, |o| o + 1),
                Order::NewestFirst => shown.iter().min().copied().unwrap_or(p.position),
            };
            (next, true)
        };
        page.next.insert(id, next);
        page.has_more |= more;
    }
    page.records = all;
    Ok(page)
}

/// Formats a cursor: `partition:offset` pairs, comma-separated.
pub fn format_cursor(next: &BTreeMap<i32, i64>) -> String {
    next.iter()
        .map(|(p, o)| format!("{p}:{o}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a cursor, allowing at most `entries_max` pairs.
pub fn parse_cursor(text: &str, entries_max: usize) -> ApiResult<BTreeMap<i32, i64>> {
    let bad = || ApiError::BadRequest(format!("cursor '{text}' is not partition:offset,..."));
    let mut out = BTreeMap::new();
    for item in text.split(',').filter(|s| !s.is_empty()) {
        if out.len() >= entries_max {
            return Err(bad());
        }
        let (p, o) = item.split_once(':').ok_or_else(bad)?;
        let p: i32 = p.trim().parse().map_err(|_| bad())?;
        let o: i64 = o.trim().parse().map_err(|_| bad())?;
        out.insert(p, o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use moldau_client::{Header, TimestampType};

    fn record(key: &str, value: &str, headers: &[(&str, &str)]) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset: 0,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            leader_epoch: 0,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: Some(Bytes::copy_from_slice(v.as_bytes())),
                })
                .collect(),
        }
    }

    #[test]
    fn filters_match_substrings_and_headers() {
        let r = record("user-42", "{\"amount\":7}", &[("trace", "abc123")]);
        assert!(Filter::default().matches(&r));
        let key = Filter {
            key: Some(b"42".to_vec()),
            ..Filter::default()
        };
        assert!(key.matches(&r));
        let value = Filter {
            value: Some(b"amount\":8".to_vec()),
            ..Filter::default()
        };
        assert!(!value.matches(&r));
        let header = Filter {
            header: Some(Filter::header_from("trace=c12")),
            ..Filter::default()
        };
        assert!(header.matches(&r));
        let missing = Filter {
            header: Some(Filter::header_from("span")),
            ..Filter::default()
        };
        assert!(!missing.matches(&r));
        let mut tombstone = r.clone();
        tombstone.value = None;
        assert!(!value.matches(&tombstone));
    }

    #[test]
    fn value_filter_sees_the_pretty_json_and_ranges_bound_offsets_and_times() {
        let mut r = record("k", r#"{"item":"kettle","qty":2}"#, &[]);
        r.offset = 7;
        r.timestamp = 1_000;
        let shown = Filter {
            value: Some(b"\"qty\": 2".to_vec()),
            ..Filter::default()
        };
        assert!(shown.matches(&r));
        let field = Filter {
            field: FieldFilter::parse("item = kettle").ok(),
            ..Filter::default()
        };
        assert!(field.matches(&r));
        for (offsets, timestamps, want) in [
            (Some((7, 7)), None, true),
            (Some((8, 20)), None, false),
            (Some((0, 6)), None, false),
            (None, Some((1_000, 1_000)), true),
            (None, Some((0, 999)), false),
            (None, Some((1_001, 5_000)), false),
        ] {
            let f = Filter {
                offsets,
                timestamps,
                ..Filter::default()
            };
            assert_eq!(f.matches(&r), want, "{offsets:?} {timestamps:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = BTreeMap::from([(0, 15), (2, 7)]);
        assert_eq!(format_cursor(&c), "0:15,2:7");
        assert_eq!(parse_cursor("0:15,2:7", 10).ok(), Some(c));
        assert!(parse_cursor("0:x", 10).is_err());
        assert!(parse_cursor("0:1,1:1", 1).is_err());
        assert!(parse_cursor("", 10).is_ok_and(|c| c.is_empty()));
    }
}
