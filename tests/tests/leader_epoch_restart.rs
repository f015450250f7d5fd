//! A clean restart of a single node: the broker leads its partitions again under a
//! newer leader epoch (as Kafka's controller does: the controlled shutdown takes
//! leadership away, unfencing gives it back), yet no partition's
//! leader-epoch-checkpoint is rewritten for it. An epoch under which nothing was
//! written yet is kept in memory and written with its first record, so taking
//! leadership of thousands of idle partitions costs no file writes before serving.

mod topic_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use moldau_e2e::BrokerProcess;
use topic_support::{create_topic, fetch, metadata, produce, RawClient, NONE};

const TOPIC: &str = "epochs";
const PARTITIONS: i32 = 8;
const LEADERS_TIMEOUT: Duration = Duration::from_secs(60);
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// Each partition's leader epoch once every partition has a leader.
fn leader_epochs(client: &mut RawClient) -> Vec<i32> {
    let deadline = Instant::now() + LEADERS_TIMEOUT;
    loop {
        let response = metadata(client, &[TOPIC], false);
        let topic = &response.topics[0];
        let mut partitions: Vec<_> = topic.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        let led = topic.error_code == NONE
            && partitions.len() == PARTITIONS as usize
            && partitions
                .iter()
                .all(|p| p.error_code == NONE && p.leader_id.0 >= 0);
        if led {
            return partitions.iter().map(|p| p.leader_epoch).collect();
        }
        assert!(
            Instant::now() < deadline,
            "partitions not led within {LEADERS_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each partition's leader-epoch-checkpoint: content, inode and modification time
/// (a rewrite renames a new file into place), or None when there is none.
fn checkpoint_files(data_dir: &Path) -> Vec<Option<(String, u64, i64, i64)>> {
    (0..PARTITIONS)
        .map(|p| {
            let path = data_dir
                .join(format!("{TOPIC}-{p}"))
                .join("leader-epoch-checkpoint");
            let meta = std::fs::metadata(&path).ok()?;
            let text = std::fs::read_to_string(&path).ok()?;
            Some((text, meta.ino(), meta.mtime(), meta.mtime_nsec()))
        })
        .collect()
}

#[test]
fn a_clean_restart_rewrites_no_leader_epoch_checkpoint() {
    let mut broker = BrokerProcess::start(&[]);
    let mut client = RawClient::connect(&broker.addr);
    assert_eq!(create_topic(&mut client, TOPIC, PARTITIONS, &[]), NONE);
    let before = leader_epochs(&mut client);
    let (error, offset) = produce(&mut client, TOPIC, 0, -1, TIMESTAMP_MS, b"before");
    assert_eq!((error, offset), (NONE, 0));
    let files = checkpoint_files(&broker.data_dir);
    assert_eq!(
        files[0].as_ref().map(|f| f.0.clone()),
        Some(format!("0\n1\n{} 0\n", before[0])),
        "the written partition's epoch is on disk"
    );
    assert!(
        files[1..].iter().all(Option::is_none),
        "leadership alone wrote a file: {files:?}"
    );

    broker.stop();
    broker.restart();
    let mut client = RawClient::connect(&broker.addr);
    let after = leader_epochs(&mut client);
    for (p, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a > b, "partition {p}: new leadership, epoch {b} -> {a}");
    }
    assert_eq!(
        checkpoint_files(&broker.data_dir),
        files,
        "the restart rewrote leader-epoch-checkpoint files"
    );

    // The record is intact, and the first record under the new epoch writes it.
    let (error, records) = fetch(&mut client, TOPIC, 0, 0);
    assert_eq!(error, NONE);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].1.as_deref(), Some(&b"before"[..]));
    let (error, offset) = produce(&mut client, TOPIC, 0, -1, TIMESTAMP_MS, b"after");
    assert_eq!((error, offset), (NONE, 1));
    let written = checkpoint_files(&broker.data_dir)[0]
        .as_ref()
        .map(|f| f.0.clone());
    assert_eq!(
        written,
        Some(format!("0\n2\n{} 0\n{} 1\n", before[0], after[0]))
    );
    broker.stop();
}
