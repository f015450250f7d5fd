//! A Raft entry as a Kafka record: each entry is one record in its own magic-2
//! batch of `__cluster_metadata-0`, so `moldau dump-log` prints the Raft log.
//!
//! Mapping (docs/format/cluster-metadata-raft.md): record offset = Raft index;
//! batch partition leader epoch = Raft term; record key = the entry kind
//! (`raft.normal`, `raft.membership`, `raft.blank`); value = the metadata records
//! (a record list) for normal entries, the membership as JSON, none for blank ones.

use bytes::Bytes;
use moldau_protocol::batch::{self, BatchIter};
use moldau_protocol::batch_encode::encode_plain_batch;
use moldau_protocol::record::{parse_records, record_data};
use openraft::{CommittedLeaderId, EntryPayload, LogId};

use crate::raft::error::RaftStoreError;
use crate::raft::type_config::{MetadataCommand, MetadataRaftConfig, NodeId};

pub type MetadataEntry = openraft::Entry<MetadataRaftConfig>;

pub const ENTRY_KEY_NORMAL: &[u8] = b"raft.normal";
pub const ENTRY_KEY_MEMBERSHIP: &[u8] = b"raft.membership";
pub const ENTRY_KEY_BLANK: &[u8] = b"raft.blank";

/// Largest decompressed record data of one batch read back (entries are written
/// uncompressed; this bounds a corrupt or foreign batch).
pub const ENTRY_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The log offset of Raft index `index`.
pub fn offset_of(index: u64) -> Result<i64, RaftStoreError> {
    i64::try_from(index).map_err(|_| RaftStoreError::IndexTooLarge(index))
}

/// The log id of an entry read at `offset` in a batch of leader epoch `epoch`.
pub fn log_id_at(epoch: i32, offset: i64) -> Result<LogId<NodeId>, RaftStoreError> {
    let term = u64::try_from(epoch)
        .map_err(|_| RaftStoreError::malformed("entry batch", format!("leader epoch {epoch}")))?;
    let index = u64::try_from(offset)
        .map_err(|_| RaftStoreError::malformed("entry batch", format!("offset {offset}")))?;
    // In single-term-leader mode a committed leader id is the term alone.
    Ok(LogId::new(CommittedLeaderId::new(term, 0), index))
}

/// One batch holding `entry`, its base offset and leader epoch already set.
pub fn encode_entry_batch(
    entry: &MetadataEntry,
    timestamp_ms: i64,
) -> Result<Vec<u8>, RaftStoreError> {
    let offset = offset_of(entry.log_id.index)?;
    let term = entry.log_id.leader_id.term;
    let epoch = i32::try_from(term).map_err(|_| RaftStoreError::TermTooLarge(term))?;
    let (key, value) = match &entry.payload {
        EntryPayload::Blank => (ENTRY_KEY_BLANK, None),
        EntryPayload::Normal(command) => (
            ENTRY_KEY_NORMAL,
            Some(Bytes::copy_from_slice(command.encoded())),
        ),
        EntryPayload::Membership(membership) => {
            let json = serde_json::to_vec(membership)
                .map_err(|e| RaftStoreError::malformed("membership", e))?;
            (ENTRY_KEY_MEMBERSHIP, Some(Bytes::from(json)))
        }
    };
    let mut buf = encode_plain_batch(&[(Some(Bytes::from_static(key)), value)], timestamp_ms)
        .map_err(|e| RaftStoreError::malformed("entry batch", e))?;
    batch::set_base_offset(&mut buf, offset);
    batch::set_partition_leader_epoch(&mut buf, epoch);
    Ok(buf.to_vec())
}

/// The entries with index in `[from, to)` from whole batches read from the log.
pub fn decode_entries(
    batches: &[u8],
    from: u64,
    to: u64,
    out: &mut Vec<MetadataEntry>,
) -> Result<(), RaftStoreError> {
    for item in BatchIter::new(batches) {
        let (_, view) = item.map_err(|e| RaftStoreError::malformed("entry batch", e))?;
        if view.stored_crc() != view.computed_crc() {
            return Err(RaftStoreError::malformed(
                "entry batch",
                format!("CRC mismatch at offset {}", view.base_offset()),
            ));
        }
        let data = record_data(&view, ENTRY_BATCH_BYTES_MAX)
            .map_err(|e| RaftStoreError::malformed("entry batch", e))?;
        let records = parse_records(&data, view.records_count())
            .map_err(|e| RaftStoreError::malformed("entry record", e))?;
        for record in records {
            let log_id = log_id_at(
                view.partition_leader_epoch(),
                view.base_offset() + i64::from(record.offset_delta),
            )?;
            if log_id.index < from || log_id.index >= to {
                continue;
            }
            let payload = match record.key {
                Some(ENTRY_KEY_BLANK) => EntryPayload::Blank,
                Some(ENTRY_KEY_NORMAL) => EntryPayload::Normal(MetadataCommand::from_encoded(
                    record.value.unwrap_or_default().to_vec(),
                )),
                Some(ENTRY_KEY_MEMBERSHIP) => {
                    let value = record.value.unwrap_or_default();
                    EntryPayload::Membership(
                        serde_json::from_slice(value)
                            .map_err(|e| RaftStoreError::malformed("membership", e))?,
                    )
                }
                other => {
                    return Err(RaftStoreError::malformed(
                        "entry record",
                        format!("unknown key {:?}", other.map(String::from_utf8_lossy)),
                    ))
                }
            };
            out.push(MetadataEntry { log_id, payload });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetadataRecord;
    use openraft::{BasicNode, Membership};
    use std::collections::{BTreeMap, BTreeSet};

    fn entry(term: u64, index: u64, payload: EntryPayload<MetadataRaftConfig>) -> MetadataEntry {
        MetadataEntry {
            log_id: LogId::new(CommittedLeaderId::new(term, 0), index),
            payload,
        }
    }

    #[test]
    fn entries_round_trip_through_batches() {
        let command = MetadataCommand::from_records(&[MetadataRecord::Config {
            resource: crate::ConfigResource::Broker(None),
            name: "k".into(),
            value: Some("v".into()),
        }])
        .unwrap();
        let nodes = BTreeMap::from([(1u64, BasicNode::new("127.0.0.1:1"))]);
        let membership = Membership::new(vec![BTreeSet::from([1u64])], nodes);
        let entries = vec![
            entry(1, 0, EntryPayload::Membership(membership)),
            entry(1, 1, EntryPayload::Blank),
            entry(3, 2, EntryPayload::Normal(command)),
        ];
        let mut bytes = Vec::new();
        for e in &entries {
            bytes.extend(encode_entry_batch(e, 5).unwrap());
        }
        let mut out = Vec::new();
        decode_entries(&bytes, 0, 3, &mut out).unwrap();
        assert_eq!(out, entries);
        out.clear();
        decode_entries(&bytes, 1, 2, &mut out).unwrap();
        assert_eq!(out, entries[1..2].to_vec());
    }

    #[test]
    fn refuses_terms_and_indexes_that_do_not_fit_and_corrupt_batches() {
        assert!(matches!(
            encode_entry_batch(&entry(1 << 31, 0, EntryPayload::Blank), 0),
            Err(RaftStoreError::TermTooLarge(_))
        ));
        assert!(matches!(
            encode_entry_batch(&entry(1, u64::MAX, EntryPayload::Blank), 0),
            Err(RaftStoreError::IndexTooLarge(_))
        ));
        let mut bytes = encode_entry_batch(&entry(1, 0, EntryPayload::Blank), 0).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(decode_entries(&bytes, 0, 1, &mut Vec::new()).is_err());
    }
}
