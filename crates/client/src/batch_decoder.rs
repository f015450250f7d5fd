//! Decodes the record batches of one fetched partition into [`ConsumerRecord`]s.
//! Keys and values are slices of the response (or of the decompressed batch), not
//! copies. Every length is checked against what is left before it is used.

use std::sync::Arc;

use bytes::Bytes;
use moldau_protocol::batch::{BatchError, BatchView, Codec, BATCH_HEADER_BYTES};
use moldau_protocol::compression::decompress;
use moldau_protocol::record::{RecordIter, RECORD_BYTES_MIN};

use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, Header, TimestampType};

/// Limits and options for decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// `check.crcs`: verify each batch's CRC-32C.
    pub check_crcs: bool,
    /// Largest size one batch may decompress to, in bytes.
    pub decompressed_batch_bytes_max: usize,
}

/// What decoding one partition's records produced.
#[derive(Debug, Default)]
pub struct DecodedRecords {
    /// Records at or after the fetch offset, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// The offset after the last complete batch seen (control batches included), or
    /// `None` when no complete batch was there.
    pub next_offset: Option<i64>,
}

/// Aborted transaction ranges (read_committed): records of `producer_id` from
/// `first_offset` on are skipped until its abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose transaction aborted.
    pub producer_id: i64,
    /// First offset of the aborted transaction.
    pub first_offset: i64,
}

/// Decodes `data` (concatenated batches, the last possibly cut short by the broker's
/// size limit) for `topic`/`partition`, dropping records before `fetch_offset`.
pub fn decode_partition(
    topic: &Arc<str>,
    partition: i32,
    data: &Bytes,
    fetch_offset: i64,
    aborted: &[AbortedTxn],
    opts: DecodeOptions,
) -> Result<DecodedRecords> {
    let mut out = DecodedRecords::default();
    let mut pos = 0usize;
    let mut aborted_open: Vec<i64> = Vec::new();
    let mut aborted_pending: Vec<AbortedTxn> = aborted.to_vec();
    aborted_pending.sort_by_key(|a| a.first_offset);
    while pos < data.len() {
        let view = match BatchView::parse(&data[pos..]) {
            Ok(v) => v,
            // A cut-off last batch is normal: the next fetch starts there.
            Err(BatchError::Truncated { .. }) => break,
            Err(e) => return Err(Error::Protocol(format!("{topic}-{partition}: {e}"))),
        };
        let size = view.size();
        if opts.check_crcs {
            view.validate()
                .map_err(|e| Error::Protocol(format!("{topic}-{partition}: {e}")))?;
        }
        out.next_offset = Some(view.last_offset().saturating_add(1));
        let batch_bytes = data.slice(pos..pos + size);
        pos += size;
        if view.last_offset() < fetch_offset {
            continue;
        }
        // read_committed: open aborted transactions that start at or before here.
        while let Some(a) = aborted_pending.first() {
            if a.first_offset > view.last_offset() {
                break;
            }
            aborted_open.push(a.producer_id);
            aborted_pending.remove(0);
        }
        if view.is_control() {
            if view.is_transactional() {
                // The marker ends the producer's transaction (commit or abort).
                aborted_open.retain(|p| *p != view.producer_id());
            }
            continue;
        }
        if view.is_transactional() && aborted_open.contains(&view.producer_id()) {
            continue;
        }
        decode_batch(
            topic,
            partition,
            &view,
            &batch_bytes,
            fetch_offset,
            opts,
            &mut out.records,
        )?;
    }
    if out.next_offset.is_none() && !data.is_empty() && pos == 0 {
        // Not even one whole batch: the broker cut the first batch (old brokers do
        // when it exceeds max.partition.fetch.bytes).
        return Err(Error::Protocol(format!(
            "{topic}-{partition}: first batch at offset {fetch_offset} is larger than the {} bytes returned",
            data.len()
        )));
    }
    Ok(out)
}

