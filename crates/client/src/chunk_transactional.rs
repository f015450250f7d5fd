//! Exactly-once chunk processing: each chunk a poll returned is turned into output
//! records, and the output and the chunk's input offsets commit in one transaction
//! of a transactional producer (consume-transform-produce). A failure aborts the
//! transaction and rewinds the positions to the chunk, so nothing of it is visible
//! to read_committed consumers and nothing of it is skipped.

use std::future::Future;

use crate::chunk::{first_offsets, next_offsets, require_manual_commits};
use crate::consumer::{Consumer, IsolationLevel, SeekTo};
use crate::error::{Error, Result};
use crate::producer::Producer;
use crate::record::{ConsumerRecord, ProducerRecord, TopicPartition};
use moldau_protocol::ResponseError;

/// Answers of the group coordinator that mean this member's generation is over:
/// the partitions move elsewhere, and their new owner starts from the last commit.
fn is_rebalance(e: &Error) -> bool {
    [
        ResponseError::IllegalGeneration,
        ResponseError::UnknownMemberId,
        ResponseError::RebalanceInProgress,
        ResponseError::FencedInstanceId,
    ]
    .into_iter()
    .any(|r| e.is(r))
        || matches!(e, Error::Rebalance(_))
}

impl Consumer {
    /// Calls `f` with every chunk of records and sends what it returns with
    /// `producer`, in a transaction that also commits the chunk's offsets for this
    /// consumer's group; so every input record's output is committed exactly once.
    /// `producer` must be transactional with `init_transactions` done; the consumer
    /// needs a `group.id`, `enable.auto.commit=false` and `read_committed` (so it
    /// never processes another transaction's aborted records).
    ///
    /// Runs until the consumer is closed (returns `Ok`). When `f` or the transaction
    /// fails, the transaction is aborted, positions go back to the chunk's start, and
    /// the error is returned ([`Error::Processing`] for `f`'s); a rebalance only
    /// aborts and goes on, and a fenced producer returns [`Error::Fenced`].
    pub async fn process_chunks_transactionally<F, Fut, E>(
        &self,
        producer: &Producer,
        mut f: F,
    ) -> Result<()>
    where
        F: FnMut(Vec<ConsumerRecord>) -> Fut,
        Fut: Future<Output = std::result::Result<Vec<ProducerRecord>, E>>,
        E: std::fmt::Display,
    {
        require_manual_commits(self)?;
        if self.config().isolation_level != IsolationLevel::ReadCommitted {
            return Err(Error::Config(
                "transactional chunk processing needs isolation.level=read_committed".into(),
            ));
        }
        if self.config().group_id.is_none() {
            return Err(Error::Config(
                "transactional chunk processing commits offsets: set group.id".into(),
            ));
        }
        loop {
            let chunk = match self.poll(crate::chunk::CHUNK_POLL_TIMEOUT).await {
                Ok(c) => c,
                Err(Error::Closed) => return Ok(()),
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                continue;
            }
            let offsets: Vec<(TopicPartition, i64)> = next_offsets(&chunk)
                .into_iter()
                .map(|(tp, om)| (tp, om.offset))
                .collect();
            let starts = first_offsets(&chunk);
            producer.begin_transaction().await?;
            let outcome = match f(chunk).await {
                Ok(output) => self.commit_chunk(producer, output, &offsets).await,
                Err(e) => Err(Error::Processing(e.to_string())),
            };
            let Err(e) = outcome else { continue };
            if matches!(e, Error::Fenced(_)) {
                return Err(e);
            }
            producer.abort_transaction().await?;
            for (tp, offset) in starts {
                self.seek(&tp, SeekTo::Offset(offset)).await?;
            }
            if is_rebalance(&e) {
                tracing::warn!(error = %e, "chunk transaction aborted by a rebalance");
                continue;
            }
            return Err(e);
        }
    }

    /// Sends a chunk's output, adds its offsets, and commits.
    async fn commit_chunk(
        &self,
        producer: &Producer,
        output: Vec<ProducerRecord>,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<()> {
        let mut deliveries = Vec::with_capacity(output.len());
        for record in output {
            deliveries.push(producer.send(record).await?);
        }
        let group = self
            .group_metadata()
            .ok_or_else(|| Error::Config("set group.id".into()))?;
        producer
            .send_offsets_to_transaction(offsets, &group)
            .await?;
        producer.commit_transaction().await?;
        for d in deliveries {
            d.await?;
        }
        Ok(())
    }
}
