//! The active controller's broker lifecycle at work: runs moldau-metadata's pure
//! `BrokerLifecycle` while this node leads the quorum, answering registrations and
//! heartbeats and ticking it so silent brokers are fenced, and commits the records it
//! decides through the quorum. One event at a time (a lock held across the commit),
//! so each decision sees the records of the one before. Sessions are soft state: a
//! newly elected controller starts every broker's session timer afresh, as KRaft's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moldau_metadata::controller::{
    alter_configs, delete_topics, ConfigAlteration, ConfigAlterationOutcome, ConfigRules,
    TopicDeletion, TopicDeletionOutcome,
};
use moldau_metadata::controller::{
    alter_partition, create_topics, grow_partitions, ongoing_reassignments, AlterPartitionReply,
    AlterPartitionRequest, BrokerLifecycle, ControllerError, ElectionKind, ElectionOutcome,
    ElectionTargets, HeartbeatReply, HeartbeatRequest, LifecycleConfig, OngoingReassignment,
    PartitionGrowth, PartitionGrowthOutcome, ReassignmentOutcome, ReassignmentTarget,
    RegistrationReply, RegistrationRequest, TopicCreation, TopicCreationOutcome,
    TopicCreationRules,
};
use moldau_metadata::controller::{create_acls, delete_acls};
use moldau_metadata::features::bootstrap_records;
use moldau_metadata::raft::{MetadataRaftConfig, MetadataStateMachine, NodeId};
use moldau_metadata::{AclRecord, ConfigResource, MetadataImage, MetadataRecord, TopicId};
use moldau_protocol::ResponseError;
use openraft::{Raft, ServerState};
use tokio::sync::{watch, Mutex};

use crate::config::BrokerConfig;
use crate::config_change_rules::{check_broker_change, check_topic_change, inherited_value};
use crate::metadata_quorum::write_records;
use crate::metadata_quorum::{QuorumError, TopicDefaults};
use crate::raft_transport::ControllerWriteError;

/// Longest pause between ticks while leading: bounds how late a fence or a leader
/// election after a change of configuration comes (the next session expiry usually
/// wakes the ticker first).
const LIFECYCLE_TICK_INTERVAL_MAX: Duration = Duration::from_millis(500);

/// What a broker's call is answered: the controller's decision, or why this node
/// could not decide (not the leader, the quorum did not commit).
pub type LifecycleAnswer<T> = Result<Result<T, ControllerError>, ControllerWriteError>;

struct ActiveState {
    lifecycle: BrokerLifecycle,
    /// The Raft term the lifecycle was activated in; another term starts it afresh.
    term: Option<u64>,
}

pub struct LifecycleController {
    node_id: NodeId,
    raft: Raft<MetadataRaftConfig>,
    state_machine: MetadataStateMachine,
    write_timeout: Duration,
    config: LifecycleConfig,
    /// The feature levels committed first on a new cluster.
    bootstrap_levels: Vec<(String, i16)>,
    state: Mutex<ActiveState>,
    /// The controller's clock: milliseconds since this process started it.
    started: Instant,
    /// What topics are created with when a request leaves it to the defaults.
    topic_defaults: TopicDefaults,
    /// This node's configuration: what a config inherits (APPEND/SUBTRACT).
    broker_config: Option<Arc<BrokerConfig>>,
}

impl LifecycleController {
    pub fn new(
        node_id: NodeId,
        bootstrap_levels: Vec<(String, i16)>,
        raft: Raft<MetadataRaftConfig>,
        state_machine: MetadataStateMachine,
        write_timeout: Duration,
        config: LifecycleConfig,
        topic_defaults: TopicDefaults,
    ) -> Self {
        LifecycleController {
            topic_defaults,
            broker_config: None,
            node_id,
            raft,
            state_machine,
            write_timeout,
            state: Mutex::new(ActiveState {
                lifecycle: BrokerLifecycle::new(config.clone()),
                term: None,
            }),
            config,
            bootstrap_levels,
            started: Instant::now(),
        }
    }

