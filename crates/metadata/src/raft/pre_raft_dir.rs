//! Data directories written before the metadata log was a Raft log: the
//! `__cluster_metadata-0` partition then held one metadata record per Kafka record
//! (binary, or JSON in the oldest versions) and `<offset>-<epoch>.checkpoint`
//! snapshots, with no `quorum-state`. Such a directory is loaded the old way and
//! replaced by Raft storage that starts from a snapshot of its image; the old files
//! stay (renamed) until the new ones are durable. See docs/format/cluster-metadata.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use moldau_log::{LogConfig, PartitionLog, TopicPartition, METADATA_LOG_TOPIC};
use moldau_protocol::batch::BatchIter;
use moldau_protocol::compression::DECOMPRESSED_BATCH_BYTES_MAX;
use moldau_protocol::record::{record_data, RecordIter};
use openraft::{BasicNode, CommittedLeaderId, LogId, Membership, SnapshotMeta, StoredMembership};

use crate::raft::error::RaftStoreError;
use crate::raft::image_snapshot::image_to_snapshot_bytes;
use crate::raft::quorum_state::{QuorumState, QuorumStateFile, QUORUM_STATE_FILE};
use crate::raft::snapshot_file::{write_snapshot, StoredSnapshot, SNAPSHOT_FILE};
use crate::raft::type_config::NodeId;
use crate::snapshot::{self, SnapshotId};
use crate::{MetadataImage, MetadataRecord};

/// Largest read while replaying a pre-Raft metadata log.
const PRE_RAFT_READ_BYTES_MAX: usize = 8 << 20;
/// Where the pre-Raft files wait, beside the partition directory, until the Raft
/// storage that replaces them is durable.
const PRE_RAFT_SUFFIX: &str = ".pre-raft";
/// Where the Raft storage is built before it takes the partition directory's name.
const BUILDING_SUFFIX: &str = ".raft-new";

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// True when `dir` holds metadata written before Raft: records or snapshots, but no
/// Raft state.
pub fn is_pre_raft_dir(dir: &Path) -> Result<bool, RaftStoreError> {
    if !dir.is_dir() || dir.join(QUORUM_STATE_FILE).exists() || dir.join(SNAPSHOT_FILE).exists() {
        return Ok(false);
    }
    for entry in std::fs::read_dir(dir).map_err(RaftStoreError::io(dir))? {
        let entry = entry.map_err(RaftStoreError::io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let len = entry.metadata().map_err(RaftStoreError::io(dir))?.len();
        if (name.ends_with(".log") && len > 0) || SnapshotId::parse(&name).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Converts a pre-Raft metadata directory `dir` into Raft storage holding one
/// snapshot of its image (the voters as membership), and finishes or undoes a
/// conversion a crash interrupted. Returns whether a conversion happened.
pub fn convert_pre_raft_dir(
    dir: &Path,
    node_id: NodeId,
    voters: &BTreeMap<NodeId, BasicNode>,
) -> Result<bool, RaftStoreError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let old = sibling(dir, PRE_RAFT_SUFFIX);
    let building = sibling(dir, BUILDING_SUFFIX);
    if old.exists() {
        if dir.join(QUORUM_STATE_FILE).exists() {
            // The Raft storage took the name: the old files are no longer needed.
            std::fs::remove_dir_all(&old).map_err(RaftStoreError::io(&old))?;
        } else {
            // Interrupted before the new storage took the name: start over.
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(RaftStoreError::io(dir))?;
            }
            std::fs::rename(&old, dir).map_err(RaftStoreError::io(dir))?;
        }
    }
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(RaftStoreError::io(&building))?;
    }
    if !is_pre_raft_dir(dir)? {
        return Ok(false);
    }
    let image = load_pre_raft_image(dir)?;
    let last = image.last_offset();
    tracing::info!(
        dir = %dir.display(),
        last_offset = last,
        topics = image.topics().count(),
        "converting a metadata log written before the Raft quorum"
    );
    std::fs::create_dir_all(&building).map_err(RaftStoreError::io(&building))?;
    if last >= 0 {
        let log_id = LogId::new(CommittedLeaderId::new(0, node_id), last as u64);
        let ids: BTreeSet<NodeId> = voters.keys().copied().collect();
        let membership = Membership::new(vec![ids], voters.clone());
        let snapshot = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: Some(log_id),
                last_membership: StoredMembership::new(Some(log_id), membership),
                snapshot_id: format!("pre-raft-{last}"),
            },
            body: image_to_snapshot_bytes(&image)
                .map_err(|e| RaftStoreError::malformed("pre-raft image", e))?,
        };
        write_snapshot(&building, &snapshot)?;
        QuorumStateFile::open(&building)?.store(QuorumState {
            vote: None,
            committed: Some(log_id),
            last_purged: Some(log_id),
        })?;
    }
    std::fs::rename(dir, &old).map_err(RaftStoreError::io(dir))?;
    std::fs::rename(&building, dir).map_err(RaftStoreError::io(dir))?;
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(RaftStoreError::io(parent))?;
    std::fs::remove_dir_all(&old).map_err(RaftStoreError::io(&old))?;
    Ok(true)
}

