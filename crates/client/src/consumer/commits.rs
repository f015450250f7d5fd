//! Commits: explicit, asynchronous and automatic, plus committed and log-end offsets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use moldau_protocol::kafka::error::ResponseError;
use tokio::task::JoinHandle;

use super::config::GroupProtocol;
use super::Consumer;
use crate::coordinator::Coordinator;
use crate::error::{Error, Result};
use crate::offsets::{
    self, CommitIdentity, OffsetAndMetadata, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};
use crate::record::TopicPartition;

/// Commits sent again after STALE_MEMBER_EPOCH when the member's epoch moved on.
const STALE_COMMIT_ATTEMPTS_MAX: u32 = 3;

impl Consumer {
    fn commit_identity(&self) -> CommitIdentity {
        let subscribed = self.subscription().is_some();
        match self.inner().group.lock() {
            Ok(g) if subscribed => CommitIdentity {
                generation: g.generation,
                member_id: g.member_id.clone(),
                group_instance_id: self.config().group_instance_id.clone(),
            },
            _ => CommitIdentity {
                generation: -1,
                member_id: String::new(),
                group_instance_id: None,
            },
        }
    }

    pub(super) fn coordinator(&self) -> Result<&Arc<Coordinator>> {
        self.inner()
            .coordinator
            .as_ref()
            .ok_or_else(|| Error::Config("commits need group.id".into()))
    }

    /// The current positions as offsets to commit.
    fn position_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.inner()
            .state
            .lock()
            .map(|s| {
                s.positions()
                    .into_iter()
                    .map(|(tp, (offset, epoch))| {
                        (
                            tp,
                            OffsetAndMetadata {
                                offset,
                                leader_epoch: epoch,
                                metadata: String::new(),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Commits the positions of all assigned partitions (everything `poll` returned).
    pub async fn commit(&self) -> Result<()> {
        let offsets = self.position_offsets();
        self.commit_offsets(&offsets).await
    }

    /// Commits explicit offsets (the next offset to consume, per partition).
    pub async fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        let coord = self.coordinator()?;
        let mut attempt = 0;
        loop {
            let who = self.commit_identity();
            let result = offsets::commit(coord, &who, offsets).await;
            let Err(e) = result else { return Ok(()) };
            if !e.is(ResponseError::StaleMemberEpoch) {
                return Err(e);
            }
            // KIP-848: the epoch moved while the commit was on its way. Kafka's
            // consumer commits again in the member's new epoch; a member that is no
            // longer in the group (no newer epoch) fails the commit.
            let moved = self.config().group_protocol == GroupProtocol::Consumer
                && self.commit_identity().generation > who.generation;
            if !moved || attempt >= STALE_COMMIT_ATTEMPTS_MAX {
                return Err(Error::Rebalance(e.to_string()));
            }
            attempt += 1;
        }
    }

    /// Commits the current positions in the background; await the handle to learn
    /// the outcome, or drop it.
    pub fn commit_async(&self) -> JoinHandle<Result<()>> {
        let offsets = self.position_offsets();
        let me = self.clone();
        tokio::spawn(async move { me.commit_offsets(&offsets).await })
    }

    /// Committed offsets of the group for `partitions`.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        offsets::fetch_committed(self.coordinator()?, Some(partitions), false).await
    }

    /// The log end offsets of `partitions`.
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        let req: Vec<_> = partitions
            .iter()
            .map(|tp| (tp.clone(), LATEST_TIMESTAMP))
            .collect();
        let listed =
            offsets::list_offsets(self.cluster(), &req, self.config().isolation_level.wire())
                .await?;
        Ok(listed.into_iter().map(|(tp, l)| (tp, l.offset)).collect())
    }

    /// The log start offsets of `partitions`.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        let req: Vec<_> = partitions
            .iter()
            .map(|tp| (tp.clone(), EARLIEST_TIMESTAMP))
            .collect();
        let listed = offsets::list_offsets(self.cluster(), &req, 0).await?;
        Ok(listed.into_iter().map(|(tp, l)| (tp, l.offset)).collect())
    }

    pub(super) fn maybe_auto_commit(&self) {
        let inner = self.inner();
        if !inner.config.enable_auto_commit || inner.coordinator.is_none() {
            return;
        }
        let due = match inner.next_auto_commit.lock() {
            Ok(mut next) if Instant::now() >= *next => {
                *next = Instant::now() + inner.config.auto_commit_interval;
                true
            }
            _ => false,
        };
        if due {
            let handle = self.commit_async();
            tokio::spawn(async move {
                if let Ok(Err(e)) = handle.await {
                    tracing::debug!(error = %e, "auto commit failed");
                }
            });
        }
    }

    /// Commits synchronously when auto commit is on (before revocation and close).
    pub(super) async fn auto_commit_now(&self, partitions: &[TopicPartition]) {
        if !self.config().enable_auto_commit || self.inner().coordinator.is_none() {
            return;
        }
        let mut offsets = self.position_offsets();
        offsets.retain(|tp, _| partitions.contains(tp));
        if let Err(e) = self.commit_offsets(&offsets).await {
            tracing::warn!(error = %e, "commit before revocation failed");
        }
    }
}
