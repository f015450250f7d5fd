//! Opening a partition directory: finishing interrupted compaction swaps, dropping
//! leftovers, loading segments, and recovering everything after the recovery point.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::checkpoint_file::sync_dir;
use crate::config::LogConfig;
use crate::epoch_cache::LeaderEpochCache;
use crate::error::LogError;
use crate::partition_log::{wall_clock_ms, PartitionLog};
use crate::producer_state::ProducerStateManager;
use crate::segment::{LogSegment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::topic_partition::{LogKind, TopicPartition};
use crate::txn_index::TXN_INDEX_SUFFIX;

/// Suffix of files waiting for deletion.
pub const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of a compacted segment still being written (discarded on open).
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a compacted segment ready to replace the originals (completed on open).
pub const SWAP_SUFFIX: &str = ".swap";

/// Parses a 20-digit base offset file name stem.
fn parse_base(stem: &str) -> Option<i64> {
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

fn remove_if_exists(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, e)),
    }
}

impl PartitionLog {
    /// Like [`PartitionLog::open`]; with `clean_shutdown` the files are trusted (no
    /// CRC scan) unless an index looks inconsistent, which makes opening fast.
    pub fn open_with_options(
        dir: &Path,
        tp: TopicPartition,
        config: LogConfig,
        recovery_point: i64,
        log_start_offset: Option<i64>,
        clean_shutdown: bool,
    ) -> Result<Self, LogError> {
        config.validate()?;
        let now_ms = wall_clock_ms();
        let mut log_bases = BTreeSet::new();
        let mut index_bases = BTreeSet::new();
        let mut swap_bases = BTreeSet::new();
        let mut swap_paths = Vec::new();
        let mut snapshots = Vec::new();
        // Anything removed or renamed here means the files are no longer exactly
        // what the last clean shutdown left (see `at_rest`).
        let mut tidied = false;
        // The directory is listed once: this listing serves the leftovers, the
        // segments and the producer snapshots (a clean start opens thousands of
        // partitions; each listing is a system call round per partition).
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(LogError::at(dir))?;
                std::fs::read_dir(dir).map_err(LogError::at(dir))?
            }
            Err(e) => return Err(LogError::io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(LogError::at(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.ends_with(DELETED_SUFFIX)
                || name.ends_with(CLEANED_SUFFIX)
                || name.ends_with(".tmp")
            {
                remove_if_exists(&path)?;
                tidied = true;
            } else if let Some(offset) = crate::producer_state_file::offset_of(name) {
                snapshots.push((offset, path));
            } else if name.ends_with(SWAP_SUFFIX) {
                if let Some(base) = name
                    .strip_suffix(&format!("{LOG_SUFFIX}{SWAP_SUFFIX}"))
                    .and_then(parse_base)
                {
                    swap_bases.insert(base);
                }
                swap_paths.push(path);
            } else if let Some(stem) = name.strip_suffix(LOG_SUFFIX) {
                if let Some(base) = parse_base(stem) {
                    log_bases.insert(base);
                }
            } else if let Some(stem) = name
                .strip_suffix(INDEX_SUFFIX)
                .or_else(|| name.strip_suffix(TIME_INDEX_SUFFIX))
                .or_else(|| name.strip_suffix(TXN_INDEX_SUFFIX))
            {
                if let Some(base) = parse_base(stem) {
                    index_bases.insert(base);
                }
            }
        }
        // Finish compaction swaps: the swap segment replaces every segment whose
        // base offset falls inside its offset range.
        for base in &swap_bases {
            let (mut swap, _) =
                LogSegment::open(dir, *base, config.segment_index_bytes, SWAP_SUFFIX, now_ms)?;
            let replaced: Vec<i64> = log_bases
                .range(*base..swap.next_offset().max(base + 1))
                .copied()
                .collect();
            for old in replaced {
                for suffix in [
                    LOG_SUFFIX,
                    INDEX_SUFFIX,
                    TIME_INDEX_SUFFIX,
                    TXN_INDEX_SUFFIX,
                ] {
                    remove_if_exists(&dir.join(crate::segment::segment_file_name(old, suffix)))?;
                }
                log_bases.remove(&old);
            }
            swap.change_suffix("")?;
            log_bases.insert(*base);
            tracing::info!(partition = %tp, base_offset = base, "completed interrupted compaction swap");
        }
        // Index files whose segment is gone, and half-renamed swap indexes (those a
        // completed swap renamed are gone already).
        for base in index_bases.difference(&log_bases) {
            for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
                remove_if_exists(&dir.join(crate::segment::segment_file_name(*base, suffix)))?;
            }
            tidied = true;
        }
        for path in &swap_paths {
            remove_if_exists(path)?;
            tidied = true;
        }

        // Recovery starts at the segment holding the recovery point.
        let recover_from = if clean_shutdown {
            i64::MAX
        } else {
            log_bases
                .range(..=recovery_point)
                .next_back()
                .copied()
                .unwrap_or(i64::MIN)
        };
        let mut segments = BTreeMap::new();
        let mut recovered_epochs: Vec<(i32, i64)> = Vec::new();
        let mut rebuilt = BTreeSet::new();
        let mut truncated_at: Option<i64> = None;
        let mut bytes_truncated = 0u64;
        for base in &log_bases {
            if truncated_at.is_some() {
                // Everything after corrupt data goes, as in Kafka.
                let (seg, _) = LogSegment::open(dir, *base, 0, "", now_ms)?;
                bytes_truncated += seg.size_bytes();
                seg.delete_files()?;
                continue;
            }
            let (mut seg, intact) =
                LogSegment::open(dir, *base, config.segment_index_bytes, "", now_ms)?;
            if *base >= recover_from || !intact {
                let result = seg.recover(config.index_interval_bytes, &mut |view| {
                    recovered_epochs.push((view.partition_leader_epoch(), view.base_offset()));
                })?;
                rebuilt.insert(*base);
                if result.truncated_bytes > 0 {
                    bytes_truncated += result.truncated_bytes;
                    truncated_at = Some(*base);
                }
            }
            segments.insert(*base, seg);
        }
        if bytes_truncated > 0 {
            tracing::warn!(
                partition = %tp,
                bytes_truncated,
                "recovery truncated a torn or corrupt log tail"
            );
        }
        let first_base = log_start_offset.unwrap_or(0).max(0);
        if segments.is_empty() {
            let seg = LogSegment::create(dir, first_base, config.segment_index_bytes, "", now_ms)?;
            segments.insert(first_base, seg);
        }
        // Invariant: an empty directory got its first segment just above.
        #[allow(clippy::expect_used)]
        let last_base = *segments.keys().next_back().expect("non-empty");
        let log_end_offset = segments
            .values()
            .map(|s| s.next_offset())
            .max()
            .unwrap_or(first_base)
            .max(last_base);
        #[allow(clippy::expect_used)] // Invariant: as above, never empty.
        let seg_start = *segments.keys().next().expect("non-empty");
        let log_start = log_start_offset
            .unwrap_or(seg_start)
            .max(seg_start)
            .min(log_end_offset);

        for (base, seg) in segments.iter_mut() {
            if *base == last_base {
                seg.on_become_active(config.segment_index_bytes)?;
            } else if rebuilt.contains(base) {
                seg.on_become_inactive()?;
            }
        }

        let mut epochs = LeaderEpochCache::load(dir)?;
        epochs.forget_from_end(log_end_offset);
        for (epoch, start) in recovered_epochs {
            epochs.assign(epoch, start)?;
        }
        epochs.truncate_from_start(log_start)?;

        // What recovery rewrote (truncations, rebuilt indexes) is made durable now,
        // so the recovery point can be the log end.
        if !rebuilt.is_empty() || truncated_at.is_some() {
            for base in &rebuilt {
                if let Some(seg) = segments.get(base) {
                    seg.sync_all()?;
                }
            }
            sync_dir(dir)?;
        }
        let recovery_point =
            if clean_shutdown || !rebuilt.is_empty() || recovery_point >= log_end_offset {
                log_end_offset
            } else {
                recovery_point.max(log_start)
            };

        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            tp,
            config,
            segments,
            log_start_offset: log_start,
            log_end_offset,
            recovery_point,
            high_watermark: log_end_offset,
            epochs,
            generation: 0,
            dir_changes: 0,
            dir_changes_synced: 0,
            unflushed_messages: 0,
            last_flush_ms: now_ms,
            pending_deletes: Vec::new(),
            unsynced_index_segments: BTreeSet::new(),
            cleaner_checkpoint: log_start,
            earliest_delete_horizon: None,
            deleted: false,
            producers: ProducerStateManager::new(log_start),
            change_tracker: None,
            change_marked: std::sync::atomic::AtomicBool::new(false),
            at_rest: None,
        };
        let snapshot_at_end = if log.tp.kind() == LogKind::Data {
            log.load_producer_state_from(snapshots)?
        } else {
            true
        };
        // Opened as the last clean shutdown left it: the next one need not touch it
        // unless something is written meanwhile.
        if clean_shutdown
            && !tidied
            && swap_bases.is_empty()
            && rebuilt.is_empty()
            && truncated_at.is_none()
            && snapshot_at_end
        {
            log.mark_at_rest();
        }
        Ok(log)
    }
}
