//! Transactions of a producer with a `transactional.id`, as Kafka's transaction
//! protocol (version 1) has them: InitProducerId at the transaction coordinator
//! (fencing older producers of the id), AddPartitionsToTxn before the first record
//! of each partition, AddOffsetsToTxn + TxnOffsetCommit for a consumer's offsets,
//! and EndTxn once every record is acknowledged. Records keep their idempotent
//! sequences; the batches carry the transactional bit.
//!
//! Against a broker that finalized transaction version 2 (KIP-890 part 2) the
//! producer sends no AddPartitionsToTxn or AddOffsetsToTxn (partition leaders and
//! the group coordinator add the partitions: Produce 12, TxnOffsetCommit 5), and
//! each EndTxn (5) answers with the bumped epoch the next transaction uses.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use moldau_protocol::kafka::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use moldau_protocol::kafka::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use moldau_protocol::kafka::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, GroupId,
    InitProducerIdRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use moldau_protocol::kafka::protocol::StrBytes;
use moldau_protocol::ResponseError;
use rand::Rng;

use super::accumulator::Target;
use super::sequence::ProducerIdentity;
use super::Producer;
use crate::cluster::{topic_name, Cluster};
use crate::consumer::ConsumerGroupMetadata;
use crate::coordinator::{Coordinator, COORDINATOR_ATTEMPTS_MAX};
use crate::error::{check_code, Error, Result};
use crate::record::TopicPartition;

/// Pause before asking again while the coordinator finishes the previous
/// transaction (CONCURRENT_TRANSACTIONS), as Java's client does.
const CONCURRENT_TRANSACTIONS_BACKOFF: Duration = Duration::from_millis(20);

/// Where the producer is in its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// `init_transactions` not called yet.
    #[default]
    Uninitialized,
    /// No transaction open.
    Ready,
    /// Between `begin_transaction` and its commit or abort.
    InTransaction,
    /// A newer producer took the transactional id; only closing is left.
    Fenced,
}

/// What the open transaction holds.
#[derive(Debug, Default)]
struct Progress {
    phase: Phase,
    /// Partitions added with AddPartitionsToTxn.
    partitions: BTreeSet<(String, i32)>,
    /// True once AddOffsetsToTxn added a group's offsets.
    has_offsets: bool,
    /// The partition keyless records of a topic go to in this transaction.
    sticky: HashMap<String, i32>,
}

impl Progress {
    fn expect(&self, want: Phase, call: &str) -> Result<()> {
        match self.phase {
            p if p == want => Ok(()),
            Phase::Fenced => Err(Error::Fenced(format!(
                "{call}: another producer took the transactional id"
            ))),
            Phase::Uninitialized => Err(Error::TransactionState(format!(
                "{call} before init_transactions"
            ))),
            Phase::Ready => Err(Error::TransactionState(format!(
                "{call} outside a transaction (call begin_transaction first)"
            ))),
            Phase::InTransaction => Err(Error::TransactionState(format!(
                "{call} while a transaction is open"
            ))),
        }
    }
}

/// A transactional producer's coordinator and transaction state.
pub(super) struct TransactionManager {
    transactional_id: String,
    timeout_ms: i32,
    coordinator: Coordinator,
    progress: tokio::sync::Mutex<Progress>,
    /// The first failure of a record of the open transaction: it can only abort.
    failure: std::sync::Mutex<Option<Error>>,
    /// Transaction version 2, decided at `init_transactions` from the coordinator's
    /// finalized features.
    version_2: std::sync::atomic::AtomicBool,
}