    /// Decides config changes with `config`'s inherited values (see `broker_config`).
    pub fn with_broker_config(mut self, config: Option<Arc<BrokerConfig>>) -> Self {
        self.broker_config = config;
        self
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// This node's term while it leads, else who leads.
    fn leading_term(&self) -> Result<u64, ControllerWriteError> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        if m.state == ServerState::Leader && m.current_leader == Some(self.node_id) {
            Ok(m.current_term)
        } else {
            Err(ControllerWriteError::NotLeader {
                leader: m.current_leader,
            })
        }
    }

    /// Runs `decide` on the lifecycle (activated for this term) and the current image,
    /// then commits the records it returns. Holds the lock throughout.
    async fn decide<T>(
        &self,
        decide: impl FnOnce(
            &mut BrokerLifecycle,
            &MetadataImage,
            u64,
        ) -> Result<(Vec<MetadataRecord>, T), ControllerError>,
    ) -> LifecycleAnswer<T> {
        let mut state = self.state.lock().await;
        let term = self.leading_term()?;
        if state.term != Some(term) {
            // Everything committed before this term must be in the image first.
            match tokio::time::timeout(self.write_timeout, self.raft.ensure_linearizable()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(ControllerWriteError::Failed(e.to_string())),
                Err(_) => {
                    return Err(ControllerWriteError::Timeout(format!(
                        "not caught up with the metadata log within {:?}",
                        self.write_timeout
                    )))
                }
            }
            // A new cluster's feature levels come before anything else it records,
            // as Kafka's bootstrap metadata does.
            let bootstrap = bootstrap_records(&self.state_machine.image(), &self.bootstrap_levels);
            if !bootstrap.is_empty() {
                match write_records(&self.raft, &bootstrap, self.write_timeout).await {
                    Ok(_) => {
                        tracing::info!(levels = ?self.bootstrap_levels, "new cluster: feature levels committed")
                    }
                    Err(QuorumError::NotLeader { leader }) => {
                        return Err(ControllerWriteError::NotLeader { leader })
                    }
                    Err(e) => return Err(ControllerWriteError::Failed(e.to_string())),
                }
            }
            state.lifecycle = BrokerLifecycle::new(self.config.clone());
            state
                .lifecycle
                .on_activate(&self.state_machine.image(), self.now_ms());
            state.term = Some(term);
            tracing::info!(term, "active controller: broker sessions start afresh");
        }
        let image = self.state_machine.image();
        let (records, reply) = match decide(&mut state.lifecycle, &image, self.now_ms()) {
            Ok(decided) => decided,
            Err(refused) => return Ok(Err(refused)),
        };
        if !records.is_empty() {
            match write_records(&self.raft, &records, self.write_timeout).await {
                Ok(applied) => {
                    if let Some(e) = applied.rejected {
                        // A concurrent write changed what this was decided on.
                        return Ok(Err(ControllerError::new(
                            ResponseError::UnknownServerError,
                            format!("lifecycle records not applied: {e}"),
                        )));
                    }
                }
                Err(QuorumError::NotLeader { leader }) => {
                    state.term = None;
                    return Err(ControllerWriteError::NotLeader { leader });
                }
                Err(QuorumError::Timeout(t)) => {
                    return Err(ControllerWriteError::Timeout(format!(
                        "not committed within {t:?}"
                    )))
                }
                Err(e) => return Err(ControllerWriteError::Failed(e.to_string())),
            }
        }
        Ok(Ok(reply))
    }

    /// A broker registers (BrokerRegistration).
    pub async fn register(
        &self,
        request: &RegistrationRequest,
    ) -> LifecycleAnswer<RegistrationReply> {
        let answer = self
            .decide(|lifecycle, image, now_ms| lifecycle.on_register(image, request, now_ms))
            .await;
        if let Ok(Ok(reply)) = &answer {
            tracing::info!(
                broker = request.broker_id,
                epoch = reply.broker_epoch,
                "broker registered"
            );
        }
        answer
    }

    /// A broker heartbeats (BrokerHeartbeat).
    pub async fn heartbeat(&self, request: &HeartbeatRequest) -> LifecycleAnswer<HeartbeatReply> {
        self.decide(|lifecycle, image, now_ms| lifecycle.on_heartbeat(image, request, now_ms))
            .await
    }

