//! Our Raft storage against openraft's storage conformance suite, plus restarts.

use openraft::testing::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, StorageError};
use tempfile::TempDir;

use super::*;

struct TempDirStoreBuilder;

impl StoreBuilder<MetadataRaftConfig, MetadataLogStore, MetadataStateMachine, TempDir>
    for TempDirStoreBuilder
{
    async fn build(
        &self,
    ) -> Result<(TempDir, MetadataLogStore, MetadataStateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().unwrap();
        let (log, sm) = open_metadata_raft_storage(&dir.path().join("__cluster_metadata-0"))
            .map_err(|e| e.into_storage(ErrorSubject::Store, ErrorVerb::Read))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn passes_openraft_storage_suite() {
    Suite::test_all(TempDirStoreBuilder).unwrap();
}

fn log_id(term: u64, index: u64) -> openraft::LogId<NodeId> {
    openraft::LogId::new(openraft::CommittedLeaderId::new(term, 0), index)
}

fn normal_entry(term: u64, index: u64, key: &str) -> MetadataEntry {
    let record = crate::MetadataRecord::Config {
        resource: crate::ConfigResource::Broker(None),
        name: key.into(),
        value: Some(index.to_string()),
    };
    MetadataEntry {
        log_id: log_id(term, index),
        payload: openraft::EntryPayload::Normal(MetadataCommand::from_records(&[record]).unwrap()),
    }
}

async fn append_flushed(store: &mut MetadataLogStore, entries: Vec<MetadataEntry>) {
    use openraft::storage::RaftLogStorageExt;
    store.blocking_append(entries).await.unwrap();
}

#[tokio::test]
async fn vote_log_and_purge_point_survive_reopen() {
    use openraft::storage::RaftLogStorage;
    use openraft::{RaftLogReader, Vote};
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("__cluster_metadata-0");
    {
        let mut store = MetadataLogStore::open(&part).unwrap();
        store.save_vote(&Vote::new(4, 2)).await.unwrap();
        let entries = (0..10).map(|i| normal_entry(1 + i / 5, i, "k")).collect();
        append_flushed(&mut store, entries).await;
        store.save_committed(Some(log_id(2, 8))).await.unwrap();
        store.truncate(log_id(2, 9)).await.unwrap();
        store.purge(log_id(1, 3)).await.unwrap();
    }
    let mut store = MetadataLogStore::open(&part).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(4, 2)));
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(2, 8)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(2, 8)));
    let entries = store.try_get_log_entries(0..100).await.unwrap();
    let ids: Vec<_> = entries.iter().map(|e| e.log_id).collect();
    let expected: Vec<_> = (4..9).map(|i| log_id(1 + i / 5, i)).collect();
    assert_eq!(ids, expected);
    assert_eq!(entries[0], normal_entry(1, 4, "k"));
    // The Kafka view of the same log: offsets = indexes, leader epoch = term.
    assert_eq!(store.offsets(), (4, 9));
}

#[tokio::test]
async fn an_entrys_records_apply_together_or_not_at_all() {
    use crate::test_records::{topic, topic_config};
    use crate::TopicId;
    use openraft::storage::RaftStateMachine;
    let dir = tempfile::tempdir().unwrap();
    let mut sm = MetadataStateMachine::open(dir.path()).unwrap();
    let entry = |index: u64, records: &[crate::MetadataRecord]| MetadataEntry {
        log_id: log_id(1, index),
        payload: openraft::EntryPayload::Normal(MetadataCommand::from_records(records).unwrap()),
    };
    let first = [topic("a", TopicId([1; 16]))];
    // A second "a" with its config: the config must not land on the first "a".
    let clash = [
        topic("a", TopicId([2; 16])),
        topic_config("a", "retention.ms", Some("1")),
    ];
    let replies = sm
        .apply([entry(1, &first), entry(2, &clash)])
        .await
        .unwrap();
    assert!(replies[0].rejected.is_none());
    assert!(replies[1].rejected.is_some(), "{:?}", replies[1]);
    assert_eq!(replies[1].offset, 2);
    let image = sm.image();
    let a = image.topic("a").unwrap();
    assert_eq!(a.id, TopicId([1; 16]));
    assert!(a.configs.is_empty());
    assert_eq!(sm.last_applied(), Some(log_id(1, 2)));
}