/// The image a pre-Raft directory holds: its newest readable snapshot that the log
/// continues, then the log after it.
pub fn load_pre_raft_image(dir: &Path) -> Result<MetadataImage, RaftStoreError> {
    let snapshot_error = |e: snapshot::SnapshotError| RaftStoreError::malformed("snapshot", e);
    snapshot::remove_partial_snapshots(dir).map_err(snapshot_error)?;
    let snapshots = snapshot::list_snapshots(dir).map_err(snapshot_error)?;
    let log = PartitionLog::open(
        dir,
        TopicPartition::new(METADATA_LOG_TOPIC, 0),
        LogConfig::default(),
        0,
        None,
    )?;
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let mut image = None;
    for id in snapshots.iter().rev() {
        if id.end_offset < start || id.end_offset > end {
            tracing::warn!(
                ?id,
                start,
                end,
                "metadata snapshot outside the log, skipped"
            );
            continue;
        }
        match snapshot::read_snapshot(dir, *id) {
            Ok(read) => {
                image = Some(read);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "metadata snapshot unreadable, trying an older one")
            }
        }
    }
    if image.is_none() && start > 0 {
        return Err(RaftStoreError::malformed(
            "metadata log",
            format!("it starts at offset {start} but no snapshot covers what came before"),
        ));
    }
    let mut image = image.unwrap_or_else(MetadataImage::new);
    replay(&log, &mut image)?;
    Ok(image)
}

/// Applies the log's records after `image.last_offset()` to `image`.
fn replay(log: &PartitionLog, image: &mut MetadataImage) -> Result<(), RaftStoreError> {
    let corrupt = |e: &dyn std::fmt::Display| RaftStoreError::malformed("metadata log", e);
    let mut offset = log.log_start_offset().max(image.last_offset() + 1);
    let end = log.log_end_offset();
    while offset < end {
        let read = log.read(offset, PRE_RAFT_READ_BYTES_MAX, end, true)?;
        if read.bytes.is_empty() {
            break;
        }
        let before = offset;
        for item in BatchIter::new(&read.bytes) {
            let (_, view) = item.map_err(|e| corrupt(&e))?;
            let data = record_data(&view, DECOMPRESSED_BATCH_BYTES_MAX).map_err(|e| corrupt(&e))?;
            for record in RecordIter::new(&data, view.records_count()) {
                let record = record.map_err(|e| corrupt(&e))?;
                let record_offset = view.base_offset() + i64::from(record.offset_delta);
                if record_offset < offset {
                    // Before the snapshot, in the batch that straddles it.
                    continue;
                }
                offset = record_offset + 1;
                let Some(value) = record.value else { continue };
                // A JSON-era value may stand for several records.
                let records = MetadataRecord::from_log_value(value).map_err(|e| corrupt(&e))?;
                for r in &records {
                    // A record that failed validation was never committed.
                    let _ = image.apply(r, record_offset);
                }
            }
        }
        if offset == before {
            break;
        }
    }
    Ok(())
}