    /// A partition leader asks to change its ISR (AlterPartition): decided on the
    /// image under the same lock as fencing and elections, so no leader change slips
    /// between the check of its epochs and the commit.
    pub async fn alter_partition(
        &self,
        request: &AlterPartitionRequest,
    ) -> LifecycleAnswer<AlterPartitionReply> {
        let answer = self
            .decide(|_, image, _| {
                let outcome = alter_partition(image, request)?;
                let reply = AlterPartitionReply::from(&outcome);
                Ok((outcome.records, reply))
            })
            .await;
        if let Ok(Ok(reply)) = &answer {
            tracing::info!(
                broker = request.broker_id,
                partition = request.partition,
                isr = ?reply.isr,
                partition_epoch = reply.partition_epoch,
                "ISR changed"
            );
        }
        answer
    }

    /// ElectLeaders: decided on the image under the same lock as fencing and ISR
    /// changes, and committed as one entry.
    pub async fn elect_leaders(
        &self,
        kind: ElectionKind,
        targets: &ElectionTargets,
    ) -> LifecycleAnswer<Vec<ElectionOutcome>> {
        let answer = self
            .decide(|lifecycle, image, _| Ok(lifecycle.on_elect_leaders(image, kind, targets)))
            .await;
        if let Ok(Ok(outcomes)) = &answer {
            let elected = outcomes.iter().filter(|o| o.error.is_none()).count();
            tracing::info!(?kind, elected, asked = outcomes.len(), "leader election");
        }
        answer
    }

    /// AlterPartitionReassignments: decided on the image under the same lock as ISR
    /// changes (which complete reassignments), and committed as one entry.
    pub async fn alter_reassignments(
        &self,
        targets: &[ReassignmentTarget],
        allow_rf_change: bool,
    ) -> LifecycleAnswer<Vec<ReassignmentOutcome>> {
        let answer = self
            .decide(|lifecycle, image, _| {
                Ok(lifecycle.on_alter_reassignments(image, targets, allow_rf_change))
            })
            .await;
        if let Ok(Ok(outcomes)) = &answer {
            let accepted = outcomes.iter().filter(|o| o.error.is_none()).count();
            tracing::info!(accepted, asked = outcomes.len(), "partition reassignment");
        }
        answer
    }

    /// CreateTopics: decided on the image under the same lock as every other decision
    /// here, which holds until the records are applied, so a topic another broker's
    /// request just created is seen (TOPIC_ALREADY_EXISTS); committed as one entry.
    pub async fn create_topics(
        &self,
        topics: &[TopicCreation],
        validate_only: bool,
    ) -> LifecycleAnswer<Vec<TopicCreationOutcome>> {
        let check_config = |name: &str, value: &str| {
            crate::topic_config::validate_topic_config(name, value).map_err(|e| e.to_string())
        };
        let rules = TopicCreationRules {
            default_partitions: self.topic_defaults.partitions,
            default_replication_factor: self.topic_defaults.replication_factor,
            check_config: &check_config,
        };
        let answer = self
            .decide(|lifecycle, image, _| {
                Ok(create_topics(
                    image,
                    topics,
                    &rules,
                    &lifecycle.in_controlled_shutdown(),
                    &mut TopicId::random,
                    &mut crate::controller::placement_random(),
                    validate_only,
                ))
            })
            .await;
        if let Ok(Ok(outcomes)) = &answer {
            let created = outcomes.iter().filter(|o| o.result.is_ok()).count();
            tracing::debug!(
                created,
                asked = outcomes.len(),
                validate_only,
                "topics created"
            );
        }
        answer
    }

    /// CreatePartitions: decided on the image under the same lock, so a growth
    /// another broker's request just committed is seen; committed as one entry.
    pub async fn create_partitions(
        &self,
        growths: &[PartitionGrowth],
        validate_only: bool,
    ) -> LifecycleAnswer<Vec<PartitionGrowthOutcome>> {
        self.decide(|lifecycle, image, _| {
            Ok(grow_partitions(
                image,
                growths,
                &lifecycle.in_controlled_shutdown(),
                &mut crate::controller::placement_random(),
                validate_only,
            ))
        })
        .await
    }

