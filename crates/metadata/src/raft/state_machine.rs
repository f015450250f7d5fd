//! openraft's state machine: committed entries applied to the [`MetadataImage`],
//! which is published through a watch channel. Snapshots are the image (see
//! `image_snapshot`), kept in one file so a restart needs no purged entries.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use tokio::sync::watch;

use crate::raft::entry_codec::MetadataEntry;
use crate::raft::error::{storage, RaftStoreError};
use crate::raft::image_snapshot::{image_from_snapshot_bytes, image_to_snapshot_bytes};
use crate::raft::snapshot_file::{read_snapshot, write_snapshot, StoredSnapshot};
use crate::raft::type_config::{MetadataApplied, MetadataRaftConfig, NodeId};
use crate::MetadataImage;

type C = MetadataRaftConfig;

/// The image and what was applied to it. Cloning shares it (the snapshot builder
/// is a clone).
#[derive(Clone)]
pub struct MetadataStateMachine {
    dir: PathBuf,
    inner: Arc<Mutex<SmInner>>,
    published: Arc<watch::Sender<Arc<MetadataImage>>>,
}

struct SmInner {
    image: MetadataImage,
    last_applied: Option<LogId<NodeId>>,
    last_membership: StoredMembership<NodeId, BasicNode>,
    snapshot: Option<StoredSnapshot>,
    /// Snapshots built by this process, to make snapshot ids unique.
    snapshots_built: u64,
    /// Record bytes applied since the last snapshot was built or installed
    /// (`metadata.log.max.record.bytes.between.snapshots` is measured against it).
    bytes_since_snapshot: u64,
}

impl MetadataStateMachine {
    /// Starts from the snapshot in `dir` (`…/__cluster_metadata-0`) if there is one;
    /// openraft then re-applies the committed entries after it.
    pub fn open(dir: &Path) -> Result<Self, RaftStoreError> {
        std::fs::create_dir_all(dir).map_err(RaftStoreError::io(dir))?;
        let mut inner = SmInner {
            image: MetadataImage::new(),
            last_applied: None,
            last_membership: StoredMembership::default(),
            snapshot: None,
            snapshots_built: 0,
            bytes_since_snapshot: 0,
        };
        if let Some(snapshot) = read_snapshot(dir)? {
            inner.install(snapshot)?;
        }
        let (published, _) = watch::channel(Arc::new(inner.image.clone()));
        Ok(MetadataStateMachine {
            dir: dir.to_path_buf(),
            inner: Arc::new(Mutex::new(inner)),
            published: Arc::new(published),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SmInner> {
        // A panic while holding the lock left the image as the last whole apply did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The image as of the last applied entry, updated after every apply.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.published.subscribe()
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.published.borrow().clone()
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.lock().last_applied
    }

    /// Record bytes applied since the last snapshot.
    pub fn bytes_since_snapshot(&self) -> u64 {
        self.lock().bytes_since_snapshot
    }

    fn publish(&self, image: MetadataImage) {
        self.published.send_replace(Arc::new(image));
    }
}

impl SmInner {
    fn install(&mut self, snapshot: StoredSnapshot) -> Result<(), RaftStoreError> {
        let offset = snapshot.meta.last_log_id.map_or(-1, |l| l.index as i64);
        self.image = image_from_snapshot_bytes(&snapshot.body, offset)
            .map_err(|e| RaftStoreError::malformed("snapshot", e))?;
        self.last_applied = snapshot.meta.last_log_id;
        self.last_membership = snapshot.meta.last_membership.clone();
        self.snapshot = Some(snapshot);
        self.bytes_since_snapshot = 0;
        Ok(())
    }

    fn apply(&mut self, entry: &MetadataEntry) -> MetadataApplied {
        let index = entry.log_id.index;
        let mut applied = MetadataApplied {
            offset: index,
            rejected: None,
        };
        match &entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Membership(m) => {
                self.last_membership = StoredMembership::new(Some(entry.log_id), m.clone());
            }
            // An entry's records apply together or not at all (a topic's configs
            // must not land on another topic of the same name). Refusals are
            // deterministic, every node refuses the same entry; the writer hears why.
            EntryPayload::Normal(command) => {
                self.bytes_since_snapshot += command.encoded().len() as u64;
                let applying = command
                    .records()
                    .and_then(|records| self.image.apply_entry(&records, index as i64));
                applied.rejected = applying.err();
            }
        }
        self.last_applied = Some(entry.log_id);
        applied
    }
}

impl RaftSnapshotBuilder<C> for MetadataStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<C>, StorageError<NodeId>> {
        let (meta, body) = {
            let mut inner = self.lock();
            inner.snapshots_built += 1;
            inner.bytes_since_snapshot = 0;
            let snapshot_id = match inner.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, inner.snapshots_built),
                None => format!("none-{}", inner.snapshots_built),
            };
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.last_membership.clone(),
                snapshot_id,
            };
            (meta, image_to_snapshot_bytes(&inner.image))
        };
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let body = storage(
            body.map_err(|e| RaftStoreError::malformed("snapshot", e)),
            subject.clone(),
            ErrorVerb::Write,
        )?;
        let snapshot = StoredSnapshot { meta, body };
        storage(
            write_snapshot(&self.dir, &snapshot),
            subject,
            ErrorVerb::Write,
        )?;
        let result = Snapshot {
            meta: snapshot.meta.clone(),
            snapshot: Box::new(Cursor::new(snapshot.body.clone())),
        };
        self.lock().snapshot = Some(snapshot);
        Ok(result)
    }
}

impl RaftStateMachine<C> for MetadataStateMachine {
    type SnapshotBuilder = MetadataStateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let inner = self.lock();
        Ok((inner.last_applied, inner.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<MetadataApplied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = MetadataEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (responses, image) = {
            let mut inner = self.lock();
            let responses: Vec<MetadataApplied> =
                entries.into_iter().map(|e| inner.apply(&e)).collect();
            (responses, inner.image.clone())
        };
        self.publish(image);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let snapshot = StoredSnapshot {
            meta: meta.clone(),
            body: snapshot.into_inner(),
        };
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        // Durable first: the log is purged up to it right after.
        storage(
            write_snapshot(&self.dir, &snapshot),
            subject.clone(),
            ErrorVerb::Write,
        )?;
        let image = {
            let mut inner = self.lock();
            storage(inner.install(snapshot), subject, ErrorVerb::Write)?;
            inner.image.clone()
        };
        self.publish(image);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<C>>, StorageError<NodeId>> {
        Ok(self.lock().snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.body.clone())),
        }))
    }
}
