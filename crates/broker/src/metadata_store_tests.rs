use crate::metadata_store::MetadataStore;
use moldau_log::{LogConfig, LogManager};
use moldau_metadata::snapshot::list_snapshots;
use moldau_metadata::{ConfigResource, MetadataRecord, PartitionRecord, TopicId};
use std::path::Path;
use std::time::Instant;

fn open_logs(dir: &Path) -> LogManager {
    LogManager::open(
        dir,
        1,
        "test-cluster-id-xxxxx1",
        LogConfig::default(),
        60_000,
    )
    .unwrap()
}

/// A topic with its config and `partitions` partitions: 2 + partitions records.
fn topic_records(i: u64, partitions: i32) -> Vec<MetadataRecord> {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    let id = TopicId(id);
    let name = format!("topic-{i}");
    let mut records = vec![
        MetadataRecord::Topic {
            name: name.clone(),
            id,
        },
        MetadataRecord::Config {
            resource: ConfigResource::Topic(name),
            name: "retention.ms".into(),
            value: Some(i.to_string()),
        },
    ];
    records.extend((0..partitions).map(|p| {
        MetadataRecord::Partition(PartitionRecord {
            topic_id: id,
            partition: p,
            replicas: vec![1],
            isr: vec![1],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        })
    }));
    records
}

fn metadata_dir(data: &Path) -> std::path::PathBuf {
    data.join("__cluster_metadata-0")
}

#[test]
fn snapshots_are_taken_and_restart_replays_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let logs = open_logs(dir.path());
        let store = MetadataStore::open(&logs, 2_000).unwrap();
        for i in 0..200 {
            store.commit(&topic_records(i, 2)).unwrap();
        }
        logs.shutdown().unwrap();
        store.image()
    };
    let snapshots = list_snapshots(&metadata_dir(dir.path())).unwrap();
    assert_eq!(snapshots.len(), 2, "the newest and one to fall back on");
    let logs = open_logs(dir.path());
    let store = MetadataStore::open(&logs, 2_000).unwrap();
    assert_eq!(*store.image(), *before);
    assert_eq!(store.image().topics().count(), 200);
    let start = {
        let tp = moldau_log::TopicPartition::new(moldau_log::METADATA_LOG_TOPIC, 0);
        logs.get(&tp).unwrap().read().log_start_offset()
    };
    assert_eq!(
        start, snapshots[0].end_offset,
        "the log before the older snapshot is gone"
    );
    // Commits go on at the right offsets after a restart.
    let (image, delta) = store.commit_with_delta(&topic_records(1000, 1)).unwrap();
    assert_eq!(image.last_offset(), before.last_offset() + 3);
    assert_eq!(delta.created_partitions.len(), 1);
}

#[test]
fn an_unreadable_newest_snapshot_falls_back_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let logs = open_logs(dir.path());
        let store = MetadataStore::open(&logs, 2_000).unwrap();
        for i in 0..120 {
            store.commit(&topic_records(i, 1)).unwrap();
        }
        logs.shutdown().unwrap();
        store.image()
    };
    let snapshots = list_snapshots(&metadata_dir(dir.path())).unwrap();
    let newest = metadata_dir(dir.path()).join(snapshots[1].file_name());
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();
    let logs = open_logs(dir.path());
    let store = MetadataStore::open(&logs, 2_000).unwrap();
    assert_eq!(*store.image(), *before);
}

/// Not run by default: builds a 100 000-record metadata log and prints how long a
/// start takes with a snapshot and with a full replay.
/// `cargo test -p moldau-broker --release -- --ignored --nocapture replay_of_100k`
#[test]
#[ignore]
fn replay_of_100k_records() {
    const TOPICS: u64 = 20_000;
    const PARTITIONS: i32 = 3;
    const TOPICS_PER_COMMIT: u64 = 200;
    for (label, interval_bytes) in [("from snapshot", 1 << 20), ("full log", u64::MAX)] {
        let dir = tempfile::tempdir().unwrap();
        let records = {
            let logs = open_logs(dir.path());
            let store = MetadataStore::open(&logs, interval_bytes).unwrap();
            for chunk in 0..TOPICS / TOPICS_PER_COMMIT {
                let batch: Vec<MetadataRecord> = (0..TOPICS_PER_COMMIT)
                    .flat_map(|i| topic_records(chunk * TOPICS_PER_COMMIT + i, PARTITIONS))
                    .collect();
                store.commit(&batch).unwrap();
            }
            logs.shutdown().unwrap();
            store.image().last_offset() + 1
        };
        let started = Instant::now();
        let logs = open_logs(dir.path());
        let store = MetadataStore::open(&logs, interval_bytes).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(store.image().topics().count() as u64, TOPICS);
        println!("{records} metadata records, start {label}: {elapsed:?}");
    }
}