    /// DeleteTopics: decided on the image under the same lock, so a topic another
    /// broker's request just created is found and one deleted twice at once is
    /// removed once; committed as one entry.
    pub async fn delete_topics(
        &self,
        deletions: &[TopicDeletion],
    ) -> LifecycleAnswer<Vec<TopicDeletionOutcome>> {
        let check_deletable = |name: &str| {
            crate::internal_topics::check_client_delete(name)
                .map_err(|e| ControllerError::new(e.response_error(), e.to_string()))
        };
        let answer = self
            .decide(|_, image, _| Ok(delete_topics(image, deletions, &check_deletable)))
            .await;
        if let Ok(Ok(outcomes)) = &answer {
            let deleted = outcomes.iter().filter(|o| o.result.is_ok()).count();
            tracing::debug!(deleted, asked = outcomes.len(), "topics deleted");
        }
        answer
    }

    /// CreateAcls of bindings checked (and given ids) by the caller: decided on the
    /// image under the same lock, so a binding two brokers create at once is added
    /// once; committed as one entry.
    pub async fn create_acls(
        &self,
        creations: &[Result<AclRecord, ControllerError>],
    ) -> LifecycleAnswer<Vec<Result<(), ControllerError>>> {
        self.decide(|_, image, _| Ok(create_acls(image, creations)))
            .await
    }

    /// DeleteAcls: decided on the image under the same lock, so an ACL another
    /// broker's request just created is found (the receiving broker's image may
    /// lag); `matches` is the filter semantics. Committed as one entry.
    pub async fn delete_acls<F: Sync>(
        &self,
        filters: &[Result<F, ControllerError>],
        matches: &(dyn Fn(&F, &AclRecord) -> bool + Sync),
    ) -> LifecycleAnswer<Vec<Result<Vec<AclRecord>, ControllerError>>> {
        self.decide(|_, image, _| Ok(delete_acls(image, filters, matches)))
            .await
    }

    /// IncrementalAlterConfigs and AlterConfigs: decided on the image under the same
    /// lock, so a topic another broker's request just created is found and list
    /// operations start from the committed values; committed as one entry.
    pub async fn alter_configs(
        &self,
        alterations: &[ConfigAlteration],
        validate_only: bool,
    ) -> LifecycleAnswer<Vec<ConfigAlterationOutcome>> {
        let config = self.broker_config.as_deref();
        let inherited = |image: &MetadataImage, resource: &ConfigResource, name: &str| {
            inherited_value(config, image, resource, name)
        };
        let rules = ConfigRules {
            check_topic: &check_topic_change,
            check_broker: &check_broker_change,
            inherited: &inherited,
        };
        self.decide(|_, image, _| Ok(alter_configs(image, alterations, &rules, validate_only)))
            .await
    }

    /// ListPartitionReassignments: read from the active controller's image, which
    /// holds every committed change.
    pub async fn list_reassignments(
        &self,
        targets: &ElectionTargets,
    ) -> LifecycleAnswer<Vec<OngoingReassignment>> {
        self.decide(|_, image, _| Ok((Vec::new(), ongoing_reassignments(image, targets))))
            .await
    }

    /// Fences brokers whose session expired (and elects leaders where one can be),
    /// while this node leads; returns the records committed.
    async fn tick(&self) -> LifecycleAnswer<usize> {
        self.decide(|lifecycle, image, now_ms| {
            let records = lifecycle.on_tick(image, now_ms);
            let count = records.len();
            Ok((records, count))
        })
        .await
    }

    /// When the next tick is due: the earliest session expiry, at most the tick
    /// interval away.
    async fn next_tick_in(&self) -> Duration {
        let state = self.state.lock().await;
        let now = self.now_ms();
        let deadline = state
            .lifecycle
            .next_deadline_ms(&self.state_machine.image())
            .unwrap_or(u64::MAX);
        Duration::from_millis(deadline.saturating_sub(now)).min(LIFECYCLE_TICK_INTERVAL_MAX)
    }

    /// Ticks the lifecycle until `stopped` turns true.
    pub async fn run_ticker(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            let pause = self.next_tick_in().await;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            if self.leading_term().is_err() {
                continue;
            }
            match self.tick().await {
                Ok(Ok(0)) => {}
                Ok(Ok(count)) => {
                    tracing::info!(records = count, "broker lifecycle: fenced or elected")
                }
                Ok(Err(e)) => tracing::warn!(error = %e.message, "broker lifecycle tick refused"),
                Err(e) => tracing::debug!(error = %e, "broker lifecycle tick not committed"),
            }
        }
    }
}