fn decode_batch(
    topic: &Arc<str>,
    partition: i32,
    view: &BatchView<'_>,
    batch: &Bytes,
    fetch_offset: i64,
    opts: DecodeOptions,
    out: &mut Vec<ConsumerRecord>,
) -> Result<()> {
    let bad = |what: String| Error::Protocol(format!("{topic}-{partition}: {what}"));
    // Uncompressed records stay slices of the response; compressed ones of the
    // (bounded) decompressed copy.
    let payload = match view.codec() {
        Codec::None => batch.slice(BATCH_HEADER_BYTES..),
        codec => Bytes::from(
            decompress(
                codec,
                view.records_payload(),
                opts.decompressed_batch_bytes_max,
            )
            .map_err(|e| bad(e.to_string()))?,
        ),
    };
    let count = view.records_count();
    let base_offset = view.base_offset();
    let base_timestamp = view.base_timestamp();
    let log_append = view.is_log_append_time();
    let (ts_type, batch_ts) = if log_append {
        (TimestampType::LogAppendTime, view.max_timestamp())
    } else {
        (TimestampType::CreateTime, 0)
    };
    let epoch = view.partition_leader_epoch();
    out.reserve((count.max(0) as usize).min(payload.len() / RECORD_BYTES_MIN));
    for record in RecordIter::new(&payload, count) {
        let r = record.map_err(|e| bad(format!("malformed record ({e})")))?;
        let offset = base_offset.saturating_add(r.offset_delta as i64);
        if offset < fetch_offset {
            continue;
        }
        let mut headers = Vec::with_capacity(r.headers.len());
        for (key, value) in r.headers.iter() {
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| bad("malformed record (header key utf-8)".into()))?;
            headers.push(Header {
                key,
                value: value.map(|v| payload.slice_ref(v)),
            });
        }
        out.push(ConsumerRecord {
            topic: topic.clone(),
            partition,
            offset,
            timestamp: if log_append {
                batch_ts
            } else {
                base_timestamp.saturating_add(r.timestamp_delta)
            },
            timestamp_type: ts_type,
            leader_epoch: epoch,
            key: r.key.map(|k| payload.slice_ref(k)),
            value: r.value.map(|v| payload.slice_ref(v)),
            headers,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch_builder::{BatchBuilder, ProducerStamp};
    use crate::codec::Compression;
    use moldau_protocol::batch::set_base_offset;
    use moldau_protocol::batch_builder::NO_HEADERS;

    const OPTS: DecodeOptions = DecodeOptions {
        check_crcs: true,
        decompressed_batch_bytes_max: 1 << 20,
    };

    fn batch(codec: Compression, base: i64, n: i32) -> Vec<u8> {
        let mut b = BatchBuilder::new(codec.codec(), 256);
        for i in 0..n {
            let h = [Header {
                key: "idx".into(),
                value: Some(Bytes::from(i.to_string())),
            }];
            b.push(
                100 + i as i64,
                Some(b"key"),
                Some(format!("v{i}").as_bytes()),
                &h,
            )
            .unwrap();
        }
        let mut v = b.build(ProducerStamp::default()).unwrap().to_vec();
        set_base_offset(&mut v, base);
        v
    }

    #[test]
    fn decodes_concatenated_batches_and_skips_before_fetch_offset() {
        let topic: Arc<str> = Arc::from("t");
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let mut data = batch(codec, 10, 3);
            data.extend(batch(codec, 13, 2));
            let data = Bytes::from(data);
            let out = decode_partition(&topic, 0, &data, 11, &[], OPTS).unwrap();
            let offsets: Vec<i64> = out.records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, vec![11, 12, 13, 14], "{codec:?}");
            assert_eq!(out.next_offset, Some(15));
            let r = &out.records[0];
            assert_eq!(r.value.as_deref(), Some(&b"v1"[..]));
            assert_eq!(r.timestamp, 101);
            assert_eq!(r.headers[0].value.as_deref(), Some(&b"1"[..]));
        }
    }

    #[test]
    fn truncated_tail_is_ignored_but_truncated_head_is_reported() {
        let topic: Arc<str> = Arc::from("t");
        let mut data = batch(Compression::None, 0, 2);
        let first_len = data.len();
        data.extend(batch(Compression::None, 2, 2));
        let cut = Bytes::from(data[..data.len() - 3].to_vec());
        let out = decode_partition(&topic, 0, &cut, 0, &[], OPTS).unwrap();
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.next_offset, Some(2));
        let head = Bytes::from(data[..first_len - 1].to_vec());
        assert!(decode_partition(&topic, 0, &head, 0, &[], OPTS).is_err());
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let topic: Arc<str> = Arc::from("t");
        let good = batch(Compression::None, 0, 3);
        // Flip every byte in turn, with and without CRC checks: errors, never panics.
        for i in 0..good.len() {
            for check_crcs in [true, false] {
                let mut bad = good.clone();
                bad[i] ^= 0xa5;
                let opts = DecodeOptions { check_crcs, ..OPTS };
                let _ = decode_partition(&topic, 0, &Bytes::from(bad), 0, &[], opts);
            }
        }
        let mut crc_broken = good.clone();
        let last = crc_broken.len() - 1;
        crc_broken[last] ^= 1;
        assert!(decode_partition(&topic, 0, &Bytes::from(crc_broken), 0, &[], OPTS).is_err());
    }

    #[test]
    fn aborted_transactions_are_skipped_in_read_committed() {
        let topic: Arc<str> = Arc::from("t");
        let mut b = BatchBuilder::new(Compression::None.codec(), 64).transactional(true);
        b.push(1, None, Some(b"aborted"), &NO_HEADERS).unwrap();
        let mut data = b
            .build(ProducerStamp {
                producer_id: 7,
                producer_epoch: 0,
                base_sequence: 0,
            })
            .unwrap();
        data.extend_from_slice(&batch(Compression::None, 1, 1));
        let data = data.freeze();
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
        }];
        let out = decode_partition(&topic, 0, &data, 0, &aborted, OPTS).unwrap();
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].offset, 1);
        let all = decode_partition(&topic, 0, &data, 0, &[], OPTS).unwrap();
        assert_eq!(all.records.len(), 2);
    }
}