impl TransactionManager {
    pub(super) fn new(cluster: Cluster, transactional_id: &str, timeout: Duration) -> Self {
        TransactionManager {
            transactional_id: transactional_id.to_string(),
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            coordinator: Coordinator::for_transaction(cluster, transactional_id),
            progress: tokio::sync::Mutex::new(Progress::default()),
            failure: std::sync::Mutex::new(None),
            version_2: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn is_version_2(&self) -> bool {
        self.version_2.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Remembers a record's failure (the first one) for commit to report.
    pub(super) fn record_failure(&self, e: &Error) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert_with(|| e.clone());
        }
    }

    fn take_failure(&self) -> Option<Error> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    fn id(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.transactional_id.clone()))
    }

    /// Runs `op` against the coordinator until it succeeds or fails for good:
    /// moved or loading coordinators and CONCURRENT_TRANSACTIONS are retried.
    async fn call<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let result = self.coordinator.retry(&mut op).await;
            match result {
                Err(e)
                    if attempt < COORDINATOR_ATTEMPTS_MAX
                        && e.is(ResponseError::ConcurrentTransactions) =>
                {
                    attempt += 1;
                    tokio::time::sleep(CONCURRENT_TRANSACTIONS_BACKOFF).await;
                }
                other => return other.map_err(Error::transactional),
            }
        }
    }
}

impl Producer {
    fn transactions(&self) -> Result<&TransactionManager> {
        self.shared()
            .txn
            .as_ref()
            .ok_or_else(|| Error::TransactionState("the producer has no transactional.id".into()))
    }

    fn identity(&self) -> Result<ProducerIdentity> {
        self.shared()
            .accumulator
            .lock()
            .map_err(|_| Error::Closed)?
            .identity()
            .ok_or_else(|| Error::TransactionState("no producer id yet".into()))
    }

    /// Gets this transactional id's producer id and epoch from its coordinator,
    /// which fences every older producer of the id and finishes (aborts) a
    /// transaction one of them left open. Call once, before the first transaction.
    pub async fn init_transactions(&self) -> Result<()> {
        let txn = self.transactions()?;
        let mut progress = txn.progress.lock().await;
        progress.expect(Phase::Uninitialized, "init_transactions")?;
        self.init_producer_id(txn, None).await?;
        let node = txn.coordinator.node().await?;
        let connection = self
            .cluster()
            .connection(node, crate::cluster::Lane::Coordinator)
            .await?;
        let version_2 = connection.versions().transaction_version_2();
        txn.version_2
            .store(version_2, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(
            transactional_id = %txn.transactional_id,
            version_2,
            "transaction version"
        );
        progress.phase = Phase::Ready;
        Ok(())
    }

    /// InitProducerId for the transactional id; `current` asks for an epoch bump of
    /// this producer (after an aborted transaction lost sequence numbers).
    async fn init_producer_id(
        &self,
        txn: &TransactionManager,
        current: Option<ProducerIdentity>,
    ) -> Result<()> {
        let resp = txn
            .call(|| async {
                let resp = txn
                    .coordinator
                    .send_with(ApiKey::InitProducerId, None, |version| {
                        let (id, epoch) = match current {
                            Some(c) if version >= 3 => (c.id, c.epoch),
                            _ => (-1, -1),
                        };
                        InitProducerIdRequest::default()
                            .with_transactional_id(Some(txn.id()))
                            .with_transaction_timeout_ms(txn.timeout_ms)
                            .with_producer_id(ProducerId(id))
                            .with_producer_epoch(epoch)
                    })
                    .await?;
                check_code(resp.error_code, None)?;
                Ok(resp)
            })
            .await?;
        let identity = ProducerIdentity {
            id: resp.producer_id.0,
            epoch: resp.producer_epoch,
        };
        tracing::debug!(
            transactional_id = %txn.transactional_id,
            id = identity.id,
            epoch = identity.epoch,
            "transactional producer id"
        );
        self.shared()
            .accumulator
            .lock()
            .map_err(|_| Error::Closed)?
            .set_producer(identity);
        self.shared().wake.notify_one();
        Ok(())
    }

    /// Opens a transaction: records sent from now on commit or abort together.
    pub async fn begin_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        let mut progress = txn.progress.lock().await;
        progress.expect(Phase::Ready, "begin_transaction")?;
        progress.phase = Phase::InTransaction;
        progress.partitions.clear();
        progress.sticky.clear();
        progress.has_offsets = false;
        txn.take_failure();
        Ok(())
    }

    /// The partition a record of the open transaction goes to, added to the
    /// transaction first if it is new (keyless records stay on one partition of
    /// the topic for the whole transaction, chosen at random).
    pub(super) async fn add_to_transaction(
        &self,
        topic: &str,
        target: Target,
        available: Vec<i32>,
    ) -> Result<Target> {
        let txn = self.transactions()?;
        let mut progress = txn.progress.lock().await;
        progress.expect(Phase::InTransaction, "send")?;
        let partition = match target {
            Target::Partition(p) => p,
            Target::Sticky { partition_count } => match progress.sticky.get(topic) {
                Some(&p) => p,
                None => {
                    let mut rng = rand::thread_rng();
                    let p = if available.is_empty() {
                        rng.gen_range(0..partition_count.max(1)) as i32
                    } else {
                        available[rng.gen_range(0..available.len())]
                    };
                    progress.sticky.insert(topic.to_string(), p);
                    p
                }
            },
        };
        let key = (topic.to_string(), partition);
        if progress.partitions.contains(&key) {
            return Ok(Target::Partition(partition));
        }
        // Transaction version 2: the partition's leader adds it on the first batch.
        if txn.is_version_2() {
            progress.partitions.insert(key);
            return Ok(Target::Partition(partition));
        }
        let identity = self.identity()?;
        let result = txn
            .call(|| async {
                let resp = txn
                    .coordinator
                    .send_with(ApiKey::AddPartitionsToTxn, None, |_| {
                        AddPartitionsToTxnRequest::default()
                            .with_v3_and_below_transactional_id(txn.id())
                            .with_v3_and_below_producer_id(ProducerId(identity.id))
                            .with_v3_and_below_producer_epoch(identity.epoch)
                            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                                .with_name(topic_name(topic))
                                .with_partitions(vec![partition])])
                    })
                    .await?;
                check_code(resp.error_code, None)?;
                for t in &resp.results_by_topic_v3_and_below {
                    for p in &t.results_by_partition {
                        check_code(p.partition_error_code, None)?;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            if matches!(e, Error::Fenced(_)) {
                progress.phase = Phase::Fenced;
            }
            return Err(e);
        }
        progress.partitions.insert(key);
        Ok(Target::Partition(partition))
    }

    /// Commits a consumer's `offsets` (the next offsets to read) as part of the open
    /// transaction: they become the group's committed offsets only if it commits.
    /// `group` comes from the consumer ([`crate::Consumer::group_metadata`]), so a
    /// consumer that lost its partitions in a rebalance cannot commit them.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, i64)],
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let txn = self.transactions()?;
        let mut progress = txn.progress.lock().await;
        progress.expect(Phase::InTransaction, "send_offsets_to_transaction")?;
        let identity = self.identity()?;
        let group_id = GroupId(StrBytes::from_string(group.group_id.clone()));
        // Transaction version 2: the group coordinator adds its partition itself.
        let version_2 = txn.is_version_2();
        let added = txn
            .call(|| async {
                if version_2 {
                    return Ok(());
                }
                let resp = txn
                    .coordinator
                    .send_with(ApiKey::AddOffsetsToTxn, None, |_| {
                        AddOffsetsToTxnRequest::default()
                            .with_transactional_id(txn.id())
                            .with_producer_id(ProducerId(identity.id))
                            .with_producer_epoch(identity.epoch)
                            .with_group_id(group_id.clone())
                    })
                    .await?;
                check_code(resp.error_code, None)
            })
            .await;
        if let Err(e) = added {
            if matches!(e, Error::Fenced(_)) {
                progress.phase = Phase::Fenced;
            }
            return Err(e);
        }
        progress.has_offsets = true;
        let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
        for (tp, offset) in offsets {
            let p = TxnOffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1);
            match topics.iter_mut().find(|t| *t.name.0 == *tp.topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(topic_name(&tp.topic))
                        .with_partitions(vec![p]),
                ),
            }
        }
        // TxnOffsetCommit goes to the group's coordinator, not the transaction's.
        let group_coordinator = Coordinator::new(self.cluster().clone(), &group.group_id);
        let committed = group_coordinator
            .retry(|| async {
                let resp = group_coordinator
                    .send_with(ApiKey::TxnOffsetCommit, None, |_| {
                        TxnOffsetCommitRequest::default()
                            .with_transactional_id(txn.id())
                            .with_group_id(group_id.clone())
                            .with_producer_id(ProducerId(identity.id))
                            .with_producer_epoch(identity.epoch)
                            .with_generation_id(group.generation_id)
                            .with_member_id(StrBytes::from_string(group.member_id.clone()))
                            .with_group_instance_id(
                                group
                                    .group_instance_id
                                    .as_ref()
                                    .map(|i| StrBytes::from_string(i.clone())),
                            )
                            .with_topics(topics.clone())
                    })
                    .await?;
                for t in &resp.topics {
                    for p in &t.partitions {
                        check_code(p.error_code, None)?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(Error::transactional);
        if let Err(Error::Fenced(_)) = &committed {
            progress.phase = Phase::Fenced;
        }
        committed
    }

    /// Sends every record of the open transaction, then commits it. When a record
    /// failed, nothing is committed and the error is returned: the transaction can
    /// only be aborted.
    pub async fn commit_transaction(&self) -> Result<()> {
        self.end_transaction(true).await
    }

    /// Aborts the open transaction: its records and offsets are never visible to
    /// read_committed consumers.
    pub async fn abort_transaction(&self) -> Result<()> {
        self.end_transaction(false).await
    }

    async fn end_transaction(&self, commit: bool) -> Result<()> {
        let txn = self.transactions()?;
        let call = if commit {
            "commit_transaction"
        } else {
            "abort_transaction"
        };
        let mut progress = txn.progress.lock().await;
        progress.expect(Phase::InTransaction, call)?;
        // Every record of the transaction must be acknowledged (or failed) first.
        self.flush().await?;
        let failure = txn.take_failure();
        if let Some(e) = &failure {
            if matches!(e, Error::Fenced(_)) {
                progress.phase = Phase::Fenced;
                return Err(e.clone());
            }
            if commit {
                // Kept for the abort that must follow.
                txn.record_failure(e);
                return Err(e.clone());
            }
        }
        let identity = self.identity()?;
        // A transaction that added nothing has nothing for the coordinator to end.
        let mut bumped = None;
        if !progress.partitions.is_empty() || progress.has_offsets {
            let ended = txn
                .call(|| async {
                    let version = std::sync::atomic::AtomicI16::new(0);
                    let resp = txn
                        .coordinator
                        .send_with(ApiKey::EndTxn, None, |v| {
                            version.store(v, std::sync::atomic::Ordering::Relaxed);
                            EndTxnRequest::default()
                                .with_transactional_id(txn.id())
                                .with_producer_id(ProducerId(identity.id))
                                .with_producer_epoch(identity.epoch)
                                .with_committed(commit)
                        })
                        .await?;
                    check_code(resp.error_code, None)?;
                    // v5 (transaction version 2): the epoch (or producer id) the
                    // next transaction uses.
                    let version = version.load(std::sync::atomic::Ordering::Relaxed);
                    Ok((version >= 5).then_some(ProducerIdentity {
                        id: resp.producer_id.0,
                        epoch: resp.producer_epoch,
                    }))
                })
                .await;
            match ended {
                Ok(next) => bumped = next,
                Err(e) => {
                    if matches!(e, Error::Fenced(_)) {
                        progress.phase = Phase::Fenced;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(next) = bumped.filter(|n| n.id >= 0 && n.epoch >= 0) {
            // A new epoch restarts every partition's sequence at 0.
            self.shared()
                .accumulator
                .lock()
                .map_err(|_| Error::Closed)?
                .set_producer(next);
            self.shared().wake.notify_one();
            progress.phase = Phase::Ready;
            return Ok(());
        }
        // Records that failed may have left a sequence gap: a new epoch starts the
        // sequences again (KIP-360), as Java's client does after such an abort.
        let needs_reset = self
            .shared()
            .accumulator
            .lock()
            .map(|a| a.needs_reset())
            .unwrap_or(false);
        if failure.is_some() || needs_reset {
            self.init_producer_id(txn, Some(identity)).await?;
        }
        progress.phase = Phase::Ready;
        Ok(())
    }
}
